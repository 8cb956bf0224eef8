//! The simulated world: peers, the network between them, the bootstrap service and the origin,
//! advanced event by event in virtual time.
//!
//! Every peer runs mesh-core's real [`Planner`](mesh_core::fetch::Planner) over a real
//! [`MemoryStore`](mesh_core::store::MemoryStore). The world only does what a browser node's
//! driver does: it carries out the planner's actions (send wire messages, dial, look up
//! providers, fetch from the origin, announce) and feeds back what happens, with the time it
//! happens. Serving other peers is done from the peer's own store, so a peer can only serve
//! what it really holds.
//!
//! The code is split by concern: [`peer`] (a tab's state), `session` (arrivals, page views,
//! departures), `links` (connections, messages, uploads), `origin` (HTTP bodies) and `drive`
//! (handing inputs to the planner and carrying out its outputs).

mod drive;
mod links;
mod origin;
pub(crate) mod peer;
mod session;

use bytes::Bytes;
use mesh_core::fetch::{Config, OriginRequestId};
use mesh_core::serve::ServeConfig;

use crate::content::{BlockRef, Catalogue};
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::rng::{Purpose, Stream, Zipf};
use crate::scenario::{Arrivals, Scenario, Workload};
use peer::{Attrs, PeerState};

/// Most planner outputs handled after one input: a planner that loops is a bug, and this
/// turns it into a visible stop instead of a hang.
const MAX_OUTPUTS_PER_DRAIN: usize = 1 << 20;
/// An overdue planner timer is re-armed this far ahead, so a timer the planner cannot clear
/// costs a bounded number of events rather than a loop at one instant.
const OVERDUE_TIMER_US: u64 = 100;

/// Something that happens at a point in virtual time.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A scheduled session start (initial population, burst).
    Arrive,
    /// The next Poisson arrival of a steady population; schedules the one after.
    SteadyArrival,
    /// A session ends.
    Leave { peer: u32 },
    /// A page view (site) or the download (large file).
    View { peer: u32 },
    /// The planner's timer.
    Timer { peer: u32 },
    /// A provider lookup answers.
    Lookup { peer: u32, asset: u32 },
    /// A provider record becomes visible.
    Announced { peer: u32, asset: u32 },
    /// A dial completes or fails.
    Dialed { from: u32, to: u32 },
    /// Want-have reaches `to`.
    WantHave {
        from: u32,
        to: u32,
        blocks: Vec<BlockRef>,
    },
    /// Have / don't-have answers reach `to`.
    Haves {
        to: u32,
        from: u32,
        answers: Vec<(BlockRef, bool)>,
    },
    /// Want-block reaches `to`.
    WantBlocks {
        from: u32,
        to: u32,
        blocks: Vec<BlockRef>,
    },
    /// Don't-have answers to want-blocks reach `to`.
    DontHaves {
        to: u32,
        from: u32,
        blocks: Vec<BlockRef>,
    },
    /// A cancel reaches `to`.
    Cancel {
        from: u32,
        to: u32,
        blocks: Vec<BlockRef>,
    },
    /// A peer's uplink is free again.
    UploadDone { peer: u32 },
    /// A block reaches `to`.
    Block {
        to: u32,
        from: u32,
        block: BlockRef,
        data: Bytes,
    },
    /// The next piece of an origin body arrives.
    OriginPiece { peer: u32, request: OriginRequestId },
    /// An origin request fails.
    OriginFailed { peer: u32, request: OriginRequestId },
    /// A share of the online peers leaves at once.
    MassDeparture { fraction: f64 },
}

/// Scenario numbers converted once to the units the engine uses.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) end_us: u64,
    pub(crate) core_us: u64,
    pub(crate) cache_bytes: u64,
    /// The serving policy of every peer (mesh-core's block server).
    pub(crate) serve: ServeConfig,
    pub(crate) warm_peers: usize,
    pub(crate) max_connections: usize,
    pub(crate) providers_per_lookup: usize,
    pub(crate) nat_timeout_us: u64,
    pub(crate) mesh: bool,
    pub(crate) nat_aware: bool,
    pub(crate) large_file: bool,
    pub(crate) outages: Vec<(u64, u64)>,
}

fn us(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e6) as u64
}

fn ms_us(ms: f64) -> u64 {
    (ms.max(0.0) * 1e3) as u64
}

/// Bytes per second from Mbit/s.
fn mbps(v: f64) -> f64 {
    (v * 125_000.0).max(1.0)
}

/// Microseconds to move `bytes` at `rate` bytes per second.
fn transfer_us(bytes: u64, rate: f64) -> u64 {
    (bytes as f64 * 1e6 / rate.max(1.0)).ceil() as u64
}

/// The world.
pub(crate) struct World<'a> {
    pub(crate) sc: &'a Scenario,
    pub(crate) cat: &'a Catalogue,
    pub(crate) config: Config,
    pub(crate) p: Params,
    pub(crate) now: u64,
    pub(crate) queue: Queue<Ev>,
    pub(crate) attrs: Vec<Attrs>,
    /// Transfers under way to each peer (sharing its downlink).
    pub(crate) downloads: Vec<u32>,
    pub(crate) peers: Vec<Option<Box<PeerState>>>,
    pub(crate) registry: Registry,
    pub(crate) metrics: Metrics,
    pub(crate) zipf: Option<Zipf>,
    pub(crate) net_rng: Stream,
    pub(crate) reg_rng: Stream,
    pub(crate) arrival_rng: Stream,
    pub(crate) departure_rng: Stream,
}

impl<'a> World<'a> {
    pub(crate) fn new(sc: &'a Scenario, cat: &'a Catalogue) -> Self {
        let end_us = us(sc.duration_s);
        let p = Params {
            end_us,
            core_us: ms_us(sc.network.core_latency_ms),
            cache_bytes: (sc.peers.cache_mb * 1_048_576.0) as u64,
            serve: ServeConfig::new()
                .with_upload_budget(Some((sc.peers.upload_mb_per_minute * 1_048_576.0) as u64)),
            warm_peers: sc.peers.warm_peers as usize,
            max_connections: sc.peers.max_connections.max(1) as usize,
            providers_per_lookup: sc.network.providers_per_lookup as usize,
            nat_timeout_us: ms_us(sc.network.nat_dial_timeout_ms),
            mesh: sc.network.mesh,
            nat_aware: sc.network.nat_aware_registry,
            large_file: matches!(sc.workload, Workload::LargeFile { .. }),
            outages: sc
                .origin
                .outages
                .iter()
                .map(|o| (us(o.start_s), us(o.end_s)))
                .collect(),
        };
        let zipf = match &sc.workload {
            Workload::Site { assets, zipf_s, .. } => Some(Zipf::new(*assets as usize, *zipf_s)),
            Workload::LargeFile { .. } => None,
        };
        let mut w = Self {
            sc,
            cat,
            // The catalogue's blocks are what peers serve and what origin bodies are cut from;
            // planners recognise them instead of re-hashing the same bytes (mesh_core::known).
            config: sc.planner.config().with_known_blocks(cat.known_blocks()),
            now: 0,
            queue: Queue::new(),
            attrs: Vec::new(),
            downloads: Vec::new(),
            peers: Vec::new(),
            registry: Registry::new(cat.assets.len()),
            metrics: Metrics::new(end_us, us(sc.bucket_s), us(sc.warmup_s), cat.assets.len()),
            zipf,
            net_rng: Stream::new(sc.seed, Purpose::Network, 0),
            reg_rng: Stream::new(sc.seed, Purpose::Registry, 0),
            arrival_rng: Stream::new(sc.seed, Purpose::Arrivals, 0),
            departure_rng: Stream::new(sc.seed, Purpose::Departures, 0),
            p,
        };
        w.schedule_arrivals();
        for d in &sc.mass_departures {
            w.queue.push(
                us(d.at_s),
                Ev::MassDeparture {
                    fraction: d.fraction,
                },
            );
        }
        w
    }

    fn schedule_arrivals(&mut self) {
        match self.sc.arrivals {
            Arrivals::Steady { concurrent, ramp_s } => {
                for _ in 0..concurrent {
                    let t = us(ramp_s * self.arrival_rng.unit());
                    self.queue.push(t, Ev::Arrive);
                }
                if concurrent > 0 {
                    self.next_steady_arrival();
                }
            }
            Arrivals::Burst { users, over_s } => {
                for _ in 0..users {
                    let t = us(over_s * self.arrival_rng.unit());
                    self.queue.push(t, Ev::Arrive);
                }
            }
        }
    }

    /// Schedules the next arrival of the steady population (rate = concurrent / mean session).
    fn next_steady_arrival(&mut self) {
        if let Arrivals::Steady { concurrent, .. } = self.sc.arrivals {
            let mean_session = self.sc.peers.session_s.mean().max(1e-3);
            let gap = self
                .arrival_rng
                .exponential(mean_session / f64::from(concurrent.max(1)));
            self.queue.push(self.now + us(gap), Ev::SteadyArrival);
        }
    }

    /// Runs to the end; returns the metrics and the peak event-queue length.
    pub(crate) fn run(mut self) -> (Metrics, usize) {
        while let Some((t, ev)) = self.queue.pop() {
            if t > self.p.end_us {
                break;
            }
            self.now = t;
            self.metrics.events += 1;
            self.dispatch(ev);
        }
        self.metrics.finish(self.p.end_us);
        let peak = self.queue.peak();
        (self.metrics, peak)
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive => self.arrive(),
            Ev::SteadyArrival => {
                self.arrive();
                self.next_steady_arrival();
            }
            Ev::Leave { peer } => self.session_over(peer),
            Ev::View { peer } => self.view(peer),
            Ev::Timer { peer } => self.timer(peer),
            Ev::Lookup { peer, asset } => self.lookup_done(peer, asset),
            Ev::Announced { peer, asset } => self.announced(peer, asset),
            Ev::Dialed { from, to } => self.dialed(from, to),
            Ev::WantHave { from, to, blocks } => self.want_have(from, to, blocks),
            Ev::Haves { to, from, answers } => self.haves(to, from, answers),
            Ev::WantBlocks { from, to, blocks } => self.want_blocks(from, to, blocks),
            Ev::DontHaves { to, from, blocks } => self.dont_haves(to, from, blocks),
            Ev::Cancel { from, to, blocks } => self.cancel(from, to, blocks),
            Ev::UploadDone { peer } => self.upload_done(peer),
            Ev::Block {
                to,
                from,
                block,
                data,
            } => self.block_arrived(to, from, block, data),
            Ev::OriginPiece { peer, request } => self.origin_piece(peer, request),
            Ev::OriginFailed { peer, request } => self.origin_failed(peer, request),
            Ev::MassDeparture { fraction } => self.mass_departure(fraction),
        }
    }

    /// Runs `f` on an online peer's state, taken out of the table for the duration so that
    /// `f` may use the rest of the world freely. `None` if the peer is not online.
    pub(crate) fn with_peer<R>(
        &mut self,
        id: u32,
        f: impl FnOnce(&mut Self, &mut PeerState) -> R,
    ) -> Option<R> {
        let mut st = self.peers.get_mut(id as usize)?.take()?;
        let r = f(self, &mut st);
        self.peers[id as usize] = Some(st);
        Some(r)
    }

    /// One-way latency between two peers.
    pub(crate) fn one_way(&self, a: u32, b: u32) -> u64 {
        self.attrs[a as usize].latency_us + self.attrs[b as usize].latency_us + self.p.core_us
    }

    /// Round trip between a peer and the bootstrap service.
    pub(crate) fn bootstrap_rtt(&self, a: u32) -> u64 {
        2 * (self.attrs[a as usize].latency_us + self.p.core_us)
    }

    pub(crate) fn online(&self, peer: u32) -> bool {
        self.attrs.get(peer as usize).is_some_and(|a| a.online)
    }

    /// Whether two peers can connect at all: not both behind NATs.
    pub(crate) fn reachable(&self, a: u32, b: u32) -> bool {
        !(self.attrs[a as usize].nat && self.attrs[b as usize].nat)
    }

    /// Starts moving `bytes` to `to` at `start`, sent at `rate`; returns when the last byte is
    /// received (before the propagation delay). The receiver's downlink is shared: a transfer
    /// gets the sender's rate or an equal share of the downlink among the transfers to that
    /// peer running when it starts, whichever is less (a one-shot approximation of fair
    /// sharing; it is not revised as other transfers come and go). Every call must be matched
    /// by one [`World::end_download`] when the transfer's arrival event runs.
    pub(crate) fn start_download(&mut self, to: u32, start: u64, bytes: u64, rate: f64) -> u64 {
        let active = &mut self.downloads[to as usize];
        *active += 1;
        let share = self.attrs[to as usize].down_bps / f64::from(*active);
        start + transfer_us(bytes, rate.min(share))
    }

    /// A transfer to `to` started by [`World::start_download`] has arrived (or been dropped).
    pub(crate) fn end_download(&mut self, to: u32) {
        if let Some(active) = self.downloads.get_mut(to as usize) {
            *active = active.saturating_sub(1);
        }
    }

    pub(crate) fn origin_down(&self, t: u64) -> bool {
        self.p.outages.iter().any(|&(s, e)| s <= t && t < e)
    }
}
