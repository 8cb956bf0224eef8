//! # mesh-sim
//!
//! A deterministic discrete-event simulator of a mesh swarm, driving mesh-core's real fetch
//! [`Planner`](mesh_core::fetch::Planner) and [`MemoryStore`](mesh_core::store::MemoryStore) in
//! every simulated tab, so that offload, latency and bootstrap load can be measured at ten
//! thousand peers before anything is deployed, with the very policy the browser node runs.
//!
//! * [`scenario`]: the TOML scenario files (peers, network, origin, planner settings,
//!   workload, sweeps).
//! * [`run`]: one scenario to a [`RunResult`] (summary plus time series).
//! * [`suite`]: every variant of every file, on all cores, to CSV and SVG.
//! * [`report`] and [`plot`]: the CSV and SVG writers.
//!
//! Same scenario, same seed: byte-identical output. See `docs/SIMULATION.md` for the model,
//! the scenarios and the results.

mod content;
mod dist;
mod histogram;
mod metrics;
pub mod plot;
mod queue;
mod registry;
pub mod report;
mod result;
mod rng;
pub mod scenario;
pub mod suite;
mod world;

use std::time::Instant as WallClock;

pub use content::ContentError;
pub use dist::Dist;
pub use result::{Perf, RunResult, SeriesRow, Summary};
pub use scenario::{Scenario, ScenarioError, ScenarioFile, Variant};

use content::Catalogue;
use result::{SeriesRow as R, Summary as S};
use world::World;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is not valid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The catalogue could not be built.
    #[error(transparent)]
    Content(#[from] ContentError),
}

/// Runs one variant to the end.
pub fn run(variant: &Variant) -> Result<RunResult, SimError> {
    let started = WallClock::now();
    let sc = &variant.scenario;
    sc.validate(&sc.name)?;
    let catalogue = Catalogue::build(sc.seed, &sc.workload)?;
    let world = World::new(sc, &catalogue);
    let (metrics, peak_queue) = world.run();
    Ok(RunResult {
        scenario: sc.name.clone(),
        variant: variant.label.clone(),
        x: variant.x,
        summary: S::from_metrics(&metrics),
        series: R::from_metrics(&metrics),
        perf: Perf {
            events: metrics.events,
            peak_queue,
            wall: started.elapsed(),
        },
    })
}
