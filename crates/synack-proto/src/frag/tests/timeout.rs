//! RFC 8200 §4.5 and RFC 792: a datagram has its timeout from its first-arriving fragment;
//! when it runs out, the first fragment (if it came) is quoted for ICMP Time Exceeded.

use super::support::*;
use crate::frag::{FragConfig, FragCounters, FragError, QUOTE_LEN_V4, QUOTE_LEN_V6};
use crate::time::Duration;
use std::net::IpAddr;

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn the_default_timeout_is_linux_s_ipfrag_time_within_rfc8200_s_60_s() {
    assert_eq!(FragConfig::default().timeout, TIMEOUT);
    assert!(TIMEOUT <= Duration::from_secs(60));
}

#[test]
fn rfc8200_4_5_timeout_with_the_first_fragment_quotes_it_for_time_exceeded() {
    let data = payload(40);
    let mut r = Checked::default();
    let first = v6_frag(2, 0, true, &data[..16]);
    assert_eq!(r.insert(t(0), &first), Ok(None));
    assert_eq!(
        r.insert(t(10), &v6_frag(2, 32, false, &data[32..])),
        Ok(None)
    );
    let deadline = t(0) + TIMEOUT;
    assert_eq!(r.r.poll_timeout(), Some(deadline));
    assert!(r.expire_all(deadline - Duration::from_micros(1)).is_empty());
    let expired = r.expire_all(deadline);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].src, IpAddr::V6(V6_SRC));
    assert_eq!(expired[0].dst, IpAddr::V6(V6_DST));
    assert_eq!(
        expired[0].invoking_packet, first,
        "the first fragment as it arrived"
    );
    assert!(r.r.is_empty());
    assert_eq!(r.r.poll_timeout(), None);
    let c = r.r.counters();
    assert_eq!((c.reasm_timeout, c.reasm_fails, c.reasm_oks), (1, 1, 0));
}

#[test]
fn rfc792_ipv4_timeout_with_the_first_fragment_quotes_it() {
    let data = payload(40);
    let mut r = Checked::default();
    let first = v4_frag(2, 0, true, &data[..16]);
    assert_eq!(r.insert(t(0), &first), Ok(None));
    let expired = r.expire_all(t(0) + TIMEOUT);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].src, IpAddr::V4(V4_SRC));
    assert_eq!(expired[0].invoking_packet, first);
}

#[test]
fn rfc8200_4_5_timeout_without_the_first_fragment_sends_nothing() {
    let data = payload(40);
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v6_frag(2, 16, true, &data[16..32])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(2, 16, true, &data[16..32])),
        Ok(None)
    );
    assert!(r.expire_all(t(0) + TIMEOUT).is_empty());
    assert!(r.r.is_empty());
    assert_eq!(r.r.counters().reasm_timeout, 2);
}

#[test]
fn rfc1122_3_3_2_the_timer_runs_from_the_first_arriving_fragment_and_is_not_restarted() {
    let data = payload(48);
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 16, true, &data[16..32])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(29_000), &v4_frag(1, 0, true, &data[..16])),
        Ok(None)
    );
    assert_eq!(r.r.poll_timeout(), Some(t(30_000)));
    assert_eq!(r.expire_all(t(30_000)).len(), 1);
    // The last fragment comes too late: it starts a new datagram of its own.
    assert_eq!(
        r.insert(t(30_001), &v4_frag(1, 32, false, &data[32..])),
        Ok(None)
    );
    assert_eq!(r.r.poll_timeout(), Some(t(60_001)));
}

#[test]
fn expire_takes_datagrams_oldest_first_and_only_those_due() {
    let data = payload(16);
    let mut r = Checked::default();
    for (i, at) in [(1u16, 0), (2, 1000), (3, 2000)] {
        assert_eq!(r.insert(t(at), &v4_frag(i, 0, true, &data[..8])), Ok(None));
    }
    let expired = r.expire_all(t(1000) + TIMEOUT);
    let idents: Vec<u16> = expired
        .iter()
        .map(|e| u16::from_be_bytes([e.invoking_packet[4], e.invoking_packet[5]]))
        .collect();
    assert_eq!(idents, [1, 2]);
    assert_eq!(r.r.len(), 1);
    assert_eq!(r.r.poll_timeout(), Some(t(2000) + TIMEOUT));
}

#[test]
fn a_stale_datagram_found_by_insert_times_out_and_the_fragment_starts_afresh() {
    let data = payload(16);
    let mut r = Checked::default();
    assert_eq!(r.insert(t(0), &v4_frag(1, 0, true, &data[..8])), Ok(None));
    // expire() was not called; the fragment that would complete it arrives past the
    // deadline, so it may not complete it.
    assert_eq!(
        r.insert(t(0) + TIMEOUT, &v4_frag(1, 8, false, &data[8..])),
        Ok(None)
    );
    assert_eq!(r.r.len(), 1);
    assert_eq!(r.r.counters().reasm_timeout, 1);
    assert_eq!(r.r.poll_timeout(), Some(t(0) + TIMEOUT + TIMEOUT));
}

#[test]
fn quotes_are_cut_to_what_a_minimal_icmp_error_carries() {
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 0, true, &payload(1480))),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 0, true, &payload(1448))),
        Ok(None)
    );
    let expired = r.expire_all(t(0) + TIMEOUT);
    let lens: Vec<usize> = expired.iter().map(|e| e.invoking_packet.len()).collect();
    assert_eq!(lens, [QUOTE_LEN_V4, QUOTE_LEN_V6]);
    // 576 and 1280 octets with the IP and ICMP headers of the error.
    assert_eq!(20 + 8 + QUOTE_LEN_V4, 576);
    assert_eq!(40 + 8 + QUOTE_LEN_V6, 1280);
    let first = v4_frag(1, 0, true, &payload(1480));
    assert_eq!(expired[0].invoking_packet, first[..QUOTE_LEN_V4]);
}

#[test]
fn expired_datagrams_free_all_their_memory() {
    let data = payload(4000);
    let mut r = Checked::default();
    for f in v4_split(1, &data, 800).iter().take(4) {
        assert_eq!(r.insert(t(0), f), Ok(None));
    }
    assert!(r.r.memory_usage() > 3200);
    let _ = r.expire_all(t(0) + TIMEOUT);
    assert_eq!(r.r.memory_usage(), 0);
    assert_eq!(
        *r.r.counters(),
        FragCounters {
            reasm_reqds: 4,
            reasm_fails: 1,
            reasm_timeout: 1,
            ..FragCounters::default()
        }
    );
}

#[test]
fn a_fragment_arriving_at_the_deadline_of_an_abandoned_datagram_starts_afresh() {
    let data = payload(24);
    let mut r = Checked::default();
    assert_eq!(r.insert(t(0), &v4_frag(1, 0, true, &data[..16])), Ok(None));
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, true, &data[8..16])),
        Err(FragError::Overlap)
    );
    assert_eq!(
        r.insert(t(0) + TIMEOUT, &v4_frag(1, 0, true, &data[..16])),
        Ok(None)
    );
    assert_eq!(r.r.counters().reasm_timeout, 0);
}
