//! [`Outcome`]: what a call into a connection did that its owner acts on.

use super::error::Error;
use super::state::State;

/// What [`Connection::handle_segment`](super::Connection::handle_segment) or
/// [`Connection::handle_timeout`](super::Connection::handle_timeout) did that the
/// connection's owner must act on: the challenge ACKs it spent of the budget it was given,
/// and the turns the connection's life took (RFC 9293 §3.3.2), named as the owner counts and
/// queues them (the [`Stack`](crate::stack::Stack)'s accept queues, TIME-WAIT table and
/// counters). Several may be true at once (a SYN-SENT connection that times out failed its
/// opening and timed out).
#[must_use = "the owner's counters, queues and budgets follow the outcome"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Challenge ACKs sent of the budget the call was given (RFC 5961 §7); 0 from a timeout.
    pub challenge_acks: u32,
    /// The handshake completed: SYN-SENT or SYN-RECEIVED gave way to a synchronized state.
    pub established: bool,
    /// The opening failed: SYN-SENT or SYN-RECEIVED gave way to CLOSED (refused, reset, timed
    /// out; Linux's `TcpAttemptFails`).
    pub attempt_failed: bool,
    /// The peer reset the connection in ESTABLISHED or CLOSE-WAIT (`TcpEstabResets`).
    pub reset_established: bool,
    /// The connection gave up and is CLOSED: retransmissions, window probes or keep-alives
    /// went unanswered (`TCPAbortOnTimeout`).
    pub timed_out: bool,
    /// The connection entered TIME-WAIT.
    pub entered_time_wait: bool,
    /// The connection left TIME-WAIT (its 2×MSL ran out).
    pub left_time_wait: bool,
}

impl Outcome {
    /// The outcome of a call that moved the connection from state `before` to `after`, with
    /// the connection's `error` afterwards, having sent `challenge_acks` challenge ACKs.
    pub(super) fn of(
        before: State,
        after: State,
        error: Option<Error>,
        challenge_acks: u32,
    ) -> Outcome {
        let mut out = Outcome {
            challenge_acks,
            ..Outcome::default()
        };
        if before == after {
            return out;
        }
        let opening = matches!(before, State::SynSent | State::SynReceived);
        out.established = opening && after.is_synchronized();
        out.attempt_failed = opening && after == State::Closed;
        out.reset_established =
            matches!(before, State::Established | State::CloseWait) && error == Some(Error::Reset);
        out.timed_out = after == State::Closed && error == Some(Error::TimedOut);
        out.entered_time_wait = after == State::TimeWait;
        out.left_time_wait = before == State::TimeWait;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_change_of_state_reports_only_the_challenge_acks() {
        let out = Outcome::of(State::Established, State::Established, None, 2);
        assert_eq!(
            out,
            Outcome {
                challenge_acks: 2,
                ..Outcome::default()
            }
        );
    }

    #[test]
    fn each_turn_of_a_connections_life_is_named() {
        let of = |before, after, error| Outcome::of(before, after, error, 0);
        assert!(of(State::SynReceived, State::Established, None).established);
        assert!(of(State::SynSent, State::CloseWait, None).established);
        let refused = of(State::SynSent, State::Closed, Some(Error::Refused));
        assert!(refused.attempt_failed && !refused.timed_out);
        let gave_up = of(State::SynSent, State::Closed, Some(Error::TimedOut));
        assert!(gave_up.attempt_failed && gave_up.timed_out);
        assert!(of(State::CloseWait, State::Closed, Some(Error::Reset)).reset_established);
        assert!(!of(State::FinWait1, State::Closed, Some(Error::Reset)).reset_established);
        assert!(of(State::FinWait2, State::TimeWait, None).entered_time_wait);
        assert!(of(State::TimeWait, State::Closed, None).left_time_wait);
    }
}
