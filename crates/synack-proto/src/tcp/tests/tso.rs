//! Segmentation offload (`Config::tso_max`): segments larger than the MSS for a device that cuts
//! them into MSS-sized ones, with the small-segment rules (Nagle §3.7.4, SWS §3.8.6.2.1) still
//! applied to the partial last piece.

use super::*;

fn tso_cfg(tso_max: usize, nodelay: bool) -> Config {
    Config {
        tso_max,
        nodelay,
        ..cfg()
    }
}

fn data_seg(data: &[u8], off: usize, len: usize, flags: TcpFlags) -> Seg {
    Seg::from(TcpRepr {
        seq: ISS + 1 + off,
        ack: IRS + 1,
        flags,
        payload: &data[off..off + len],
        ..ours()
    })
}

#[test]
fn tso_segment_carries_whole_mss_multiples_and_nagle_holds_the_tail() {
    // 4000 allows two whole MSS (2920) per segment.
    let mut p = established_with(tso_cfg(4000, false));
    let data = pattern(7000);
    assert_eq!(p.c.send(&data), Ok(7000));
    // 5840 bytes in two large segments; the 1160-byte rest is a small segment, held by Nagle.
    assert_eq!(
        p.out(),
        [
            data_seg(&data, 0, 2920, TcpFlags::ACK),
            data_seg(&data, 2920, 2920, TcpFlags::ACK),
        ]
    );
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1 + 5840,
        ..peer()
    });
    assert_eq!(
        p.out(),
        [data_seg(&data, 5840, 1160, TcpFlags::PSH | TcpFlags::ACK)]
    );
}

#[test]
fn tso_segment_ending_the_data_keeps_its_tail_with_nodelay() {
    let mut p = established_with(tso_cfg(65535, true));
    let data = pattern(5000);
    assert_eq!(p.c.send(&data), Ok(5000));
    // 5000 < the 8192 peer window: one segment, the device cuts it into 1460+1460+1460+620.
    assert_eq!(
        p.out(),
        [data_seg(&data, 0, 5000, TcpFlags::PSH | TcpFlags::ACK)]
    );
}

#[test]
fn tso_segment_carries_the_fin_with_its_tail() {
    let mut p = established_with(tso_cfg(65535, false));
    let data = pattern(3000);
    assert_eq!(p.c.send(&data), Ok(3000));
    p.c.close();
    assert_eq!(
        p.out(),
        [data_seg(
            &data,
            0,
            3000,
            TcpFlags::PSH | TcpFlags::FIN | TcpFlags::ACK
        )]
    );
    p.state(State::FinWait1);
}

#[test]
fn tso_segment_is_cut_to_whole_mss_by_the_peer_window() {
    // The peer's 8192-byte window allows 5 whole MSS (7300) and a 892-byte piece that,
    // window-limited, silly window avoidance holds.
    let mut p = established_with(tso_cfg(65535, true));
    let data = pattern(10_000);
    assert_eq!(p.c.send(&data), Ok(10_000));
    assert_eq!(p.out(), [data_seg(&data, 0, 7300, TcpFlags::ACK)]);
}

#[test]
fn tso_max_below_two_mss_changes_nothing() {
    let mut p = established_with(tso_cfg(2000, false));
    let data = pattern(3000);
    assert_eq!(p.c.send(&data), Ok(3000));
    assert_eq!(
        p.out(),
        [
            data_seg(&data, 0, 1460, TcpFlags::ACK),
            data_seg(&data, 1460, 1460, TcpFlags::ACK),
        ]
    );
}
