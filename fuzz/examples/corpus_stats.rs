//! How deep a `stack_packets` corpus reaches: replays every input in the given
//! directories and prints how many inputs reached each TCP state and made each
//! connection or stack counter move.
//!
//! `cargo run --release --example corpus_stats -- <dir>...` (from `fuzz/`).

use arbitrary::{Arbitrary, Unstructured};
use std::collections::BTreeMap;
use synack_fuzz::ops::{Setup, next_op};
use synack_fuzz::stack::Harness;

fn main() {
    let mut reached: BTreeMap<String, usize> = BTreeMap::new();
    let mut files = 0;
    for dir in std::env::args().skip(1) {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let data = std::fs::read(entry.path()).expect("read input");
            files += 1;
            let mut u = Unstructured::new(&data);
            let setup = Setup::arbitrary(&mut u).unwrap_or_default();
            let mut h = Harness::new(&setup);
            let mut seen = std::collections::BTreeSet::new();
            while let Some((op, raw)) = next_op(&mut u) {
                h.step(&op, raw);
                for id in h.stack.connections().collect::<Vec<_>>() {
                    let Some(c) = h.stack.connection(id) else {
                        continue;
                    };
                    seen.insert(format!("state {}", c.state()));
                    let s = c.stats();
                    for (name, v) in [
                        ("conn retransmits", s.retransmits),
                        ("conn timeouts", s.timeouts),
                        ("conn fast_retransmits", s.fast_retransmits),
                        ("conn challenge_acks", s.challenge_acks),
                        ("conn window_probes", s.window_probes),
                        ("conn dropped_segments", s.dropped_segments),
                        ("conn paws_drops", s.paws_drops),
                    ] {
                        if v > 0 {
                            seen.insert(name.to_string());
                        }
                    }
                    if c.recv_queue() > 0 {
                        seen.insert("conn data received".into());
                    }
                }
            }
            let k = h.stack.counters();
            for (name, v) in [
                ("stack out_rsts", k.out_rsts),
                ("stack in_csum_errors", k.in_csum_errors),
                ("stack in_errs", k.in_errs),
                ("stack listen_overflows", k.listen_overflows),
                ("stack passive_opens", k.passive_opens),
                ("stack estab_resets", k.estab_resets),
                ("stack abort_on_timeout", k.abort_on_timeout),
                ("stack syncookies_sent", k.syncookies_sent),
                ("stack syncookies_recv", k.syncookies_recv),
                ("stack syncookies_failed", k.syncookies_failed),
                ("stack rst_queue_full", k.rst_queue_full),
            ] {
                if v > 0 {
                    seen.insert(name.to_string());
                }
            }
            for s in seen {
                *reached.entry(s).or_default() += 1;
            }
        }
    }
    println!("{files} inputs");
    for (what, n) in reached {
        println!("{n:6}  {what}");
    }
}
