//! The liveness invariant: a connection that is waiting for something always has a timer
//! that will wake it, and a timeout that wants a retransmission gets one.
//!
//! A stalled connection is one that sits forever with nothing armed, or whose timer fires
//! again and again without sending what it is waiting to deliver. Either one shows up much
//! later, as a transfer that never finishes; [`Connection::check_liveness`] names it at the
//! moment it happens. The simulator calls it on every connection an event touched, once that
//! connection's output has been drained (see `sim::Network::set_liveness_checks`), and so does
//! the fuzz harness after every step.

use super::connection::Connection;
use super::state::State;
use super::timer::TimerKind;

/// How a connection broke the liveness invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Stall {
    /// Sequence space is unacknowledged (a SYN, data or a FIN) and no retransmission,
    /// RACK, loss-probe or persist timer is armed.
    #[error("{state}: {outstanding} bytes unacknowledged and no retransmission timer armed")]
    NoRetransmitTimer {
        /// The connection's state.
        state: State,
        /// SND.MAX − SND.UNA.
        outstanding: usize,
    },
    /// Data (or the FIN) waits to be sent, nothing is in flight, and no timer will send it.
    #[error("{state}: {unsent} bytes waiting, nothing in flight and no persist timer armed")]
    NoPersistTimer {
        /// The connection's state.
        state: State,
        /// Bytes queued and not yet sent.
        unsent: usize,
    },
    /// TIME-WAIT without its 2×MSL timer.
    #[error("TIME-WAIT without its 2×MSL timer")]
    NoTimeWaitTimer,
    /// A released connection in FIN-WAIT-2 without the timer that ends it.
    #[error("released in FIN-WAIT-2 without its timeout")]
    NoFinWait2Timer,
    /// An idle connection with keep-alive configured and no keep-alive timer.
    #[error("{state}: idle with keep-alive on and no keep-alive timer armed")]
    NoKeepAliveTimer {
        /// The connection's state.
        state: State,
    },
    /// Segments are marked lost, nothing is in the network, and the output was drained
    /// without resending them: every timeout will find the same.
    #[error("{state}: {lost} bytes marked lost, nothing in flight, and nothing resent")]
    LostNotResent {
        /// The connection's state.
        state: State,
        /// Bytes marked lost and not SACKed.
        lost: usize,
    },
    /// A timeout rewound SND.NXT to SND.UNA for go-back-N, the peer's window is open, and the
    /// output was drained without resending anything.
    #[error("{state}: rewound for go-back-N with an open window, and nothing resent")]
    RewoundNotResent {
        /// The connection's state.
        state: State,
    },
}

impl Connection {
    /// Checks the liveness invariant. Call it once [`poll_transmit`](Self::poll_transmit)
    /// has returned `None` (the output is drained), never in between.
    ///
    /// # Errors
    /// The [`Stall`] found.
    pub fn check_liveness(&self) -> Result<(), Stall> {
        let state = self.state;
        let armed = |k: TimerKind| self.timers.get(k).is_some();
        match state {
            State::Closed | State::Listen => return Ok(()),
            State::TimeWait if armed(TimerKind::TimeWait) => return Ok(()),
            State::TimeWait => return Err(Stall::NoTimeWaitTimer),
            _ => {}
        }
        let outstanding = self.tcb.snd_max.since(self.tcb.snd_una);
        let wakes = [
            TimerKind::Retransmit,
            TimerKind::Rack,
            TimerKind::Tlp,
            TimerKind::Persist,
        ]
        .into_iter()
        .any(armed);
        if outstanding > 0 && !wakes {
            return Err(Stall::NoRetransmitTimer { state, outstanding });
        }
        let unsent = self.unsent() + usize::from(self.fin_unsent());
        if unsent > 0 && outstanding == 0 && !wakes {
            return Err(Stall::NoPersistTimer { state, unsent });
        }
        if state == State::FinWait2 && self.orphaned && !armed(TimerKind::FinWait2) {
            return Err(Stall::NoFinWait2Timer);
        }
        let idle = matches!(state, State::Established | State::CloseWait)
            && outstanding == 0
            && unsent == 0;
        if idle && self.cfg.keepalive.is_some() && !armed(TimerKind::KeepAlive) {
            return Err(Stall::NoKeepAliveTimer { state });
        }
        if outstanding > 0 && self.tcb.sack_ok && self.loss.rack.any_lost() {
            let pipe = self.loss.rack.pipe();
            if pipe == 0 {
                let lost = self
                    .loss
                    .rack
                    .log()
                    .iter()
                    .filter(|r| r.lost() && !r.sacked())
                    .map(|r| r.end.since(r.start))
                    .sum();
                return Err(Stall::LostNotResent { state, lost });
            }
        }
        let rewound = outstanding > 0
            && self.tcb.snd_nxt == self.tcb.snd_una
            && self.tcb.snd_wnd > 0
            && !self.loss.rack.any_lost()
            && self.tcb.snd_una != self.tcb.iss;
        if rewound {
            return Err(Stall::RewoundNotResent { state });
        }
        Ok(())
    }

    /// Our FIN is queued and has never been sent.
    fn fin_unsent(&self) -> bool {
        self.fin.queued && self.fin.seq().is_none()
    }
}
