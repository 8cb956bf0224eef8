//! Scenario files: what to simulate, in TOML.
//!
//! A file describes one base scenario and optionally a set of variants of it (a sweep of one
//! parameter, or hand-written variants that change several). Every field but `name`,
//! `duration_s` and the workload has a default, so a file only says what is special about it;
//! the defaults, and why they were chosen, are documented on each field and in
//! `docs/SIMULATION.md`. Planner settings left out are mesh-core's own defaults, the ones the
//! browser node ships with.
//!
//! ```toml
//! name = "site-density"
//! duration_s = 3600
//! warmup_s = 600
//!
//! [arrivals]
//! mode = "steady"
//! concurrent = 1000
//!
//! [workload]
//! kind = "site"
//! assets = 300
//!
//! [sweep]
//! param = "arrivals.concurrent"
//! values = [10, 100, 1000]
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_core::fetch::Config;
use serde::Deserialize;

use crate::dist::Dist;

/// Most peers (sessions) one run may create: bounds the per-peer tables.
pub const MAX_SESSIONS: u64 = 2_000_000;
/// Most assets in a catalogue.
pub const MAX_ASSETS: u32 = 200_000;
/// Largest simulated duration (a day).
pub const MAX_DURATION_S: f64 = 86_400.0;
/// Most time buckets of a run's time series.
pub const MAX_BUCKETS: f64 = 10_000.0;
/// Most variants one file may expand to.
pub const MAX_VARIANTS: usize = 64;
/// Largest single asset (mesh-core's default asset limit).
pub const MAX_ASSET_MB: f64 = 256.0;

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or not the expected fields (the message shows line and column).
    #[error("scenario {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent.
    #[error("scenario {scenario}: `{field}` {reason}")]
    Invalid {
        /// Scenario (and variant) name.
        scenario: String,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A variant or sweep could not be applied.
    #[error("scenario {scenario}, variant {variant}: {reason}")]
    Variant {
        /// Scenario name.
        scenario: String,
        /// Variant label.
        variant: String,
        /// What is wrong.
        reason: String,
    },
}

/// One run's complete description.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; names the output files.
    pub name: String,
    /// One line saying what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Seed of every random draw. Same seed, same output.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time.
    pub duration_s: f64,
    /// Width of a time-series bucket. Default 60 s.
    #[serde(default = "default_bucket")]
    pub bucket_s: f64,
    /// Time left out of the summary while caches fill. Default 0.
    #[serde(default)]
    pub warmup_s: f64,
    /// Who arrives when.
    pub arrivals: Arrivals,
    /// What a peer is like.
    #[serde(default)]
    pub peers: PeerSpec,
    /// The network between peers, and the bootstrap/DHT stand-in.
    #[serde(default)]
    pub network: NetworkSpec,
    /// The origin (CDN).
    #[serde(default)]
    pub origin: OriginSpec,
    /// mesh-core planner settings; absent fields keep mesh-core's defaults.
    #[serde(default)]
    pub planner: PlannerSpec,
    /// What peers fetch.
    pub workload: Workload,
    /// Many peers leaving at once.
    #[serde(default)]
    pub mass_departures: Vec<MassDeparture>,
    /// How to plot a sweep.
    #[serde(default)]
    pub plot: PlotSpec,
    /// One parameter swept over values (expanded by [`ScenarioFile`]).
    #[serde(default)]
    pub sweep: Option<Sweep>,
    /// Hand-written variants (expanded by [`ScenarioFile`]).
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
}

fn default_seed() -> u64 {
    1
}
fn default_bucket() -> f64 {
    60.0
}

/// When sessions start.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Arrivals {
    /// A steady population: `concurrent` peers arrive over `ramp_s` at the start, then Poisson
    /// arrivals at rate `concurrent / mean session` keep the population there (Little's law).
    Steady {
        /// Target number of peers online at once.
        concurrent: u32,
        /// Window over which the initial population arrives. Default 120 s.
        #[serde(default = "default_ramp")]
        ramp_s: f64,
    },
    /// A burst: `users` arrive uniformly at random over `over_s`, and nobody else.
    Burst {
        /// How many.
        users: u32,
        /// Over how long.
        over_s: f64,
    },
}

fn default_ramp() -> f64 {
    120.0
}

/// Peer attributes, drawn per peer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSpec {
    /// Session length. Default log-normal, median 300 s, σ 1 (mean ≈ 8 min): web sessions are
    /// short and heavy-tailed.
    #[serde(default = "d_session")]
    pub session_s: Dist,
    /// Share of peers behind NATs that cannot accept connections (two of them cannot connect
    /// to each other). Default 0.2 (15–25 % is typical on mobile).
    #[serde(default = "d_nat")]
    pub nat_fraction: f64,
    /// One-way access latency. Default log-normal, median 15 ms, σ 0.6.
    #[serde(default = "d_latency")]
    pub latency_ms: Dist,
    /// Downlink. Default log-normal, median 30 Mbit/s, σ 0.8.
    #[serde(default = "d_down")]
    pub down_mbps: Dist,
    /// Uplink. Default log-normal, median 8 Mbit/s, σ 0.8.
    #[serde(default = "d_up")]
    pub up_mbps: Dist,
    /// Share of the uplink mesh may use for serving. Default 0.5.
    #[serde(default = "d_half")]
    pub upload_fraction: f64,
    /// Block store budget (the tab's cache), MiB. Default 64.
    #[serde(default = "d_cache")]
    pub cache_mb: f64,
    /// Most bytes one session serves to others, MiB. Default 200.
    #[serde(default = "d_upload_budget")]
    pub upload_budget_mb: f64,
    /// Connections a peer opens to random peers when it joins (and tops up at each page view).
    /// Default 4.
    #[serde(default = "d_warm")]
    pub warm_peers: u32,
    /// Most open connections; opening one more closes the least recently used. Default 16.
    #[serde(default = "d_max_conn")]
    pub max_connections: u32,
}

fn d_session() -> Dist {
    Dist::LogNormal {
        median: 300.0,
        sigma: 1.0,
        max: Some(4.0 * 3600.0),
    }
}
fn d_nat() -> f64 {
    0.2
}
fn d_latency() -> Dist {
    Dist::LogNormal {
        median: 15.0,
        sigma: 0.6,
        max: Some(500.0),
    }
}
fn d_down() -> Dist {
    Dist::LogNormal {
        median: 30.0,
        sigma: 0.8,
        max: Some(1000.0),
    }
}
fn d_up() -> Dist {
    Dist::LogNormal {
        median: 8.0,
        sigma: 0.8,
        max: Some(1000.0),
    }
}
fn d_half() -> f64 {
    0.5
}
fn d_cache() -> f64 {
    64.0
}
fn d_upload_budget() -> f64 {
    200.0
}
fn d_warm() -> u32 {
    4
}
fn d_max_conn() -> u32 {
    16
}

impl Default for PeerSpec {
    fn default() -> Self {
        Self {
            session_s: d_session(),
            nat_fraction: d_nat(),
            latency_ms: d_latency(),
            down_mbps: d_down(),
            up_mbps: d_up(),
            upload_fraction: d_half(),
            cache_mb: d_cache(),
            upload_budget_mb: d_upload_budget(),
            warm_peers: d_warm(),
            max_connections: d_max_conn(),
        }
    }
}

/// The network and the discovery service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Whether peers use each other at all; `false` is the origin-only baseline (every fetch
    /// learns at once that there are no providers). Default true.
    #[serde(default = "d_true")]
    pub mesh: bool,
    /// One-way latency between two access networks, added to both peers' access latencies.
    /// Default 10 ms.
    #[serde(default = "d_core")]
    pub core_latency_ms: f64,
    /// Provider lookup at the bootstrap/DHT, request to answer. Default log-normal, median
    /// 80 ms, σ 0.5.
    #[serde(default = "d_lookup")]
    pub lookup_ms: Dist,
    /// Provider announcement, until the record is visible. Default 100 ms.
    #[serde(default = "d_announce")]
    pub announce_ms: Dist,
    /// Most providers one lookup returns. Default 10.
    #[serde(default = "d_providers")]
    pub providers_per_lookup: u32,
    /// Round trips to set up a peer connection (signalling through the relay, ICE, DTLS).
    /// Default 3.
    #[serde(default = "d_connect_rtts")]
    pub connect_rtts: f64,
    /// How long a dial between two NATed peers takes to fail. Default 5000 ms.
    #[serde(default = "d_nat_timeout")]
    pub nat_dial_timeout_ms: f64,
    /// Whether the registry knows which peers are NATed and hands a NATed asker only
    /// reachable providers. Default false: browsers do not learn their NAT type reliably.
    #[serde(default)]
    pub nat_aware_registry: bool,
}

fn d_true() -> bool {
    true
}
fn d_core() -> f64 {
    10.0
}
fn d_lookup() -> Dist {
    Dist::LogNormal {
        median: 80.0,
        sigma: 0.5,
        max: Some(5000.0),
    }
}
fn d_announce() -> Dist {
    Dist::Fixed(100.0)
}
fn d_providers() -> u32 {
    10
}
fn d_connect_rtts() -> f64 {
    3.0
}
fn d_nat_timeout() -> f64 {
    5000.0
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            mesh: true,
            core_latency_ms: d_core(),
            lookup_ms: d_lookup(),
            announce_ms: d_announce(),
            providers_per_lookup: d_providers(),
            connect_rtts: d_connect_rtts(),
            nat_dial_timeout_ms: d_nat_timeout(),
            nat_aware_registry: false,
        }
    }
}

/// The origin server (a CDN edge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginSpec {
    /// Time to first byte of a request. Default log-normal, median 50 ms, σ 0.5.
    #[serde(default = "d_origin_latency")]
    pub latency_ms: Dist,
    /// Throughput of one request (before the peer's downlink). Default log-normal, median
    /// 40 Mbit/s, σ 0.5.
    #[serde(default = "d_origin_rate")]
    pub mbps: Dist,
    /// Windows in which every origin request fails.
    #[serde(default)]
    pub outages: Vec<Outage>,
}

fn d_origin_latency() -> Dist {
    Dist::LogNormal {
        median: 50.0,
        sigma: 0.5,
        max: Some(5000.0),
    }
}
fn d_origin_rate() -> Dist {
    Dist::LogNormal {
        median: 40.0,
        sigma: 0.5,
        max: Some(1000.0),
    }
}

impl Default for OriginSpec {
    fn default() -> Self {
        Self {
            latency_ms: d_origin_latency(),
            mbps: d_origin_rate(),
            outages: Vec::new(),
        }
    }
}

/// The origin is down from `start_s` to `end_s`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Start.
    pub start_s: f64,
    /// End.
    pub end_s: f64,
}

/// Overrides of mesh-core's [`Config`]; what is left out keeps mesh-core's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerSpec {
    /// [`Config::fallback_after`], ms.
    pub fallback_after_ms: Option<f64>,
    /// [`Config::stall_timeout`], ms.
    pub stall_timeout_ms: Option<f64>,
    /// [`Config::max_in_flight_per_peer`].
    pub max_in_flight_per_peer: Option<usize>,
    /// [`Config::slow_peer_factor`].
    pub slow_peer_factor: Option<f64>,
    /// `false` turns off slow-peer hedging (sets [`Config::slow_peer_factor`] to infinity:
    /// a peer is never judged slower than the origin). The deadline fallback stays.
    pub hedging: Option<bool>,
    /// [`Config::announce`].
    pub announce: Option<bool>,
}

impl PlannerSpec {
    /// mesh-core's defaults with these overrides.
    pub fn config(&self) -> Config {
        let mut c = Config::new();
        if let Some(ms) = self.fallback_after_ms {
            c = c.with_fallback_after(millis(ms));
        }
        if let Some(ms) = self.stall_timeout_ms {
            c = c.with_stall_timeout(millis(ms));
        }
        if let Some(n) = self.max_in_flight_per_peer {
            c = c.with_max_in_flight_per_peer(n);
        }
        if let Some(f) = self.slow_peer_factor {
            c.slow_peer_factor = f;
        }
        if self.hedging == Some(false) {
            c.slow_peer_factor = f64::INFINITY;
        }
        if let Some(a) = self.announce {
            c = c.with_announce(a);
        }
        c
    }
}

fn millis(ms: f64) -> Duration {
    Duration::from_micros((ms.max(0.0) * 1000.0) as u64)
}

/// What peers fetch.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Workload {
    /// A static site (or a long-tail catalogue): each page view asks for `assets_per_view`
    /// distinct assets drawn by Zipf popularity from a catalogue of `assets`.
    Site {
        /// Catalogue size.
        assets: u32,
        /// Zipf exponent: about 1 for a site's assets, 0.6–0.8 for a long tail.
        zipf_s: f64,
        /// Asset sizes, KiB.
        size_kb: Dist,
        /// Assets per page view.
        assets_per_view: u32,
        /// Time between page views of one session.
        view_interval_s: Dist,
    },
    /// One large file (a patch) that every peer fetches once, on arrival. A peer stays until
    /// its download is complete, and at least its session length.
    LargeFile {
        /// The file's size, MiB.
        size_mb: f64,
    },
}

/// At `at_s`, `fraction` of the peers online leave at once.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MassDeparture {
    /// When.
    pub at_s: f64,
    /// Share of online peers leaving.
    pub fraction: f64,
}

/// How the variants of a file are plotted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// Label of the x axis (the swept quantity).
    pub x_label: Option<String>,
    /// Logarithmic x axis.
    #[serde(default)]
    pub x_log: bool,
    /// Include in the cross-workload "offload vs concurrent peers" chart.
    #[serde(default)]
    pub density: bool,
}

/// One parameter over several values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Dotted path of the field, e.g. `arrivals.concurrent` or `planner.fallback_after_ms`.
    pub param: String,
    /// The values.
    pub values: Vec<toml::Value>,
    /// Labels for the values (default `param=value`).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A variant: a label and fields to set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Label in tables and plots.
    pub label: String,
    /// Position on the x axis, if the variants have a numeric one.
    #[serde(default)]
    pub x: Option<f64>,
    /// Dotted field paths and their values.
    #[serde(default)]
    pub set: toml::Table,
}

/// One run of a file: a label, its x position and the scenario.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Label.
    pub label: String,
    /// Numeric x, when there is one.
    pub x: Option<f64>,
    /// The scenario to run.
    pub scenario: Scenario,
}

/// A parsed file: the base scenario and its variants (just the base when it has none).
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    /// The base scenario.
    pub base: Scenario,
    /// The runs.
    pub variants: Vec<Variant>,
}

impl ScenarioFile {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates scenario text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let parse_err = |source| ScenarioError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        };
        // Parsing the text first gives errors with line and column.
        let base: Scenario = toml::from_str(text).map_err(parse_err)?;
        base.validate(&base.name)?;
        let mut table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        table.remove("sweep");
        table.remove("variants");
        let mut specs: Vec<VariantSpec> = base.variants.clone();
        if let Some(sweep) = &base.sweep {
            if !sweep.labels.is_empty() && sweep.labels.len() != sweep.values.len() {
                return Err(ScenarioError::Invalid {
                    scenario: base.name.clone(),
                    field: "sweep.labels".into(),
                    reason: format!(
                        "has {} labels for {} values",
                        sweep.labels.len(),
                        sweep.values.len()
                    ),
                });
            }
            for (i, value) in sweep.values.iter().enumerate() {
                let label = sweep
                    .labels
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("{}={}", sweep.param, value));
                let mut set = toml::Table::new();
                set.insert(sweep.param.clone(), value.clone());
                specs.push(VariantSpec {
                    label,
                    x: value
                        .as_float()
                        .or_else(|| value.as_integer().map(|i| i as f64)),
                    set,
                });
            }
        }
        if specs.len() > MAX_VARIANTS {
            return Err(ScenarioError::Invalid {
                scenario: base.name.clone(),
                field: "variants".into(),
                reason: format!("expands to {} runs, more than {MAX_VARIANTS}", specs.len()),
            });
        }
        let mut variants = Vec::with_capacity(specs.len().max(1));
        if specs.is_empty() {
            let mut scenario = base.clone();
            scenario.sweep = None;
            scenario.variants.clear();
            variants.push(Variant {
                label: "base".into(),
                x: None,
                scenario,
            });
        }
        for spec in specs {
            let mut t = table.clone();
            for (key, value) in &spec.set {
                set_path(&mut t, key, value.clone()).map_err(|reason| ScenarioError::Variant {
                    scenario: base.name.clone(),
                    variant: spec.label.clone(),
                    reason,
                })?;
            }
            let scenario: Scenario =
                toml::Value::Table(t)
                    .try_into()
                    .map_err(|e: toml::de::Error| ScenarioError::Variant {
                        scenario: base.name.clone(),
                        variant: spec.label.clone(),
                        reason: e.to_string().trim().to_owned(),
                    })?;
            scenario.validate(&format!("{} [{}]", base.name, spec.label))?;
            variants.push(Variant {
                label: spec.label,
                x: spec.x,
                scenario,
            });
        }
        Ok(Self { base, variants })
    }
}

/// Sets `value` at dotted `path` in `table`, creating tables on the way.
fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return Err("empty field path".into());
    };
    let mut t = table;
    for part in parts {
        let entry = t
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{path}`: `{part}` is not a table"))?;
    }
    t.insert(last.to_owned(), value);
    Ok(())
}

impl Scenario {
    /// Checks ranges and consistency; `label` names the scenario in errors.
    pub fn validate(&self, label: &str) -> Result<(), ScenarioError> {
        let bad = |field: &str, reason: String| ScenarioError::Invalid {
            scenario: label.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let fraction = |field: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(bad(field, format!("is {v}, must be between 0 and 1")))
            }
        };
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(field, format!("is {v}, must be a finite number > 0")))
            }
        };
        let dist = |field: &str, d: &Dist| match d.problem() {
            Some(reason) => Err(bad(field, reason)),
            None => Ok(()),
        };
        positive("duration_s", self.duration_s)?;
        if self.duration_s > MAX_DURATION_S {
            return Err(bad(
                "duration_s",
                format!("is over the {MAX_DURATION_S} s limit"),
            ));
        }
        positive("bucket_s", self.bucket_s)?;
        if self.duration_s / self.bucket_s > MAX_BUCKETS {
            return Err(bad(
                "bucket_s",
                format!("gives more than {MAX_BUCKETS} buckets"),
            ));
        }
        if !(0.0..self.duration_s).contains(&self.warmup_s) {
            return Err(bad("warmup_s", "must be >= 0 and below duration_s".into()));
        }
        let sessions = match &self.arrivals {
            Arrivals::Steady { concurrent, ramp_s } => {
                if !ramp_s.is_finite() || *ramp_s < 0.0 {
                    return Err(bad("arrivals.ramp_s", "must be >= 0".into()));
                }
                let mean = self.peers.session_s.mean().max(1.0);
                f64::from(*concurrent) * (1.0 + self.duration_s / mean)
            }
            Arrivals::Burst { users, over_s } => {
                positive("arrivals.over_s", *over_s)?;
                f64::from(*users)
            }
        };
        if sessions > MAX_SESSIONS as f64 {
            return Err(bad(
                "arrivals",
                format!("would create about {sessions:.0} sessions, over {MAX_SESSIONS}"),
            ));
        }
        let p = &self.peers;
        dist("peers.session_s", &p.session_s)?;
        positive("peers.session_s (mean)", p.session_s.mean())?;
        fraction("peers.nat_fraction", p.nat_fraction)?;
        dist("peers.latency_ms", &p.latency_ms)?;
        dist("peers.down_mbps", &p.down_mbps)?;
        positive("peers.down_mbps (mean)", p.down_mbps.mean())?;
        dist("peers.up_mbps", &p.up_mbps)?;
        positive("peers.up_mbps (mean)", p.up_mbps.mean())?;
        fraction("peers.upload_fraction", p.upload_fraction)?;
        positive("peers.cache_mb", p.cache_mb)?;
        if !(p.upload_budget_mb.is_finite() && p.upload_budget_mb >= 0.0) {
            return Err(bad("peers.upload_budget_mb", "must be >= 0".into()));
        }
        if p.max_connections == 0 || p.max_connections > 1024 {
            return Err(bad(
                "peers.max_connections",
                "must be between 1 and 1024".into(),
            ));
        }
        if p.warm_peers > p.max_connections {
            return Err(bad(
                "peers.warm_peers",
                "must not exceed peers.max_connections".into(),
            ));
        }
        let n = &self.network;
        if !(n.core_latency_ms.is_finite() && n.core_latency_ms >= 0.0) {
            return Err(bad("network.core_latency_ms", "must be >= 0".into()));
        }
        dist("network.lookup_ms", &n.lookup_ms)?;
        dist("network.announce_ms", &n.announce_ms)?;
        if n.providers_per_lookup > 1000 {
            return Err(bad(
                "network.providers_per_lookup",
                "must be <= 1000".into(),
            ));
        }
        positive("network.connect_rtts", n.connect_rtts)?;
        positive("network.nat_dial_timeout_ms", n.nat_dial_timeout_ms)?;
        dist("origin.latency_ms", &self.origin.latency_ms)?;
        dist("origin.mbps", &self.origin.mbps)?;
        positive("origin.mbps (mean)", self.origin.mbps.mean())?;
        for o in &self.origin.outages {
            if !(o.start_s >= 0.0 && o.end_s > o.start_s) {
                return Err(bad("origin.outages", "need 0 <= start_s < end_s".into()));
            }
        }
        let pl = &self.planner;
        for (field, v) in [
            ("planner.fallback_after_ms", pl.fallback_after_ms),
            ("planner.stall_timeout_ms", pl.stall_timeout_ms),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(bad(field, "must be a finite number >= 0".into()));
            }
        }
        if let Some(f) = pl.slow_peer_factor
            && (f.is_nan() || f <= 0.0)
        {
            return Err(bad("planner.slow_peer_factor", "must be > 0".into()));
        }
        match &self.workload {
            Workload::Site {
                assets,
                zipf_s,
                size_kb,
                assets_per_view,
                view_interval_s,
            } => {
                if *assets == 0 || *assets > MAX_ASSETS {
                    return Err(bad(
                        "workload.assets",
                        format!("must be between 1 and {MAX_ASSETS}"),
                    ));
                }
                if !(zipf_s.is_finite() && *zipf_s >= 0.0) {
                    return Err(bad("workload.zipf_s", "must be >= 0".into()));
                }
                dist("workload.size_kb", size_kb)?;
                positive("workload.size_kb (mean)", size_kb.mean())?;
                if *assets_per_view == 0 || assets_per_view > assets {
                    return Err(bad(
                        "workload.assets_per_view",
                        "must be between 1 and workload.assets".into(),
                    ));
                }
                dist("workload.view_interval_s", view_interval_s)?;
                positive("workload.view_interval_s (mean)", view_interval_s.mean())?;
            }
            Workload::LargeFile { size_mb } => {
                positive("workload.size_mb", *size_mb)?;
                if *size_mb > MAX_ASSET_MB {
                    return Err(bad(
                        "workload.size_mb",
                        format!("is over the {MAX_ASSET_MB} MiB asset limit"),
                    ));
                }
            }
        }
        for d in &self.mass_departures {
            fraction("mass_departures.fraction", d.fraction)?;
            if !(d.at_s >= 0.0 && d.at_s < self.duration_s) {
                return Err(bad("mass_departures.at_s", "must be within the run".into()));
            }
        }
        Ok(())
    }
}
