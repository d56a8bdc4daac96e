//! The SVG ladders render in a real browser: `.ci/check-svg` screenshots them with headless
//! Chromium and checks the picture is not blank. Skips (saying why) without Chromium, unless
//! `SYNACK_REQUIRE_BROWSER=1`, when a missing browser fails the test.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn browser_available() -> bool {
    let found = ["chromium", "chromium-browser"].iter().any(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            std::env::var("SYNACK_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "SYNACK_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
    }
    found
}

fn check(svg: &std::path::Path) {
    let out = Command::new(root().join(".ci/check-svg"))
        .arg(svg)
        .output()
        .expect(".ci/check-svg runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}: {text}", svg.display());
}

#[test]
fn trace_and_demo_svgs_render_non_blank_in_chromium() {
    let dir = std::env::temp_dir().join(format!("synack-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let trace_svg = dir.join("trace.svg");
    let demo_svg = dir.join("demo.svg");
    let fixture = root().join("tests/fixtures/trace/halfclose-lo-ethernet.pcap");
    let bin = env!("CARGO_BIN_EXE_synack");
    let t = Command::new(bin)
        .args(["trace", fixture.to_str().expect("utf-8"), "--svg"])
        .arg(&trace_svg)
        .output()
        .expect("synack trace runs");
    assert!(t.status.success());
    let d = Command::new(bin)
        .args(["demo", "--svg"])
        .arg(&demo_svg)
        .output()
        .expect("synack demo runs");
    assert!(d.status.success());
    for svg in [&trace_svg, &demo_svg] {
        let text = std::fs::read_to_string(svg).expect("svg written");
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        assert!(text.contains("SYN,ACK seq=y ack=x+1 "), "seed labels");
        assert!(text.contains("ACK seq=u+1 ack=w+1 "), "seed labels");
        assert!(text.contains(">TIME-WAIT<") && text.contains(">CLOSE-WAIT<"));
    }
    if browser_available() {
        check(&trace_svg);
        check(&demo_svg);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
