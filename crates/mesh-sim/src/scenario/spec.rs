//! The fields of a scenario, their defaults and why.

use std::time::Duration;

use mesh_core::fetch::Config;
use serde::Deserialize;

use crate::dist::Dist;

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
    /// Upload budget, MiB per minute: mesh-core's block server refuses want-blocks beyond it
    /// (bursts up to one minute's worth), as the browser node's `uploadBytesPerMinute` does.
    /// Default 64, the browser node's default.
    #[serde(default = "d_upload_per_minute")]
    pub upload_mb_per_minute: f64,
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
fn d_upload_per_minute() -> f64 {
    64.0
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
            upload_mb_per_minute: d_upload_per_minute(),
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
    /// Most providers one lookup returns; the planner dials every one it is not connected to.
    /// Default 3: more only adds dials (see the `connections` scenario).
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
    3
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
    /// [`Config::large_fallback_after`], ms.
    pub large_fallback_after_ms: Option<f64>,
    /// [`Config::stall_timeout`], ms.
    pub stall_timeout_ms: Option<f64>,
    /// [`Config::max_in_flight_per_peer`].
    pub max_in_flight_per_peer: Option<usize>,
    /// [`Config::slow_peer_factor`].
    pub slow_peer_factor: Option<f64>,
    /// `false` turns off slow-peer hedging (sets [`Config::slow_peer_factor`] to infinity:
    /// a peer is never judged slower than the origin). The deadline fallback stays.
    pub hedging: Option<bool>,
    /// [`Config::stall_rate_floor`], in Mbit/s.
    pub stall_floor_mbps: Option<f64>,
    /// [`Config::origin_ranges_once_known`].
    pub origin_ranges: Option<bool>,
    /// [`Config::want_block_first`].
    pub want_block_first: Option<usize>,
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
        if let Some(ms) = self.large_fallback_after_ms {
            c = c.with_large_fallback_after(millis(ms));
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
        if let Some(mbps) = self.stall_floor_mbps {
            c = c.with_stall_rate_floor(mbps * 1e6 / 8.0);
        }
        if let Some(on) = self.origin_ranges {
            c = c.with_origin_ranges_once_known(on);
        }
        if let Some(n) = self.want_block_first {
            c = c.with_want_block_first(n);
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
