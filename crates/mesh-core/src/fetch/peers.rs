//! What the planner knows about each peer: connection, score, requests in flight, speed.

use std::collections::BTreeMap;
use std::time::Duration;

use cid::Cid;

use super::FetchId;
use super::estimate::RateEstimate;
use crate::time::Instant;

/// Stalls in a row, with no block in between, after which a peer is taken for dead.
pub(crate) const MAX_STALL_STRIKES: u32 = 4;

/// Smallest block whose transfer time is taken as a throughput sample.
const MIN_RATE_SAMPLE_BYTES: u64 = 32 * 1024;

/// A block asked of a peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    /// The fetch that asked for it.
    pub(crate) fetch: FetchId,
    /// When the want-block left.
    pub(crate) sent: Instant,
    /// Expected size (leaf length, or a chunk for nodes of unknown size).
    pub(crate) expected: u64,
}

/// One peer.
#[derive(Debug)]
pub(crate) struct PeerState {
    pub(crate) connected: bool,
    pub(crate) score: i32,
    pub(crate) ignored: bool,
    pub(crate) in_flight: BTreeMap<Cid, InFlight>,
    pub(crate) rate: RateEstimate,
    /// Last time it delivered a block, or became busy after being idle: the stall clock.
    pub(crate) last_progress: Instant,
    /// Stalls since its last delivered block.
    pub(crate) stall_strikes: u32,
}

impl PeerState {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            connected: false,
            score: 0,
            ignored: false,
            in_flight: BTreeMap::new(),
            rate: RateEstimate::unknown(),
            last_progress: now,
            stall_strikes: 0,
        }
    }

    /// Whether blocks may be asked of it.
    pub(crate) fn usable(&self) -> bool {
        self.connected && !self.ignored
    }

    /// Records a request; restarts the stall clock if the peer was idle.
    pub(crate) fn request(&mut self, now: Instant, cid: Cid, flight: InFlight) {
        if self.in_flight.is_empty() {
            self.last_progress = now;
        }
        self.in_flight.insert(cid, flight);
    }

    /// Records a delivered block, sampling the rate from when this block could start moving:
    /// its request, or the previous delivery if that was later (pipelined blocks queue up).
    /// Small blocks (DAG nodes) say more about latency than throughput and are not sampled.
    pub(crate) fn delivered(&mut self, now: Instant, bytes: u64, flight: Option<InFlight>) {
        if let Some(flight) = flight.filter(|_| bytes >= MIN_RATE_SAMPLE_BYTES) {
            let from = flight.sent.max(self.last_progress);
            self.rate.sample(bytes, now.saturating_duration_since(from));
        }
        self.last_progress = now;
        self.stall_strikes = 0;
    }

    /// When it counts as stalled, if it has anything outstanding: `stall_timeout` after its last
    /// progress, or twice the time its known rate needs for the smallest outstanding block if
    /// that is longer — a slow peer that is still moving bytes is slow, not stalled. Each stall
    /// in a row doubles the patience, so a sole slow source is not declared dead too early.
    pub(crate) fn stall_at(&self, stall_timeout: Duration) -> Option<Instant> {
        let smallest = self.in_flight.values().map(|f| f.expected).min()?;
        let base = match self.rate.get() {
            Some(_) => stall_timeout.max(self.rate.time_for(smallest, 1.0) * 2),
            None => stall_timeout,
        };
        Some(self.last_progress + base * (1 << self.stall_strikes.min(MAX_STALL_STRIKES)))
    }

    /// Expected bytes still outstanding for `fetch`, and how many blocks.
    pub(crate) fn outstanding(&self, fetch: FetchId) -> (u64, usize) {
        self.in_flight
            .values()
            .filter(|f| f.fetch == fetch)
            .fold((0, 0), |(b, n), f| (b + f.expected, n + 1))
    }

    /// Adds `delta` to the score, capped at `max` above.
    pub(crate) fn adjust_score(&mut self, delta: i32, max: i32) -> i32 {
        self.score = self.score.saturating_add(delta).min(max);
        self.score
    }
}
