//! The liveness invariant ([`Connection::check_liveness`]): every state the builders reach
//! keeps it, and each way of breaking it is named.

use super::*;
use crate::tcp::Stall;
use crate::tcp::timer::TimerKind;

#[test]
fn every_state_reached_by_real_segments_keeps_the_invariant() {
    let states = [
        ("CLOSED", closed_state()),
        ("LISTEN", listen_state()),
        ("SYN-SENT", syn_sent_state()),
        ("SYN-RECEIVED", syn_received_state()),
        ("ESTABLISHED", established_state()),
        ("FIN-WAIT-1", fin_wait_1_state()),
        ("FIN-WAIT-2", fin_wait_2_state()),
        ("CLOSE-WAIT", close_wait_state()),
        ("CLOSING", closing_state()),
        ("LAST-ACK", last_ack_state()),
        ("TIME-WAIT", time_wait_state()),
    ];
    for (name, p) in states {
        assert_eq!(p.c.check_liveness(), Ok(()), "{name}");
    }
}

#[test]
fn unacknowledged_data_without_a_timer_is_a_stall() {
    let mut p = established_state();
    p.c.send(&pattern(100)).unwrap();
    assert_eq!(p.out().len(), 1);
    p.c.timers.clear_all();
    assert_eq!(
        p.c.check_liveness(),
        Err(Stall::NoRetransmitTimer {
            state: State::Established,
            outstanding: 100
        })
    );
}

#[test]
fn fin_wait_1_with_its_fin_unacknowledged_and_no_timer_is_a_stall() {
    let mut p = fin_wait_1_state();
    p.c.timers.clear(TimerKind::Retransmit);
    p.c.timers.clear(TimerKind::Tlp);
    assert_eq!(
        p.c.check_liveness(),
        Err(Stall::NoRetransmitTimer {
            state: State::FinWait1,
            outstanding: 1
        })
    );
}

#[test]
fn time_wait_and_a_released_fin_wait_2_need_their_timers() {
    let mut p = time_wait_state();
    p.c.timers.clear_all();
    assert_eq!(p.c.check_liveness(), Err(Stall::NoTimeWaitTimer));
    let mut p = fin_wait_2_state();
    assert_eq!(p.c.check_liveness(), Ok(()), "held by the user: may wait");
    p.c.set_orphaned();
    assert_eq!(p.c.check_liveness(), Err(Stall::NoFinWait2Timer));
    p.advance(ms(1));
    assert_eq!(p.c.check_liveness(), Ok(()), "rearmed by the next event");
}

#[test]
fn a_timeout_that_rewound_for_go_back_n_must_resend_before_the_output_is_drained() {
    let mut p = established_state();
    p.c.send(&pattern(100)).unwrap();
    assert_eq!(p.out().len(), 1);
    let rto = p.c.poll_timeout().unwrap();
    p.at(rto);
    // Between the timeout and the drain, the rewind is visible; the drain resends.
    assert_eq!(
        p.c.check_liveness(),
        Err(Stall::RewoundNotResent {
            state: State::Established
        })
    );
    assert_eq!(p.out().len(), 1);
    assert_eq!(p.c.check_liveness(), Ok(()));
}
