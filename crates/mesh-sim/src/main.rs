//! `mesh-sim`: runs swarm scenarios against mesh-core's real planner and store.
//!
//! ```text
//! mesh-sim run-all --out docs/sim          # every scenario, CSV + SVG + summary table
//! mesh-sim run scenarios/churn.toml --out /tmp/sim
//! mesh-sim bench                           # 10,000 peers for one simulated hour
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mesh_sim::report::table;
use mesh_sim::suite::{run_all, run_files, write_density_chart, write_file_outputs};
use mesh_sim::{RunResult, ScenarioFile};

/// mimalloc instead of the system allocator: a run allocates and frees small buffers (messages
/// between peers, planner actions and events) tens of millions of times; with glibc's malloc
/// that was about a fifth of the CPU time (docs/SIMULATION.md, "Performance").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The crate's directory (default scenario locations): `cargo run` says it at run time, which
/// stays right when clones share one target directory; the compile-time path is the fallback.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

#[derive(Parser)]
#[command(
    name = "mesh-sim",
    version,
    about = "Swarm simulator driving mesh-core"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scenario of a directory; write CSV and SVG per scenario and summary.csv.
    RunAll {
        /// Where to write results.
        #[arg(long, default_value = "docs/sim")]
        out: PathBuf,
        /// Scenario directory (default: the crate's `scenarios/`).
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Only scenarios whose file name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Run the given scenario files.
    Run {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write results.
        #[arg(long, default_value = "sim-out")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// 10,000 peers for one simulated hour: wall time, events/s, peak memory, offload.
    Bench {
        /// Scenario to time (default: the crate's `bench/site-10k.toml`).
        #[arg(long)]
        scenario: Option<PathBuf>,
    },
}

fn threads(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn progress(r: &RunResult) {
    eprintln!(
        "  done {} [{}] in {:.1} s ({} events)",
        r.scenario,
        r.variant,
        r.perf.wall.as_secs_f64(),
        r.perf.events
    );
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::RunAll {
            out,
            scenarios,
            only,
            jobs,
        } => {
            let dir = scenarios.unwrap_or_else(|| manifest_dir().join("scenarios"));
            let started = Instant::now();
            let results = run_all(&dir, &out, threads(jobs), only.as_deref(), &progress)
                .with_context(|| format!("running scenarios in {}", dir.display()))?;
            print!("{}", table(&results));
            println!(
                "{} runs in {:.1} s; results in {}",
                results.len(),
                started.elapsed().as_secs_f64(),
                out.display()
            );
        }
        Command::Run { files, out, jobs } => {
            let files = files
                .iter()
                .map(|p| ScenarioFile::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
            let results = run_files(&files, threads(jobs), &progress)?;
            for (f, rs) in files.iter().zip(&results) {
                write_file_outputs(&out, f, rs)?;
            }
            write_density_chart(&out, &files, &results)?;
            let all: Vec<RunResult> = results.into_iter().flatten().collect();
            print!("{}", table(&all));
        }
        Command::Bench { scenario } => bench(scenario)?,
    }
    Ok(())
}

/// Peak resident memory of this process, from the kernel's high-water mark.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time this process has run, from the scheduler's accounting: on a machine shared with
/// other work the wall time includes waiting for a core, this does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn bench(scenario: Option<PathBuf>) -> Result<()> {
    let path = scenario.unwrap_or_else(|| manifest_dir().join("bench").join("site-10k.toml"));
    let file = ScenarioFile::load(&path)?;
    let Some(variant) = file.variants.first() else {
        bail!("{} has no runs", path.display());
    };
    let sc = &variant.scenario;
    println!("benchmark: {} ({})", sc.name, path.display());
    println!("  {}", sc.description);
    let r = mesh_sim::run(variant)?;
    let wall = r.perf.wall.as_secs_f64();
    let s = &r.summary;
    let rows = [
        ("mean concurrent peers", format!("{:.0}", s.online_avg)),
        ("sessions", format!("{}", s.sessions)),
        ("simulated time", format!("{:.0} s", sc.duration_s)),
        ("wall time", format!("{wall:.1} s")),
        (
            "CPU time (incl. loading)",
            cpu_seconds().map_or("n/a".into(), |c| format!("{c:.1} s")),
        ),
        (
            "speed",
            format!("{:.0}x real time", sc.duration_s / wall.max(1e-9)),
        ),
        ("events", format!("{}", r.perf.events)),
        (
            "events/s",
            format!("{:.0}", r.perf.events as f64 / wall.max(1e-9)),
        ),
        ("peak event queue", format!("{}", r.perf.peak_queue)),
        (
            "peak RSS",
            peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0} MiB")),
        ),
        ("fetches completed", format!("{}", s.fetches)),
        ("network fetches", format!("{}", s.network_fetches)),
        (
            "network fetches per peer-hour",
            format!(
                "{:.0}",
                s.network_fetches as f64
                    / s.online_avg.max(1e-9)
                    / ((sc.duration_s - sc.warmup_s) / 3600.0)
            ),
        ),
        (
            "verified GiB (peer + origin)",
            format!("{:.1}", s.peer_gib + s.origin_gib),
        ),
        ("offload", format!("{:.1}%", s.offload * 100.0)),
        (
            "TTFB p50 / p95",
            format!("{:.0} / {:.0} ms", s.ttfb_ms[0], s.ttfb_ms[1]),
        ),
        (
            "within 60 s budget",
            if wall <= 60.0 { "yes" } else { "NO" }.to_owned(),
        ),
    ];
    for (k, v) in rows {
        println!("  {k:<30} {v}");
    }
    Ok(())
}
