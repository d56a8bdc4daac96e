//! The stack's side of SYN cookies (RFC 4987 §3.6): a stateless SYN,ACK when a listener's
//! SYN queue is full, and a connection rebuilt from the ACK that returns the cookie.

use super::{FourTuple, ListenerId, Stack};
use crate::tcp::autotune::initial_window;
use crate::tcp::connection::window_shift_for;
use crate::tcp::syn_cookie::{self, encode_ts};
use crate::tcp::{Connection, SeqNum, State};
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};
use core::net::SocketAddr;

impl Stack {
    /// Answers `syn` with a SYN,ACK whose ISS is a cookie, keeping no state.
    pub(super) fn send_cookie(
        &mut self,
        now: Instant,
        lid: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &TcpRepr<'_>,
    ) {
        let tcp = *self.listener_tcp(lid);
        let our_mss = tcp.effective_mss(remote.is_ipv6());
        let default_mss = if remote.is_ipv4() { 536 } else { 1220 };
        let peer_mss = syn.options.mss.unwrap_or(default_mss).min(our_mss);
        let iss = self.cookies.make(now, local, remote, syn.seq, peer_mss);
        let mut options = TcpOptions {
            mss: Some(our_mss),
            ..TcpOptions::default()
        };
        // Window scale and SACK can only come back inside a timestamp; without one the
        // connection goes unscaled, like Linux's.
        if let Some(ts) = syn.options.timestamps.filter(|_| tcp.timestamps) {
            let peer_ws = syn.options.window_scale.filter(|_| tcp.window_scaling);
            if peer_ws.is_some() {
                options.window_scale = Some(window_shift_for(tcp.recv_buffer));
            }
            // The same clock a connection with ISS = cookie will use (see Connection::ts_now).
            let clock = (now.total_millis() as u32).wrapping_add(iss.get());
            // RFC 2018 §2: SACK-permitted only when both sides want it.
            let sack = tcp.sack && syn.options.sack_permitted;
            options.sack_permitted = sack;
            options.timestamps = Some(Timestamps {
                tsval: encode_ts(clock, peer_ws, sack),
                tsecr: ts.tsval,
            });
        }
        let seg = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: iss,
            ack: syn.seq + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            // The connection rebuilt from the cookie starts with the same autotuned window.
            window: initial_window(usize::from(our_mss))
                .min(tcp.recv_buffer)
                .min(usize::from(u16::MAX)) as u16,
            urgent: 0,
            options,
            payload: &[],
        };
        self.counters.syncookies_sent += 1;
        self.queue_reply(local, remote, seg);
    }

    /// An ACK reached a listener with no connection: if it returns a valid cookie, rebuild the
    /// connection in ESTABLISHED and queue it for accept. Returns whether it did.
    pub(super) fn accept_cookie(
        &mut self,
        now: Instant,
        lid: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        ack: &TcpRepr<'_>,
    ) -> bool {
        if !self.cfg.syn_cookies {
            return false;
        }
        let Some(mss) = self.cookies.check(now, local, remote, ack.seq, ack.ack) else {
            self.counters.syncookies_failed += 1;
            return false;
        };
        let room = self
            .listeners
            .get(lid.0)
            .and_then(Option::as_ref)
            .is_some_and(|l| l.accept_queue.len() < l.backlog);
        if !room {
            self.counters.listen_overflows += 1;
            // The cookie was good: drop silently, the client retransmits its ACK or data.
            return true;
        }
        let tsecr = ack.options.timestamps.map(|t| t.tsecr);
        let opts = syn_cookie::options(mss, tsecr);
        // Replay the SYN the cookie stands for, then the ACK, through the ordinary state machine.
        let syn = TcpRepr {
            seq: ack.seq - 1,
            ack: SeqNum::new(0),
            flags: TcpFlags::SYN,
            options: TcpOptions {
                mss: Some(opts.mss),
                window_scale: opts.window_scale,
                sack_permitted: opts.sack_permitted,
                timestamps: ack.options.timestamps.map(|t| Timestamps {
                    tsval: t.tsval,
                    tsecr: 0,
                }),
                ..TcpOptions::default()
            },
            payload: &[],
            ..*ack
        };
        let iss = ack.ack - 1;
        let mut conn = Connection::listen(self.listener_tcp(lid), local, remote, iss);
        // A new connection: only its own challenge-ACK limit applies, and the accept queue
        // is filled below, not from the outcome.
        let _ = conn.handle_segment(now, &syn, u32::MAX);
        conn.mark_syn_ack_sent();
        let _ = conn.handle_segment(now, ack, u32::MAX);
        if !conn.state().is_synchronized() || conn.state() == State::TimeWait {
            self.counters.syncookies_failed += 1;
            return false;
        }
        let Ok(id) = self.insert(conn, None) else {
            self.counters.listen_overflows += 1;
            return true;
        };
        self.demux.insert(FourTuple { local, remote }, id);
        if let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) {
            l.accept_queue.push_back(id);
        }
        self.counters.syncookies_recv += 1;
        self.counters.passive_opens += 1;
        self.touch(id, now);
        true
    }
}
