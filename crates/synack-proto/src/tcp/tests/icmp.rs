//! ICMP errors about our segments: RFC 5927 §4.1 (believe only a quoted sequence number in
//! SND.UNA..SND.NXT; hard errors abort only in SYN-SENT), RFC 1122 §4.2.3.9 (soft errors are
//! reported when the connection gives up) and RFC 1191/8201 (path MTU discovery).

use super::*;
use crate::tcp::{Error, IcmpError};

const PORT_UNREACHABLE: IcmpError = IcmpError::Unreachable {
    hard: true,
    port: true,
};
const HOST_UNREACHABLE: IcmpError = IcmpError::Unreachable {
    hard: false,
    port: false,
};

#[test]
fn rfc5927_4_1_a_hard_error_about_our_syn_aborts_the_connect_as_refused() {
    let mut p = syn_sent_state();
    assert!(p.c.handle_icmp_error(PORT_UNREACHABLE, ISS));
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(Error::Refused));
    p.expect_nothing();
}

#[test]
fn rfc5927_4_1_an_error_quoting_a_sequence_number_we_did_not_send_is_ignored() {
    let mut p = syn_sent_state();
    for seq in [ISS + 1, ISS - 1, ISS + 100_000] {
        assert!(!p.c.handle_icmp_error(PORT_UNREACHABLE, seq), "{seq:?}");
    }
    p.state(State::SynSent);
    let mut p = established_state();
    assert_eq!(p.c.send(b"abc"), Ok(3));
    let _ = p.out();
    // SND.UNA = ISS+1, SND.NXT = ISS+4: ISS+4 itself is not outstanding.
    assert!(!p.c.handle_icmp_error(PORT_UNREACHABLE, ISS + 4));
    assert!(!p.c.handle_icmp_error(PORT_UNREACHABLE, ISS));
    p.state(State::Established);
}

#[test]
fn rfc5927_4_1_a_hard_error_on_an_established_connection_is_only_soft() {
    let mut p = established_state();
    assert_eq!(p.c.send(b"abc"), Ok(3));
    let _ = p.out();
    assert!(p.c.handle_icmp_error(PORT_UNREACHABLE, ISS + 1));
    p.state(State::Established);
    assert_eq!(p.c.error(), None);
}

#[test]
fn rfc1122_4_2_3_9_a_soft_error_is_what_a_connection_that_gives_up_reports() {
    let mut p = established_with(Config {
        max_retries: 2,
        ..cfg()
    });
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    assert!(p.c.handle_icmp_error(HOST_UNREACHABLE, ISS + 1));
    p.state(State::Established);
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(Error::Unreachable));
}

#[test]
fn rfc1122_4_2_3_9_a_soft_error_while_connecting_waits_for_the_syn_retries() {
    let mut p = syn_sent_state();
    assert!(p.c.handle_icmp_error(HOST_UNREACHABLE, ISS));
    p.state(State::SynSent);
    while let Some(t) = p.c.poll_timeout() {
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.error(), Some(Error::Unreachable));
}

#[test]
fn rfc1191_packet_too_big_shrinks_segments_and_resends_the_oldest_at_once() {
    let mut p = established_state();
    let data = pattern(2 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    assert_eq!(p.out().len(), 2);
    assert!(p.c.handle_icmp_error(IcmpError::PacketTooBig { mtu: 1280 }, ISS + 1));
    assert_eq!(p.c.max_payload(), 1240);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        payload: &data[..1240],
        ..ours()
    }]);
    // Larger MTUs later do not grow it back (that is PLPMTUD's job).
    assert!(p.c.handle_icmp_error(IcmpError::PacketTooBig { mtu: 1500 }, ISS + 1));
    assert_eq!(p.c.max_payload(), 1240);
}

#[test]
fn rfc1191_a_forged_tiny_mtu_is_floored_at_552_bytes() {
    let mut p = established_state();
    assert_eq!(p.c.send(&pattern(1460)), Ok(1460));
    let _ = p.out();
    assert!(p.c.handle_icmp_error(IcmpError::PacketTooBig { mtu: 68 }, ISS + 1));
    assert_eq!(p.c.max_payload(), 512);
}

#[test]
fn rfc4821_7_7_a_third_timeout_with_a_full_segment_out_halves_the_segment_size() {
    let mut p = established_state();
    let data = pattern(4 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    assert!(!p.out().is_empty());
    let mut resent = Vec::new();
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        resent.push(p.out().first().map(|s| s.payload.len()));
    }
    // Two timeouts resend full segments; the third suspects a black hole.
    assert_eq!(resent, [Some(1460), Some(1460), Some(1024)]);
    assert_eq!(p.c.tcb().send_mss, 1024);
    p.state(State::Established);
}

#[test]
fn black_hole_detection_leaves_small_segments_and_syns_alone_and_can_be_turned_off() {
    // One small segment outstanding: not a black-hole symptom.
    let mut p = established_state();
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.tcb().send_mss, 1460);
    // Turned off: full segments time out three times and keep their size.
    let mut p = established_with(Config {
        black_hole_detection: false,
        ..cfg()
    });
    assert_eq!(p.c.send(&pattern(2 * 1460)), Ok(2 * 1460));
    let _ = p.out();
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.tcb().send_mss, 1460);
}
