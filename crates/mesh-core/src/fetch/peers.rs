//! What the planner knows about each peer: connection, score, requests in flight, speed.

use std::collections::BTreeMap;
use std::time::Duration;

use cid::Cid;

use super::FetchId;
use super::estimate::RateEstimate;
use crate::time::Instant;

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
    pub(crate) fn delivered(&mut self, now: Instant, bytes: u64, flight: Option<InFlight>) {
        if let Some(flight) = flight {
            let from = flight.sent.max(self.last_progress);
            self.rate.sample(bytes, now.saturating_duration_since(from));
        }
        self.last_progress = now;
    }

    /// When it counts as stalled, if it has anything outstanding.
    pub(crate) fn stall_at(&self, stall_timeout: Duration) -> Option<Instant> {
        (!self.in_flight.is_empty()).then(|| self.last_progress + stall_timeout)
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
