//! What the namespace tests (`interop`, `forward`, `api_tun`) share: deciding whether they can
//! run here, network namespaces deleted on drop, and child processes killed by their pid on
//! drop, so nothing they create outlives them, also on failure.
//!
//! Each test crate uses a different part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- environment

fn command_works(prog: &str, arg: &str) -> bool {
    Command::new(prog)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Why a namespace test cannot run here (root, `/dev/net/tun`, `ip` and `tools`), if it cannot.
fn skip_reason(tools: &[(&str, &str)]) -> Option<String> {
    if !is_root() {
        return Some("not root: creating network namespaces and TUN devices needs it".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".into());
    }
    [("ip", "-V")]
        .iter()
        .chain(tools)
        .find(|(prog, arg)| !command_works(prog, arg))
        .map(|(prog, _)| format!("{prog} is not installed"))
}

/// False (after printing why) when `test` cannot run here; panics instead when
/// `SYNACK_REQUIRE_INTEROP=1` (as `.ci/run` sets), so CI never passes by skipping.
/// `tools` are `(program, argument that makes it exit 0)` pairs the test needs beyond `ip`.
pub fn can_run(test: &str, tools: &[(&str, &str)]) -> bool {
    let Some(reason) = skip_reason(tools) else {
        return true;
    };
    if std::env::var("SYNACK_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{test}: cannot run: {reason} (SYNACK_REQUIRE_INTEROP=1)");
    }
    // Straight to stderr, past the test harness's capture, so the reason is seen.
    let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
    false
}

/// `tests/interop/peer.py`, the kernel-socket client and server the tests run.
pub fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.py")
}

// ---------------------------------------------------------------- namespaces

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

/// A network namespace with its loopback up, deleted on drop.
pub struct Netns {
    /// `PREFIX-<pid>-<n>`: unique per process and per namespace.
    pub name: String,
}

impl Netns {
    /// Creates `PREFIX-<pid>-<n>`.
    pub fn new(prefix: &str) -> Netns {
        let n = NEXT_NS.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(ok.success(), "ip netns add {name} failed");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NAME PROG ARGS…`, not yet run.
    pub fn cmd(&self, prog: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]).args(args);
        c
    }

    /// Runs to completion and returns stdout; panics unless it succeeds.
    pub fn run_ok(&self, prog: &str, args: &[&str]) -> String {
        let out = self.cmd(prog, args).output().expect("spawn");
        assert!(
            out.status.success(),
            "{prog} {args:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip ARGS…` in the namespace; panics unless it succeeds.
    pub fn ip(&self, args: &[&str]) {
        self.run_ok("ip", args);
    }

    /// Starts `prog` in the namespace with stdin null, reading its stdout lines.
    pub fn spawn(&self, prog: &str, args: &[&str]) -> Proc {
        self.spawn_with(prog, args, Stdio::null(), None)
    }

    /// Starts `prog` in the namespace; stdout goes to the file `stdout` if given, else its
    /// lines are read for [`Proc::expect_line`]. Stderr is collected for failure messages.
    pub fn spawn_with(
        &self,
        prog: &str,
        args: &[&str],
        stdin: Stdio,
        stdout: Option<&Path>,
    ) -> Proc {
        let mut c = self.cmd(prog, args);
        c.stdin(stdin).stderr(Stdio::piped());
        match stdout {
            Some(path) => c.stdout(std::fs::File::create(path).unwrap()),
            None => c.stdout(Stdio::piped()),
        };
        // `ip netns exec` execs the program, so this pid is the program's own.
        let mut child = c.spawn().expect("spawn");
        let (tx, lines) = channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Proc::new(prog, args, child, lines)
    }

    /// Starts `prog` in the namespace with the given stdin and stdout, which are left to the
    /// caller (`proc.child.stdin`, `proc.child.stdout` when piped): nothing reads stdout, so
    /// [`Proc::expect_line`] sees no lines. Stderr is collected for failure messages.
    pub fn spawn_raw(&self, prog: &str, args: &[&str], stdin: Stdio, stdout: Stdio) -> Proc {
        let mut c = self.cmd(prog, args);
        c.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        let child = c.spawn().expect("spawn");
        let (_, lines) = channel();
        Proc::new(prog, args, child, lines)
    }

    /// The kernel's peer, `tests/interop/peer.py ARGS…`, in the namespace.
    pub fn peer(&self, args: &[&str]) -> Proc {
        let script = peer_script();
        let mut all = vec![script.to_str().unwrap()];
        all.extend_from_slice(args);
        self.spawn("python3", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

// ---------------------------------------------------------------- processes

/// A child process; killed (by its pid) if still running when dropped.
pub struct Proc {
    /// The command line, for failure messages.
    pub what: String,
    /// The process.
    pub child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Wraps a started child: collects its stderr (for failure messages) on a thread of
    /// its own; `lines` are its stdout lines, if something reads them.
    fn new(prog: &str, args: &[&str], mut child: Child, lines: Receiver<String>) -> Proc {
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            sink.lock().unwrap().push_str(&s);
        });
        Proc {
            what: format!("{prog} {}", args.join(" ")),
            child,
            lines,
            stderr,
        }
    }

    /// The process id, as `kill` takes it.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a stdout line matching `pred` and returns it; panics after `secs` or when the
    /// process ends without one.
    pub fn expect_line(&mut self, pred: impl Fn(&str) -> bool, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => {
                    // Let the stderr reader catch up, for the message.
                    std::thread::sleep(Duration::from_millis(50));
                    let how = match e {
                        RecvTimeoutError::Timeout => format!("no expected line within {secs}s"),
                        RecvTimeoutError::Disconnected => format!(
                            "exited ({:?}) without the expected line",
                            self.child.try_wait()
                        ),
                    };
                    panic!("{}: {how}; stderr: {}", self.what, self.stderr());
                }
            }
        }
    }

    /// The stdout lines that have arrived and were not consumed yet.
    pub fn pending_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Waits for exit; panics after `secs`.
    pub fn wait(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let the stderr reader finish.
                std::thread::sleep(Duration::from_millis(20));
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: still running after {secs}s; stderr: {}",
                    self.what,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// peer.py's report line (`sent=… recv=… …`), parsed.
    pub fn report(&mut self, secs: u64) -> Report {
        Report::parse(&self.expect_line(|l| l.contains("sent="), secs))
    }

    /// Sends signal `sig` (`"TERM"`, `"INT"`…) to the process, by its pid.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status();
    }

    /// SIGTERM (by pid), then wait for a clean exit; returns the remaining stdout lines.
    pub fn terminate(&mut self) -> Vec<String> {
        self.signal("TERM");
        let status = self.wait(10);
        assert!(
            status.success(),
            "{} exited {status}: {}",
            self.what,
            self.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
        self.pending_lines()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `key=value` pairs of a line (peer.py's report, `synack serve`'s per-connection line).
#[derive(Debug)]
pub struct Report(HashMap<String, String>);

impl Report {
    /// Splits `line` into its `key=value` words; other words are ignored.
    pub fn parse(line: &str) -> Report {
        Report(
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// The value of `k`, or "" when absent.
    pub fn get(&self, k: &str) -> &str {
        self.0.get(k).map_or("", String::as_str)
    }

    /// The value of `k` as a number; panics when absent or not a number.
    pub fn num(&self, k: &str) -> u64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("no number {k} in {self:?}"))
    }
}

impl Deref for Report {
    type Target = HashMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
