//! `synack trace`.

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use synack::trace::{self, Dir, TraceError, diagram::Diagram, tsg};

/// Options of `synack trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A pcap or pcapng capture (Ethernet, raw IP, Linux cooked SLL/SLL2; IPv4 and IPv6),
    /// or `-` for a pcap stream on stdin drawn as it arrives (`tcpdump -U -w - | synack trace -`).
    file: PathBuf,
    /// Only this connection, numbered from 1 in order of first packet.
    #[arg(long)]
    conn: Option<usize>,
    /// Also draw the ladder as an SVG picture (connection 1 unless --conn is given).
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Draw a time-sequence graph (data, ACK and window lines, SACK, states, throughput and
    /// RTT) of one direction as an SVG picture (connection 1 unless --conn is given).
    #[arg(long, value_name = "OUT.svg")]
    tsg: Option<PathBuf>,
    /// Write one self-contained HTML page (connection 1 unless --conn is given): ladder,
    /// time-sequence graph and segment list, linked; click a segment, step with arrow keys.
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
    /// With --tsg: also draw the sender's own view (congestion window, bytes in flight,
    /// ssthresh, recovery) from the qlog it recorded of the same run (`synack demo --qlog`,
    /// `serve`/`nc --qlog`, `Simulation::qlog_dir`), on the capture's clock.
    #[arg(long, value_name = "FILE", requires = "tsg")]
    qlog: Option<PathBuf>,
    /// The direction --tsg and --html graph: a2b (from A, the client) or b2a; default: the one that
    /// carried more data.
    #[arg(long, value_enum)]
    dir: Option<DirArg>,
    /// No ANSI colours (also when NO_COLOR is set, or stdout is not a terminal).
    #[arg(long)]
    no_color: bool,
    /// Show every segment: do not fold long data phases into one row.
    #[arg(long)]
    all: bool,
}

/// A direction on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DirArg {
    /// From A (the client, when the SYN was captured) to B.
    A2b,
    /// From B to A.
    B2a,
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
    if args.file.as_os_str() == "-" {
        return live_main(args);
    }
    // The ladders (and a --tsg graph) are drawn as the capture is read, in bounded memory;
    // the --html page needs every segment.
    let dir_asked = args.dir.map(|d| match d {
        DirArg::A2b => Dir::AtoB,
        DirArg::B2a => Dir::BtoA,
    });
    let (packets, skipped, diagrams, t, streamed_graph) = if args.html.is_some() {
        let t = trace::trace_file_keeping(&args.file).map_err(|e| e.to_string())?;
        let d: Vec<Diagram> = t
            .ladders
            .iter()
            .map(|l| Diagram::from_ladder(l, !args.all))
            .collect();
        (t.packets, t.skipped, d, Some(t), None)
    } else {
        let draw = trace::Draw {
            fold: !args.all,
            graph: args
                .tsg
                .as_ref()
                .map(|_| (args.conn.unwrap_or(1), dir_asked)),
        };
        let d = trace::draw_file(&args.file, draw).map_err(|e| e.to_string())?;
        (d.packets, d.skipped, d.diagrams, None, d.graph)
    };
    let color = super::color_wanted(args.no_color);
    let have = diagrams.len();
    let chosen: Vec<&Diagram> = match args.conn {
        Some(n) => vec![
            n.checked_sub(1)
                .and_then(|i| diagrams.get(i))
                .ok_or(TraceError::NoSuchConnection { asked: n, have }.to_string())?,
        ],
        None => diagrams.iter().collect(),
    };
    if have == 0 {
        return Err(format!(
            "no TCP segments in {} ({packets} packets, none of them TCP over IPv4/IPv6)",
            args.file.display(),
        ));
    }
    let mut out = format!(
        "{}: {packets} packets, {have} TCP connection(s){}\n\n",
        args.file.display(),
        if skipped > 0 {
            format!(", {skipped} packets not TCP skipped")
        } else {
            String::new()
        }
    );
    for d in &chosen {
        out.push_str(&trace::ladder::render(d, color));
        out.push('\n');
    }
    print!("{out}");
    if let Some(path) = &args.svg {
        let Some(d) = chosen.first() else {
            return Ok(());
        };
        write(path, &trace::svg::render(d))?;
        if args.conn.is_none() && have > 1 {
            eprintln!(
                "synack trace: the SVG shows connection 1 of {have}; choose another with --conn N"
            );
        }
    }
    if let (Some(path), Some(g)) = (&args.tsg, &streamed_graph) {
        write_graph(path, g, have, args.conn.is_none(), args.qlog.as_deref())?;
    }
    let Some(t) = t else {
        return Ok(());
    };
    let index = args.conn.map_or(0, |n| n.saturating_sub(1));
    let (Some(l), Some(c)) = (t.ladders.get(index), t.connections.get(index)) else {
        return Ok(());
    };
    let dir = dir_asked.unwrap_or_else(|| tsg::busiest(l));
    if let Some(path) = &args.html {
        write(path, &trace::html::render(c, l, dir, !args.all))?;
        if args.conn.is_none() && have > 1 {
            eprintln!(
                "synack trace: the page shows connection 1 of {have}; choose another with --conn N"
            );
        }
    }
    if let Some(path) = &args.tsg {
        let g = tsg::build(c, l, dir);
        write_graph(path, &g, have, args.conn.is_none(), args.qlog.as_deref())?;
    }
    Ok(())
}

/// Writes a time-sequence graph, saying so when it is empty or one of several; with `qlog`,
/// the sender's own view is drawn beneath.
fn write_graph(
    path: &std::path::Path,
    g: &tsg::Tsg,
    have: usize,
    first_of_many: bool,
    qlog: Option<&std::path::Path>,
) -> Result<(), String> {
    let mut g = g.clone();
    if let Some(q) = qlog {
        let text = std::fs::read_to_string(q)
            .map_err(|e| format!("cannot read the qlog file {}: {e}", q.display()))?;
        let series =
            synack::qlog::read_series(&text).map_err(|e| format!("{}: {e}", q.display()))?;
        if !g.attach_sender_view(&series) {
            eprintln!(
                "synack trace: {} has no sender view of {} → {} (it holds {}); was it recorded by that sender in the same run?",
                q.display(),
                g.sender,
                g.receiver,
                series
                    .iter()
                    .map(|s| s.conn.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let g = &g;
    write(path, &tsg::svg::render(g))?;
    if g.bars.is_empty() {
        eprintln!(
            "synack trace: connection {} carried nothing {}; the graph is empty (try the other --dir)",
            g.number,
            match g.dir {
                Dir::AtoB => "from A to B",
                Dir::BtoA => "from B to A",
            }
        );
    }
    if first_of_many && have > 1 {
        eprintln!(
            "synack trace: the graph shows connection 1 of {have}; choose another with --conn N"
        );
    }
    Ok(())
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| {
        format!(
            "cannot write {}: {e} (check the directory exists and is writable)",
            path.display()
        )
    })
}

/// `synack trace -`: rows as the stream delivers them.
fn live_main(args: &TraceArgs) -> Result<(), String> {
    if args.svg.is_some() || args.tsg.is_some() || args.html.is_some() {
        return Err(
            "--svg, --tsg and --html need the whole capture: save the stream first (tcpdump -w c.pcap), then run synack trace c.pcap --tsg OUT.svg".into(),
        );
    }
    let opts = trace::live::LiveOptions {
        color: super::color_wanted(args.no_color),
        fold: !args.all,
        conn: args.conn,
    };
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let s = trace::live::run(stdin, &mut stdout, opts).map_err(|e| match e {
        TraceError::Empty => {
            "stdin is empty: pipe a capture in, e.g. tcpdump -U -w - 'tcp port 80' | synack trace -"
                .to_string()
        }
        other => other.to_string(),
    })?;
    if s.connections == 0 {
        return Err(format!(
            "no TCP segments on stdin ({} packets, none of them TCP over IPv4/IPv6)",
            s.packets
        ));
    }
    if let Some(n) = args.conn.filter(|&n| n == 0 || n > s.connections) {
        return Err(TraceError::NoSuchConnection {
            asked: n,
            have: s.connections,
        }
        .to_string());
    }
    Ok(())
}
