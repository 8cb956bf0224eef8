//! End-to-end runs of small swarms: determinism, and the effects the model must show whatever
//! its parameters (more peers, more offload; NATs cost offload; peers cover an origin outage;
//! a mass departure does not strand fetches). Small enough to run in debug builds.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use mesh_sim::report::{series_csv, summary_csv};
use mesh_sim::suite::{load_dir, run_files, write_file_outputs};
use mesh_sim::{RunResult, ScenarioError, ScenarioFile, run};

const SITE: &str = r#"
[workload]
kind = "site"
assets = 40
zipf_s = 1.2
size_kb = { lognormal = { median = 8, sigma = 1.0, max = 512 } }
assets_per_view = 4
view_interval_s = { exponential = { mean = 30 } }
"#;

fn parse(text: &str) -> ScenarioFile {
    ScenarioFile::parse(text, Path::new("test.toml")).unwrap()
}

/// A small steady site swarm; `extra` is appended (tables, variants).
fn site(name: &str, peers: u32, duration_s: u32, extra: &str) -> ScenarioFile {
    parse(&format!(
        "name = \"{name}\"\nduration_s = {duration_s}\nwarmup_s = 60\nbucket_s = 30\n\
         [arrivals]\nmode = \"steady\"\nconcurrent = {peers}\nramp_s = 30\n{SITE}\n{extra}"
    ))
}

fn run_all(file: &ScenarioFile) -> Vec<RunResult> {
    file.variants.iter().map(|v| run(v).unwrap()).collect()
}

#[test]
fn the_same_seed_gives_identical_csv() {
    let file = site("det", 20, 300, "");
    let a = run_all(&file);
    let b = run_all(&file);
    assert_eq!(summary_csv(&a), summary_csv(&b));
    assert_eq!(series_csv(&a), series_csv(&b));
    assert!(
        a[0].summary.fetches > 50,
        "the swarm did work: {:?}",
        a[0].summary
    );
    let mut other = file.clone();
    other.variants[0].scenario.seed = 2;
    let c = run_all(&other);
    assert_ne!(
        summary_csv(&a),
        summary_csv(&c),
        "another seed, another run"
    );
}

#[test]
fn more_peers_give_more_offload() {
    let sparse = run_all(&site("sparse", 1, 420, ""));
    let dense = run_all(&site("dense", 40, 420, ""));
    let (s, d) = (&sparse[0].summary, &dense[0].summary);
    assert!(
        s.offload < 0.3,
        "a peer or two rarely has what another wants: {s:?}"
    );
    assert!(
        d.offload > s.offload + 0.15,
        "dense {} vs sparse {}",
        d.offload,
        s.offload
    );
    assert_eq!(d.failed, 0);
}

#[test]
fn nats_cost_offload() {
    let file = site(
        "nat",
        30,
        420,
        r#"
[[variants]]
label = "open"
set = { "peers.nat_fraction" = 0.0 }
[[variants]]
label = "mostly NATed"
set = { "peers.nat_fraction" = 0.8 }
"#,
    );
    let r = run_all(&file);
    let (open, nat) = (&r[0].summary, &r[1].summary);
    assert!(
        nat.offload < open.offload - 0.05,
        "open {} vs NATed {}",
        open.offload,
        nat.offload
    );
    assert!(nat.dial_failure > open.dial_failure);
}

#[test]
fn peers_serve_what_they_hold_while_the_origin_is_down() {
    // The origin fails from minute 5 on; the hot assets are in many caches by then.
    let file = site(
        "outage",
        30,
        600,
        "[origin]\noutages = [{ start_s = 300, end_s = 600 }]",
    );
    let r = &run_all(&file)[0];
    let during: Vec<_> = r.series.iter().filter(|s| s.t_s >= 330.0).collect();
    let completed: f64 = during.iter().map(|s| s.completed_per_s).sum();
    let origin: f64 = during.iter().map(|s| s.origin_mbps).sum();
    assert_eq!(origin, 0.0, "nothing comes from a dead origin");
    assert!(completed > 0.0, "peers still complete fetches");
    let up = &run_all(&site("up", 30, 600, ""))[0];
    assert!(
        r.summary.offload > up.summary.offload + 0.1,
        "with the origin down, peers carry more: {} vs {}",
        r.summary.offload,
        up.summary.offload
    );
}

#[test]
fn peers_serve_within_the_block_servers_upload_budget() {
    let file = site(
        "budget",
        30,
        420,
        r#"
[[variants]]
label = "browser default"
set = { "peers.upload_mb_per_minute" = 64.0 }
[[variants]]
label = "a trickle"
set = { "peers.upload_mb_per_minute" = 0.01 }
[[variants]]
label = "none"
set = { "peers.upload_mb_per_minute" = 0.0 }
"#,
    );
    let r = run_all(&file);
    let (full, trickle, none) = (&r[0].summary, &r[1].summary, &r[2].summary);
    assert_eq!(none.peer_gib, 0.0, "a budget of 0 serves nothing: {none:?}");
    assert_eq!(none.offload, 0.0);
    assert_eq!(none.failed, 0, "the origin covers every refusal");
    assert!(
        trickle.peer_gib < full.peer_gib,
        "a spent budget refuses blocks: {} vs {} GiB",
        trickle.peer_gib,
        full.peer_gib
    );
    assert!(full.offload > 0.2, "{full:?}");
}

#[test]
fn fetches_still_complete_after_a_mass_departure() {
    let file = site(
        "exodus",
        30,
        480,
        "[[mass_departures]]\nat_s = 240\nfraction = 0.6",
    );
    let r = &run_all(&file)[0];
    let at = r.series.iter().find(|s| s.t_s == 240.0).unwrap();
    assert!(
        at.departures >= 18,
        "the departure happened: {}",
        at.departures
    );
    let after: f64 = r
        .series
        .iter()
        .filter(|s| s.t_s > 240.0)
        .map(|s| s.completed_per_s)
        .sum();
    assert!(after > 0.0);
    assert_eq!(
        r.summary.failed, 0,
        "the origin covers what leaving peers held"
    );
}

#[test]
fn every_user_of_a_burst_gets_the_large_file() {
    let file = parse(
        r#"
name = "patch"
duration_s = 900
[arrivals]
mode = "burst"
users = 12
over_s = 60
[peers]
session_s = 30
[workload]
kind = "large-file"
size_mb = 2
"#,
    );
    let r = &run_all(&file)[0];
    assert_eq!(r.summary.sessions, 12);
    assert_eq!(r.summary.fetches, 12, "{:?}", r.summary);
    assert_eq!(r.summary.failed, 0);
    assert!(
        r.summary.offload > 0.1,
        "later users fetch from earlier ones"
    );
}

#[test]
fn outputs_are_written() {
    let file = site(
        "out",
        5,
        180,
        "[sweep]\nparam = \"arrivals.concurrent\"\nvalues = [3, 6]",
    );
    let results = run_files(std::slice::from_ref(&file), 2, &|_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written = write_file_outputs(dir.path(), &file, &results[0]).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "out.csv",
        "out-series.csv",
        "out-origin.svg",
        "out-timeline.svg",
        "out-offload.svg",
        "out-ttfb.svg",
        "out-fallbacks.svg",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header and one row per variant");
    assert!(csv.starts_with("scenario,variant,x,online_avg"));
    let svg = std::fs::read_to_string(dir.path().join("out-offload.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("offload"));
}

#[test]
fn the_shipped_scenarios_parse() {
    let dir = manifest_dir().join("scenarios");
    let files = load_dir(&dir, None).unwrap();
    assert!(files.len() >= 10);
    for f in &files {
        assert!(!f.variants.is_empty(), "{}", f.base.name);
    }
    for bench in ["site-10k.toml", "site-10k-busy.toml"] {
        let path = manifest_dir().join("bench").join(bench);
        ScenarioFile::load(&path).unwrap();
    }
}

#[test]
fn scenario_errors_say_where_and_what() {
    let bad_field = "name = \"x\"\nduration_s = 60\n[arrivals]\nmode = \"steady\"\nconcurent = 3\n";
    let e = ScenarioFile::parse(bad_field, Path::new("bad.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ScenarioError::Parse { .. }));
    assert!(
        msg.contains("bad.toml") && msg.contains("concurent"),
        "{msg}"
    );
    assert!(msg.contains("line"), "{msg}");

    let out_of_range = format!(
        "name = \"x\"\nduration_s = 60\n[arrivals]\nmode = \"steady\"\nconcurrent = 3\n\
         [peers]\nnat_fraction = 1.5\n{SITE}"
    );
    let e = ScenarioFile::parse(&out_of_range, Path::new("r.toml")).unwrap_err();
    assert!(
        e.to_string().contains("peers.nat_fraction") && e.to_string().contains("1.5"),
        "{e}"
    );

    let bad_variant = format!(
        "name = \"x\"\nduration_s = 60\n[arrivals]\nmode = \"steady\"\nconcurrent = 3\n{SITE}\n\
         [[variants]]\nlabel = \"broken\"\nset = {{ \"peers.cache_mb\" = \"lots\" }}\n"
    );
    let e = ScenarioFile::parse(&bad_variant, Path::new("v.toml")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("broken") && msg.contains("cache_mb"), "{msg}");

    let bad_dist = "name = \"x\"\nduration_s = 60\n[arrivals]\nmode = \"steady\"\nconcurrent = 3\n\
                    [peers]\nlatency_ms = { gaussian = { mean = 3 } }\n";
    let e = ScenarioFile::parse(bad_dist, Path::new("d.toml")).unwrap_err();
    assert!(e.to_string().contains("gaussian"), "{e}");
}

/// This crate's directory, read when the test runs: clones sharing one `CARGO_TARGET_DIR` may
/// reuse a test binary built in another clone, whose compile-time path may be gone.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
}
