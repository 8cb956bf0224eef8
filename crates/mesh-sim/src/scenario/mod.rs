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

mod file;
mod spec;
mod validate;

use std::path::PathBuf;

pub use file::{ScenarioFile, Variant};
pub use spec::{
    Arrivals, MassDeparture, NetworkSpec, OriginSpec, Outage, PeerSpec, PlannerSpec, PlotSpec,
    Scenario, Sweep, VariantSpec, Workload,
};

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
