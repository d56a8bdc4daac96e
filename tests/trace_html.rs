//! `synack trace --html`: the page is self-contained, and in headless Chromium a click on a
//! graph mark highlights the segment in the ladder, the graph and the list, shows its
//! headers and both states, and j/↓/k step through the segments. The page's `#test-N` hook
//! clicks row N's mark on load and writes the outcome into `<pre id="test-result">`, which
//! `--dump-dom` prints. Skips without Chromium unless `SYNACK_REQUIRE_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-html-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn browser() -> Option<String> {
    let found = ["chromium", "chromium-browser"].iter().find(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var("SYNACK_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "SYNACK_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
    }
    found.map(|b| (*b).to_string())
}

/// The page's DOM after load, as headless Chromium dumps it.
fn dump_dom(browser: &str, page: &Path, fragment: &str) -> String {
    static PROFILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PROFILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = temp_dir(&format!("profile{n}"));
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}#{fragment}", page.display()))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn test_result(dom: &str) -> String {
    let start = dom
        .find(r#"<pre id="test-result">"#)
        .expect("the page has its test hook")
        + r#"<pre id="test-result">"#.len();
    let end = dom[start..].find("</pre>").expect("closed") + start;
    dom[start..end]
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

fn write_page(pcap: &Path, page: &Path, extra: &[&str]) {
    let r = Command::new(env!("CARGO_BIN_EXE_synack"))
        .arg("trace")
        .arg(pcap)
        .arg("--html")
        .arg(page)
        .args(extra)
        .output()
        .expect("synack trace runs");
    assert!(r.status.success(), "{r:?}");
}

#[test]
fn html_page_is_self_contained() {
    let dir = temp_dir("static");
    let page = dir.join("page.html");
    let fixture = root().join("tests/fixtures/trace/halfclose-lo-ethernet.pcap");
    write_page(&fixture, &page, &["--dir", "a2b"]);
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.starts_with("<!DOCTYPE html>"));
    // The only URL is the SVG namespace, which names and fetches nothing.
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    for needle in [
        "http://", "https://", "<link", " src=", "@import", "url(http",
    ] {
        assert!(!without_ns.contains(needle), "the page loads {needle}");
    }
    // The summary keeps one line each.
    assert!(html.contains("B→A 34 B in 5 segments\nretransmissions: A→B 0"));
    // Ladder, graph and list carry the same row numbers.
    assert_eq!(
        html.matches(r#"class="seg" data-row="3""#).count(),
        1,
        "ladder"
    );
    assert!(html.contains(r#"class="seg bar" data-row="3""#), "graph");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn click_in_graph_highlights_everywhere_and_keys_step() {
    let Some(browser) = browser() else { return };
    let dir = temp_dir("click");
    let page = dir.join("page.html");
    let fixture = root().join("tests/fixtures/trace/halfclose-lo-ethernet.pcap");
    write_page(&fixture, &page, &["--dir", "a2b"]);
    let dom = dump_dom(&browser, &page, "test-3");
    let result = test_result(&dom);
    // Row 3 (the fourth segment) is A's 12 bytes: PSH,ACK seq=x+1 ack=y+1 len=12.
    for want in [
        r#""segments":12"#,
        r#""clicked":3"#,
        r#""selected":3"#,
        r#""highlighted":{"ladder":1,"graph":1,"list":1}"#,
        r#""after_j":4"#,
        r#""after_down":5"#,
        r#""after_k":4"#,
        r#""list_highlight":"4""#,
        "flags   PSH,ACK",
        "seq     2789687161 (relative 1)",
        "ack     2678358423 (relative 1)",
        "len     12",
        r"A       ESTABLISHED → ESTABLISHED",
        r"B       ESTABLISHED → ESTABLISHED",
    ] {
        assert!(result.contains(want), "{want} not in {result}");
    }
    // A screenshot of the page is not blank.
    let out = Command::new(root().join(".ci/check-svg"))
        .arg(&page)
        .output()
        .expect(".ci/check-svg runs");
    assert!(out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lossy demo connection: thousands of segments, a folded ladder; clicking a
/// retransmission bar in the graph still selects that segment and shows its mark.
#[test]
fn lossy_capture_page_selects_a_retransmission_from_the_graph() {
    let Some(browser) = browser() else { return };
    let dir = temp_dir("lossy");
    let pcap = dir.join("lossy.pcap");
    let r = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args([
            "demo", "--loss", "3", "--seed", "5", "--bytes", "100000", "--pcap",
        ])
        .arg(&pcap)
        .output()
        .expect("demo runs");
    assert!(r.status.success(), "{r:?}");
    let t = synack::trace::trace_file_keeping(&pcap).expect("traces");
    let (l, c) = (&t.ladders[0], &t.connections[0]);
    let dir_graphed = synack::trace::tsg::busiest(l);
    let g = synack::trace::tsg::build(c, l, dir_graphed);
    let resent = g
        .bars
        .iter()
        .find(|b| b.kind == synack::trace::tsg::BarKind::Retransmission)
        .expect("a retransmission")
        .row;
    let page = dir.join("lossy.html");
    write_page(&pcap, &page, &[]);
    let result = test_result(&dump_dom(&browser, &page, &format!("test-{resent}")));
    assert!(
        result.contains(&format!(r#""selected":{resent}"#)),
        "{result}"
    );
    assert!(result.contains("retransmission"), "{result}");
    assert!(result.contains(r#""graph":1"#), "{result}");
    assert!(result.contains(r#""list":1"#), "{result}");
    let _ = std::fs::remove_dir_all(&dir);
}
