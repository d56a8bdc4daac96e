//! Selective acknowledgments: negotiation (RFC 2018 §2), the receiver's SACK blocks
//! (RFC 2018 §4) and D-SACK (RFC 2883), and SACK-based loss recovery (RFC 6675).

use super::*;

fn sack_cfg() -> Config {
    Config {
        sack: true,
        ..cfg()
    }
}

fn sack_syn_options() -> TcpOptions {
    TcpOptions {
        sack_permitted: true,
        ..syn_options()
    }
}

/// ESTABLISHED with SACK negotiated (our SYN and the peer's SYN,ACK both offered it).
pub(super) fn established_sack() -> Peer {
    established_sack_with(sack_cfg())
}

pub(super) fn established_sack_with(cfg: Config) -> Peer {
    let mut p = Peer::new(Connection::connect(cfg, LOCAL, REMOTE, ISS));
    p.expect(&[TcpRepr {
        seq: ISS,
        flags: TcpFlags::SYN,
        options: sack_syn_options(),
        ..ours()
    }]);
    p.at(Instant::ZERO + HANDSHAKE_RTT);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: sack_syn_options(),
        ..peer()
    });
    p.state(State::Established);
    assert!(p.c.tcb().sack_ok);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        ..ours()
    }]);
    p
}

#[test]
fn rfc2018_2_syn_offers_sack_permitted_and_both_offers_enable_it() {
    let p = established_sack();
    assert!(p.c.tcb().sack_ok);
}

#[test]
fn rfc2018_2_sack_is_off_unless_the_peer_offers_it_too() {
    let mut p = Peer::new(Connection::connect(sack_cfg(), LOCAL, REMOTE, ISS));
    p.expect(&[TcpRepr {
        seq: ISS,
        flags: TcpFlags::SYN,
        options: sack_syn_options(),
        ..ours()
    }]);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..peer()
    });
    p.state(State::Established);
    assert!(!p.c.tcb().sack_ok);
}

#[test]
fn rfc2018_2_syn_ack_carries_sack_permitted_only_if_the_syn_did() {
    for (offered, want) in [(true, true), (false, false)] {
        let mut p = listen_with(sack_cfg());
        let options = if offered {
            sack_syn_options()
        } else {
            syn_options()
        };
        p.send(TcpRepr {
            seq: IRS,
            flags: TcpFlags::SYN,
            options,
            ..peer()
        });
        p.expect(&[TcpRepr {
            seq: ISS,
            ack: IRS + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            options: TcpOptions {
                sack_permitted: want,
                ..syn_options()
            },
            ..ours()
        }]);
        assert_eq!(p.c.tcb().sack_ok, want);
    }
}

#[test]
fn rfc2018_2_config_sack_off_neither_offers_nor_accepts() {
    let mut p = listen_state();
    p.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::SYN,
        options: sack_syn_options(),
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS,
        ack: IRS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..ours()
    }]);
    assert!(!p.c.tcb().sack_ok);
}

#[test]
fn connection_size_report() {
    eprintln!(
        "size_of::<Connection>() = {}",
        core::mem::size_of::<Connection>()
    );
}
