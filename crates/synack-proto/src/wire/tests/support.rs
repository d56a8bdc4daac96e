//! Shared builders and proptest strategies.

use crate::wire::seq::SeqNum;
use crate::wire::{
    IpRepr, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps, emit_ip_tcp, ip_tcp_len,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(super) const V4_SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(super) const V4_DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub(super) const V6_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub(super) const V6_DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0xabcd, 2);

/// A plain IPv4 header template.
pub(super) fn ip_v4() -> IpRepr {
    IpRepr::new(V4_SRC.into(), V4_DST.into(), 6, 0, 64).unwrap()
}

/// A plain IPv6 header template.
pub(super) fn ip_v6() -> IpRepr {
    IpRepr::new(V6_SRC.into(), V6_DST.into(), 6, 0, 255).unwrap()
}

/// A SYN with the usual Linux options.
pub(super) fn syn_template(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum::new(1000),
        ack: SeqNum::new(0),
        flags: TcpFlags::SYN,
        window: 64240,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: SackBlocks::default(),
            timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        },
        payload,
    }
}

/// Emits into a fresh vector of exactly the right length.
pub(super) fn emit(ip: &IpRepr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; ip_tcp_len(ip, tcp)];
    let n = emit_ip_tcp(ip, tcp, &mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

/// What parse should give back for `tcp` after emit: SACK blocks fitted to 40
/// bytes and the ack field zeroed without ACK.
pub(super) fn expected_after_emit<'a>(tcp: &TcpRepr<'a>) -> TcpRepr<'a> {
    TcpRepr {
        ack: if tcp.flags.ack() {
            tcp.ack
        } else {
            SeqNum::new(0)
        },
        options: tcp.options.fitted(),
        ..*tcp
    }
}

pub(super) fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..=14),
        any::<bool>(),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
        proptest::option::of((any::<u32>(), any::<u32>())),
    )
        .prop_map(|(mss, window_scale, sack_permitted, blocks, ts)| {
            let mut sack_blocks = SackBlocks::default();
            for (l, r) in blocks {
                sack_blocks.push(SeqNum::new(l), SeqNum::new(r));
            }
            TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            }
        })
}

/// Header fields of a TcpRepr (everything but the payload).
#[derive(Debug, Clone)]
pub(super) struct Fields {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
}

impl Fields {
    pub(super) fn repr<'a>(&self, payload: &'a [u8]) -> TcpRepr<'a> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: SeqNum::new(self.seq),
            ack: SeqNum::new(self.ack),
            flags: TcpFlags::from_bits(self.flags),
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload,
        }
    }
}

pub(super) fn arb_fields() -> impl Strategy<Value = Fields> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        arb_options(),
    )
        .prop_map(
            |(src_port, dst_port, seq, ack, flags, window, urgent, options)| Fields {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
            },
        )
}

pub(super) fn arb_ip() -> impl Strategy<Value = IpRepr> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(s, d, ttl)| {
            IpRepr::new(IpAddr::V4(s.into()), IpAddr::V4(d.into()), 6, 0, ttl).unwrap()
        }),
        (any::<u128>(), any::<u128>(), any::<u8>()).prop_map(|(s, d, hl)| {
            IpRepr::new(IpAddr::V6(s.into()), IpAddr::V6(d.into()), 6, 0, hl).unwrap()
        }),
    ]
}

pub(super) fn arb_payload() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2000)
}
