//! `synack trace`.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use synack::trace::{self, TraceError, diagram::Diagram};

/// Options of `synack trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A pcap or pcapng capture (Ethernet, raw IP, Linux cooked SLL/SLL2; IPv4 and IPv6).
    file: PathBuf,
    /// Only this connection, numbered from 1 in order of first packet.
    #[arg(long)]
    conn: Option<usize>,
    /// Also draw the ladder as an SVG picture (connection 1 unless --conn is given).
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// No ANSI colours (also when NO_COLOR is set, or stdout is not a terminal).
    #[arg(long)]
    no_color: bool,
    /// Show every segment: do not fold long data phases into one row.
    #[arg(long)]
    all: bool,
}

/// Runs `synack trace`.
pub fn run(args: TraceArgs) -> ExitCode {
    match trace_main(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synack trace: {e}");
            ExitCode::FAILURE
        }
    }
}

fn trace_main(args: &TraceArgs) -> Result<(), String> {
    let t = trace::trace_file(&args.file).map_err(|e| e.to_string())?;
    let color = super::color_wanted(args.no_color);
    let have = t.ladders.len();
    let chosen: Vec<&trace::Ladder> = match args.conn {
        Some(n) => vec![
            n.checked_sub(1)
                .and_then(|i| t.ladders.get(i))
                .ok_or(TraceError::NoSuchConnection { asked: n, have }.to_string())?,
        ],
        None => t.ladders.iter().collect(),
    };
    if have == 0 {
        return Err(format!(
            "no TCP segments in {} ({} packets, none of them TCP over IPv4/IPv6)",
            args.file.display(),
            t.packets
        ));
    }
    let mut out = format!(
        "{}: {} packets, {} TCP connection(s){}\n\n",
        args.file.display(),
        t.packets,
        have,
        if t.skipped > 0 {
            format!(", {} packets not TCP skipped", t.skipped)
        } else {
            String::new()
        }
    );
    for l in &chosen {
        out.push_str(&trace::ladder::render(
            &Diagram::from_ladder(l, !args.all),
            color,
        ));
        out.push('\n');
    }
    print!("{out}");
    if let Some(path) = &args.svg {
        let Some(l) = chosen.first() else {
            return Ok(());
        };
        let svg = trace::svg::render(&Diagram::from_ladder(l, !args.all));
        std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if args.conn.is_none() && have > 1 {
            eprintln!(
                "synack trace: the SVG shows connection 1 of {have}; choose another with --conn N"
            );
        }
    }
    Ok(())
}
