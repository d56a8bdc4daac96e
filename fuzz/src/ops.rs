//! The fuzz input language: operations on a stack (or one connection) and the segments
//! fed to it, decoded with `arbitrary`'s derive, plus an [`Encoder`] that writes bytes
//! `arbitrary` decodes back to given operations (for the seed corpus).
//!
//! An input is a [`Setup`] followed by operations read one at a time until the input runs
//! out. Everything is fixed-size except [`Op::Raw`], whose `len` bytes follow it in the
//! input, so a recorded exchange can be written out as an input exactly.

use arbitrary::{Arbitrary, Unstructured};
use synack::tcp::SeqNum;
use synack::wire::{SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// Stack-wide knobs the fuzzer chooses once per input.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// Offer RFC 7323 timestamps.
    pub no_timestamps: bool,
    /// Offer window scaling.
    pub no_window_scaling: bool,
    /// Disable SYN cookies.
    pub no_syn_cookies: bool,
    /// Nagle off.
    pub nodelay: bool,
    /// Small (4 KiB) buffers and MTU 576, so windows fill and segments split.
    pub small: bool,
}

/// Picks a sequence number, mostly relative to the targeted connection's TCB so the
/// fuzzer lands inside windows.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqSel {
    /// This exact number.
    Raw(u32),
    /// RCV.NXT + delta.
    RcvNxt(i16),
    /// SND.UNA + delta.
    SndUna(i16),
    /// SND.NXT + delta.
    SndNxt(i16),
    /// SND.MAX + delta.
    SndMax(i16),
}

/// Picks a TSval or TSecr.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsSel {
    /// This exact value.
    Raw(u32),
    /// TS.Recent (the peer's last accepted TSval) + delta.
    Recent(i16),
}

/// Where a crafted segment goes.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An existing connection's 4-tuple (index into the harness's handles).
    Conn(u8),
    /// A listener's port from one of the fuzz remotes.
    Listener {
        /// Index into the listeners.
        listener: u8,
        /// Which remote address and port.
        remote: u8,
    },
    /// Any local port, from one of the fuzz remotes.
    Port {
        /// Local port.
        port: u16,
        /// Which remote address and port.
        remote: u8,
        /// IPv6 rather than IPv4.
        v6: bool,
    },
}

/// A TCP segment described by its meaning.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Destination.
    pub target: Target,
    /// The raw control bits.
    pub flags: u8,
    /// SEG.SEQ.
    pub seq: SeqSel,
    /// SEG.ACK.
    pub ack: SeqSel,
    /// The window field.
    pub window: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option.
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// One SACK block: left edge and length.
    pub sack: Option<(SeqSel, u16)>,
    /// Timestamps option: TSval, TSecr.
    pub timestamps: Option<(TsSel, TsSel)>,
    /// Payload length (capped at [`MAX_PAYLOAD`]); the bytes are a pattern.
    pub payload_len: u16,
    /// Seeds the payload pattern.
    pub payload_seed: u8,
    /// Spoil the checksum.
    pub bad_checksum: bool,
}

/// The most payload a crafted segment carries.
pub const MAX_PAYLOAD: usize = 4000;

/// One step.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A packet of arbitrary bytes: the next `len` bytes of the input.
    Raw {
        /// How many input bytes follow.
        len: u16,
    },
    /// A crafted segment.
    Segment(Seg),
    /// LISTEN.
    Listen {
        /// Index into the fuzz ports.
        port: u8,
        /// IPv6 rather than IPv4.
        v6: bool,
        /// Listen on the unspecified address.
        any: bool,
        /// Accept backlog.
        backlog: u8,
    },
    /// Stop listening.
    Unlisten {
        /// Index into the listeners.
        listener: u8,
    },
    /// Active OPEN toward a fuzz remote.
    Connect {
        /// Which remote address.
        remote: u8,
        /// Remote port.
        port: u16,
        /// IPv6 rather than IPv4.
        v6: bool,
    },
    /// Take a connection from a listener.
    Accept {
        /// Index into the listeners.
        listener: u8,
    },
    /// SEND a pattern.
    Send {
        /// Index into the connection handles.
        conn: u8,
        /// How many bytes.
        len: u16,
    },
    /// RECEIVE.
    Recv {
        /// Index into the connection handles.
        conn: u8,
        /// Buffer size.
        len: u16,
    },
    /// Half-close.
    Shutdown {
        /// Index into the connection handles.
        conn: u8,
    },
    /// Close and release the handle.
    Close {
        /// Index into the connection handles.
        conn: u8,
    },
    /// ABORT.
    Abort {
        /// Index into the connection handles.
        conn: u8,
    },
    /// Let virtual time pass.
    Advance {
        /// Microseconds.
        micros: u32,
        /// Then run the timers due (a driver may also deliver packets first).
        timers: bool,
    },
    /// Jump to the next deadline and run the timers.
    NextTimer,
    /// Run the timers due now.
    RunTimers,
}

/// The fields of the targeted connection that relative selectors refer to (for a segment
/// not aimed at a connection, read off the stack's last packet to that peer: SND.* are
/// its sequence numbers, RCV.NXT its acknowledgment).
#[derive(Clone, Copy, Debug, Default)]
pub struct Anchor {
    /// RCV.NXT.
    pub rcv_nxt: SeqNum,
    /// SND.UNA.
    pub snd_una: SeqNum,
    /// SND.NXT.
    pub snd_nxt: SeqNum,
    /// SND.MAX.
    pub snd_max: SeqNum,
    /// TS.Recent.
    pub ts_recent: u32,
}

impl Anchor {
    /// The anchor of a connection's TCB.
    pub fn of(tcb: &synack::tcp::Tcb) -> Self {
        Anchor {
            rcv_nxt: tcb.rcv_nxt,
            snd_una: tcb.snd_una,
            snd_nxt: tcb.snd_nxt,
            snd_max: tcb.snd_max,
            ts_recent: tcb.ts_recent,
        }
    }

    fn seq(&self, sel: SeqSel) -> SeqNum {
        let rel = |base: SeqNum, d: i16| SeqNum::new(base.get().wrapping_add(d as i32 as u32));
        match sel {
            SeqSel::Raw(v) => SeqNum::new(v),
            SeqSel::RcvNxt(d) => rel(self.rcv_nxt, d),
            SeqSel::SndUna(d) => rel(self.snd_una, d),
            SeqSel::SndNxt(d) => rel(self.snd_nxt, d),
            SeqSel::SndMax(d) => rel(self.snd_max, d),
        }
    }

    fn ts(&self, sel: TsSel) -> u32 {
        match sel {
            TsSel::Raw(v) => v,
            TsSel::Recent(d) => self.ts_recent.wrapping_add(d as i32 as u32),
        }
    }
}

impl Seg {
    /// The payload this segment carries.
    pub fn payload(&self) -> Vec<u8> {
        let len = usize::from(self.payload_len).min(MAX_PAYLOAD);
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(self.payload_seed))
            .collect()
    }

    /// The segment's header fields resolved against `anchor`, with `payload`.
    pub fn repr<'a>(&self, anchor: &Anchor, ports: (u16, u16), payload: &'a [u8]) -> TcpRepr<'a> {
        let mut sack_blocks = SackBlocks::default();
        if let Some((left, len)) = self.sack {
            let left = anchor.seq(left);
            sack_blocks.push(left, left + usize::from(len));
        }
        TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq: anchor.seq(self.seq),
            ack: anchor.seq(self.ack),
            flags: TcpFlags::from_bits(self.flags),
            window: self.window,
            urgent: 0,
            options: TcpOptions {
                mss: self.mss,
                window_scale: self.window_scale,
                sack_permitted: self.sack_permitted,
                sack_blocks,
                timestamps: self.timestamps.map(|(v, e)| Timestamps {
                    tsval: anchor.ts(v),
                    tsecr: anchor.ts(e),
                }),
            },
            payload,
        }
    }
}

/// Reads the next operation and, for [`Op::Raw`], its bytes.
pub fn next_op<'a>(u: &mut Unstructured<'a>) -> Option<(Op, &'a [u8])> {
    if u.is_empty() {
        return None;
    }
    let op = Op::arbitrary(u).ok()?;
    let raw = match op {
        Op::Raw { len } => {
            let n = usize::from(len).min(u.len());
            u.bytes(n).ok()?
        }
        _ => &[],
    };
    Some((op, raw))
}

/// Writes bytes that `arbitrary` decodes to the given values (only the shapes used here).
#[derive(Default)]
pub struct Encoder {
    /// The input so far.
    pub out: Vec<u8>,
}

impl Encoder {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    /// An enum discriminant: the derive maps a u32 `x` to variant `(x * count) >> 32`.
    fn variant(&mut self, index: u32, count: u32) {
        let x = ((u64::from(index) << 32).div_ceil(u64::from(count))) as u32;
        self.u32(x);
    }

    /// A [`Setup`].
    pub fn setup(&mut self, s: &Setup) {
        for b in [
            s.no_timestamps,
            s.no_window_scaling,
            s.no_syn_cookies,
            s.nodelay,
            s.small,
        ] {
            self.bool(b);
        }
    }

    /// An operation; for [`Op::Raw`], `raw` follows it.
    pub fn op(&mut self, op: &Op, raw: &[u8]) {
        const N: u32 = 14;
        match *op {
            Op::Raw { .. } => {
                self.variant(0, N);
                self.u16(raw.len() as u16);
                self.out.extend_from_slice(raw);
            }
            Op::Segment(ref s) => {
                self.variant(1, N);
                self.seg(s);
            }
            Op::Listen {
                port,
                v6,
                any,
                backlog,
            } => {
                self.variant(2, N);
                self.u8(port);
                self.bool(v6);
                self.bool(any);
                self.u8(backlog);
            }
            Op::Unlisten { listener } => {
                self.variant(3, N);
                self.u8(listener);
            }
            Op::Connect { remote, port, v6 } => {
                self.variant(4, N);
                self.u8(remote);
                self.u16(port);
                self.bool(v6);
            }
            Op::Accept { listener } => {
                self.variant(5, N);
                self.u8(listener);
            }
            Op::Send { conn, len } => {
                self.variant(6, N);
                self.u8(conn);
                self.u16(len);
            }
            Op::Recv { conn, len } => {
                self.variant(7, N);
                self.u8(conn);
                self.u16(len);
            }
            Op::Shutdown { conn } => {
                self.variant(8, N);
                self.u8(conn);
            }
            Op::Close { conn } => {
                self.variant(9, N);
                self.u8(conn);
            }
            Op::Abort { conn } => {
                self.variant(10, N);
                self.u8(conn);
            }
            Op::Advance { micros, timers } => {
                self.variant(11, N);
                self.u32(micros);
                self.bool(timers);
            }
            Op::NextTimer => self.variant(12, N),
            Op::RunTimers => self.variant(13, N),
        }
    }

    fn seq_sel(&mut self, s: SeqSel) {
        let (i, d) = match s {
            SeqSel::Raw(v) => {
                self.variant(0, 5);
                self.u32(v);
                return;
            }
            SeqSel::RcvNxt(d) => (1, d),
            SeqSel::SndUna(d) => (2, d),
            SeqSel::SndNxt(d) => (3, d),
            SeqSel::SndMax(d) => (4, d),
        };
        self.variant(i, 5);
        self.u16(d as u16);
    }

    fn ts_sel(&mut self, s: TsSel) {
        match s {
            TsSel::Raw(v) => {
                self.variant(0, 2);
                self.u32(v);
            }
            TsSel::Recent(d) => {
                self.variant(1, 2);
                self.u16(d as u16);
            }
        }
    }

    fn seg(&mut self, s: &Seg) {
        match s.target {
            Target::Conn(c) => {
                self.variant(0, 3);
                self.u8(c);
            }
            Target::Listener { listener, remote } => {
                self.variant(1, 3);
                self.u8(listener);
                self.u8(remote);
            }
            Target::Port { port, remote, v6 } => {
                self.variant(2, 3);
                self.u16(port);
                self.u8(remote);
                self.bool(v6);
            }
        }
        self.u8(s.flags);
        self.seq_sel(s.seq);
        self.seq_sel(s.ack);
        self.u16(s.window);
        self.bool(s.mss.is_some());
        if let Some(m) = s.mss {
            self.u16(m);
        }
        self.bool(s.window_scale.is_some());
        if let Some(w) = s.window_scale {
            self.u8(w);
        }
        self.bool(s.sack_permitted);
        self.bool(s.sack.is_some());
        if let Some((l, n)) = s.sack {
            self.seq_sel(l);
            self.u16(n);
        }
        self.bool(s.timestamps.is_some());
        if let Some((v, e)) = s.timestamps {
            self.ts_sel(v);
            self.ts_sel(e);
        }
        self.u16(s.payload_len);
        self.u8(s.payload_seed);
        self.bool(s.bad_checksum);
    }
}
