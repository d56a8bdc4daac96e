//! Prints a `stack_packets` or `connection_segments` input as its setup and operations,
//! and replays it (a `stack_packets` input) through the harness, so a crash shows where.
//!
//! `cargo run --example show -- <file>` (from `fuzz/`).

use arbitrary::{Arbitrary, Unstructured};
use synack_fuzz::ops::{Setup, next_op};

fn main() {
    let path = std::env::args().nth(1).expect("usage: show <input file>");
    let data = std::fs::read(&path).expect("read input");
    let mut u = Unstructured::new(&data);
    let setup = Setup::arbitrary(&mut u).unwrap_or_default();
    println!("{setup:?}");
    let mut h = synack_fuzz::stack::Harness::new(&setup);
    let mut i = 0;
    while let Some((op, raw)) = next_op(&mut u) {
        println!(
            "{i:4} {op:?}{}",
            if raw.is_empty() {
                String::new()
            } else {
                format!(" {raw:02x?}")
            }
        );
        h.step(&op, raw);
        i += 1;
    }
    println!("replayed {i} ops without a failure");
}
