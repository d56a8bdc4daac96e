//! `synack --log`: the CLI's logging switch, as a user types it.

use std::process::Command;

fn synack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run synack")
}

/// A filter the logger cannot parse is a setup error (exit 2) that says what to write.
#[test]
fn a_bad_log_filter_exits_2_saying_what_to_write() {
    let out = synack(&["--log", "nonsense===", "demo"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--log nonsense===") && err.contains("write a level such as warn"),
        "{err}"
    );
}

/// `--log` goes after the subcommand too (a global flag), and logging never changes what
/// the demo prints on stdout.
#[test]
fn log_is_global_and_leaves_stdout_alone() {
    let quiet = synack(&["demo", "--seed", "3"]);
    let logged = synack(&["demo", "--seed", "3", "--log", "debug"]);
    assert!(quiet.status.success() && logged.status.success());
    assert_eq!(quiet.stdout, logged.stdout);
}
