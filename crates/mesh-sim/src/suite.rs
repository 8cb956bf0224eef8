//! Running many scenario files: every variant on a pool of threads, then CSV and SVG per file
//! and a combined summary.
//!
//! Runs are independent (each builds its own world from its own seed), so running them in
//! parallel changes nothing in their results, only the wall time; results are written in file
//! and variant order whatever order they finished in.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::plot::{Line, PlotError, XAxis, line_chart, variant_axis};
use crate::report::{series_csv, summary_csv};
use crate::result::RunResult;
use crate::scenario::{ScenarioError, ScenarioFile, Variant};
use crate::{SimError, run};

/// Most scenario files one directory may hold.
const MAX_FILES: usize = 256;

/// Why a suite could not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// A scenario file is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A run failed.
    #[error("{label}: {source}")]
    Run {
        /// Scenario and variant.
        label: String,
        /// Why.
        #[source]
        source: SimError,
    },
    /// Reading or writing files.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Drawing a chart.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// No scenario matched.
    #[error("no scenario files in {0} (matching the filter)")]
    Empty(PathBuf),
}

/// The scenario files (`*.toml`) of `dir` whose name contains `filter`, sorted by file name.
pub fn load_dir(dir: &Path, filter: Option<&str>) -> Result<Vec<ScenarioFile>, SuiteError> {
    let io = |source| SuiteError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| {
            filter.is_none_or(|f| {
                p.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains(f))
            })
        })
        .take(MAX_FILES)
        .collect();
    paths.sort();
    let files = paths
        .iter()
        .map(|p| ScenarioFile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    if files.is_empty() {
        return Err(SuiteError::Empty(dir.to_owned()));
    }
    Ok(files)
}

/// Runs every variant of `files` on `threads` threads; calls `done` as each run finishes.
/// Results come back grouped per file, in variant order.
pub fn run_files(
    files: &[ScenarioFile],
    threads: usize,
    done: &(dyn Fn(&RunResult) + Sync),
) -> Result<Vec<Vec<RunResult>>, SuiteError> {
    let jobs: Vec<(usize, &Variant)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.variants.iter().map(move |v| (i, v)))
        .collect();
    // Longest first keeps the threads busy to the end: estimate by peers × duration.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| {
        weight(jobs[b].1)
            .total_cmp(&weight(jobs[a].1))
            .then(a.cmp(&b))
    });
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<RunResult, SimError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&j) = order.get(k) else { break };
                    let result = run(jobs[j].1);
                    if let Ok(r) = &result {
                        done(r);
                    }
                    if let Ok(mut slots) = slots.lock() {
                        slots[j] = Some(result);
                    }
                }
            });
        }
    });
    let slots = slots.into_inner().unwrap_or_default();
    let mut grouped: Vec<Vec<RunResult>> = files.iter().map(|_| Vec::new()).collect();
    for ((file, variant), slot) in jobs.iter().zip(slots) {
        let label = format!("{} [{}]", files[*file].base.name, variant.label);
        match slot {
            Some(Ok(r)) => grouped[*file].push(r),
            Some(Err(source)) => return Err(SuiteError::Run { label, source }),
            None => {
                return Err(SuiteError::Run {
                    label,
                    source: SimError::Scenario(ScenarioError::Invalid {
                        scenario: files[*file].base.name.clone(),
                        field: "-".into(),
                        reason: "run did not finish (a worker thread panicked)".into(),
                    }),
                });
            }
        }
    }
    Ok(grouped)
}

fn weight(v: &Variant) -> f64 {
    let peers = match v.scenario.arrivals {
        crate::scenario::Arrivals::Steady { concurrent, .. } => f64::from(concurrent),
        crate::scenario::Arrivals::Burst { users, .. } => f64::from(users) * 5.0,
    };
    peers * v.scenario.duration_s
}

fn write(path: &Path, text: &str) -> Result<(), SuiteError> {
    std::fs::write(path, text).map_err(|source| SuiteError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes one file's CSVs and charts into `out`; returns the paths written.
pub fn write_file_outputs(
    out: &Path,
    file: &ScenarioFile,
    results: &[RunResult],
) -> Result<Vec<PathBuf>, SuiteError> {
    let name = &file.base.name;
    let mut written = Vec::new();
    let mut emit = |suffix: &str, text: String| -> Result<(), SuiteError> {
        let p = out.join(format!("{name}{suffix}"));
        write(&p, &text)?;
        written.push(p);
        Ok(())
    };
    emit(".csv", summary_csv(results))?;
    emit("-series.csv", series_csv(results))?;
    let mut charts = Vec::new();
    let minutes = XAxis::Numeric {
        label: "time (min)".into(),
        log: false,
    };
    let over_time = |f: fn(&crate::result::SeriesRow) -> f64| -> Vec<Line> {
        results
            .iter()
            .map(|r| Line {
                label: r.variant.clone(),
                points: r.series.iter().map(|s| (s.t_s / 60.0, f(s))).collect(),
            })
            .collect()
    };
    charts.push((
        "-origin.svg",
        format!("{name}: origin egress over time"),
        minutes.clone(),
        "origin MB/s",
        over_time(|s| s.origin_mbps),
    ));
    charts.push((
        "-timeline.svg",
        format!("{name}: offload over time"),
        minutes.clone(),
        "offload (peer bytes / network bytes)",
        over_time(|s| s.offload),
    ));
    if results.len() > 1 {
        let x_label = file
            .base
            .plot
            .x_label
            .clone()
            .or_else(|| file.base.sweep.as_ref().map(|s| s.param.clone()))
            .unwrap_or_else(|| "variant".into());
        let (axis, xs) = variant_axis(results, &x_label, file.base.plot.x_log);
        let by = |label: &str, f: &dyn Fn(&RunResult) -> f64| Line {
            label: label.to_owned(),
            points: xs.iter().zip(results).map(|(&x, r)| (x, f(r))).collect(),
        };
        let mut offload = vec![
            by("offload", &|r| r.summary.offload),
            by("origin savings", &|r| r.summary.origin_savings),
        ];
        let catalogue = matches!(
            file.base.workload,
            crate::scenario::Workload::Site { assets, .. } if assets >= 10
        );
        if catalogue {
            offload.push(by("hottest 1% of assets", &|r| r.summary.offload_top1));
            offload.push(by("hottest 10%", &|r| r.summary.offload_top10));
        }
        charts.push((
            "-offload.svg",
            format!("{name}: offload"),
            axis.clone(),
            "share of network bytes",
            offload,
        ));
        charts.push((
            "-ttfb.svg",
            format!("{name}: time to first byte"),
            axis.clone(),
            "ms",
            vec![
                by("all p50", &|r| r.summary.ttfb_ms[0]),
                by("all p95", &|r| r.summary.ttfb_ms[1]),
                by("peer-served p50", &|r| r.summary.ttfb_peer_ms[0]),
                by("origin-served p50", &|r| r.summary.ttfb_origin_ms[0]),
                by("mixed p50", &|r| r.summary.ttfb_mixed_ms[0]),
            ],
        ));
        charts.push((
            "-fallbacks.svg",
            format!("{name}: fallbacks per network fetch"),
            axis,
            "per network fetch",
            vec![
                by("fell back (any reason)", &|r| r.summary.fell_back),
                by("deadline", &|r| r.summary.fallbacks[0]),
                by("no providers", &|r| r.summary.fallbacks[1]),
                by("peers lost", &|r| r.summary.fallbacks[2]),
                by("stalled or slow", &|r| {
                    r.summary.fallbacks[3] + r.summary.fallbacks[4]
                }),
            ],
        ));
    }
    for (suffix, title, axis, y, lines) in charts {
        let p = out.join(format!("{name}{suffix}"));
        line_chart(&p, &title, &axis, y, &lines)?;
        written.push(p);
    }
    Ok(written)
}

/// The cross-workload chart: offload against mean concurrent peers, one line per file whose
/// plot section sets `density = true`.
pub fn write_density_chart(
    out: &Path,
    files: &[ScenarioFile],
    results: &[Vec<RunResult>],
) -> Result<Option<PathBuf>, SuiteError> {
    let lines: Vec<Line> = files
        .iter()
        .zip(results)
        .filter(|(f, _)| f.base.plot.density)
        .map(|(f, rs)| Line {
            label: f.base.name.clone(),
            points: rs
                .iter()
                .map(|r| (r.summary.online_avg, r.summary.offload))
                .collect(),
        })
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let p = out.join("offload-vs-peers.svg");
    line_chart(
        &p,
        "offload vs concurrent peers, by workload",
        &XAxis::Numeric {
            label: "mean concurrent peers".into(),
            log: true,
        },
        "offload",
        &lines,
    )?;
    Ok(Some(p))
}

/// Loads every scenario in `dir` (matching `filter`), runs them on `threads` threads and writes
/// per-file outputs into `out`, and, for a full run (no filter), `offload-vs-peers.svg` and
/// `summary.csv`.
pub fn run_all(
    dir: &Path,
    out: &Path,
    threads: usize,
    filter: Option<&str>,
    done: &(dyn Fn(&RunResult) + Sync),
) -> Result<Vec<RunResult>, SuiteError> {
    let files = load_dir(dir, filter)?;
    std::fs::create_dir_all(out).map_err(|source| SuiteError::Io {
        path: out.to_owned(),
        source,
    })?;
    let results = run_files(&files, threads, done)?;
    for (file, rs) in files.iter().zip(&results) {
        write_file_outputs(out, file, rs)?;
    }
    let all: Vec<RunResult> = if filter.is_none() {
        // Only a full run has every density scenario and every run for the combined files.
        write_density_chart(out, &files, &results)?;
        let all: Vec<RunResult> = results.into_iter().flatten().collect();
        write(&out.join("summary.csv"), &summary_csv(&all))?;
        all
    } else {
        results.into_iter().flatten().collect()
    };
    Ok(all)
}
