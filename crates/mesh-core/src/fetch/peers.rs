//! What the planner knows about each peer: connection, score, requests in flight, speed.

use std::collections::BTreeSet;
use std::time::Duration;

use cid::Cid;

use super::FetchId;
use super::estimate::RateEstimate;
use crate::small::SmallMap;
use crate::time::Instant;

/// Stalls in a row, with no block in between, after which a peer is taken for dead.
pub(crate) const MAX_STALL_STRIKES: u32 = 4;

/// Most announced roots remembered per peer; later announcements are ignored (the peer is
/// still found through the DHT or a want-have). Bounds what a peer can make us store.
pub(crate) const MAX_ANNOUNCED_ROOTS: usize = 4096;

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
    pub(crate) in_flight: SmallMap<Cid, InFlight>,
    pub(crate) rate: RateEstimate,
    /// Last time it delivered a block, or became busy after being idle: the stall clock.
    pub(crate) last_progress: Instant,
    /// Stalls since its last delivered block.
    pub(crate) stall_strikes: u32,
    /// Rate samples taken since it last went from idle to busy. The first block of a batch says
    /// little about the rate when the peer sends the batch over parallel streams (request-
    /// response opens one per block): every block moves at once and the first one arrives only
    /// when nearly all bytes have, so its sample undercounts the rate by the batch size.
    pub(crate) run_samples: u32,
    /// Peer-wide demotion after it withheld or stalled blocks, if it ever did.
    pub(crate) demotion: Option<Demotion>,
    /// Asset roots it announced (its have-summary and later additions, less withdrawals), at
    /// most [`MAX_ANNOUNCED_ROOTS`]; forgotten when it disconnects.
    pub(crate) announced: BTreeSet<Cid>,
}

/// A peer-wide demotion: while it lasts the peer is asked for nothing the origin can provide,
/// on any fetch, not only the one it stalled (a peer that withholds one asset's leaves is
/// likely to withhold the next's). Repeat offences double its length; each demotion length of
/// good standing after one ends forgives one offence, so a peer that was only slow for a while
/// (a busy tab, a congested uplink) recovers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Demotion {
    /// Offences not yet forgiven, counting the last.
    level: u32,
    until: Instant,
}

impl PeerState {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            connected: false,
            score: 0,
            ignored: false,
            in_flight: SmallMap::new(),
            rate: RateEstimate::unknown(),
            last_progress: now,
            stall_strikes: 0,
            run_samples: 0,
            demotion: None,
            announced: BTreeSet::new(),
        }
    }

    /// Whether it is demoted at `now`.
    pub(crate) fn demoted(&self, now: Instant) -> bool {
        self.demotion.is_some_and(|d| now < d.until)
    }

    /// Offences not yet forgiven at `now`: one is forgiven per `base` after the demotion ended.
    pub(crate) fn demotion_level(&self, now: Instant, base: Duration) -> u32 {
        let Some(d) = self.demotion else { return 0 };
        if now < d.until || base.is_zero() {
            return d.level;
        }
        let forgiven = now.saturating_duration_since(d.until).as_nanos() / base.as_nanos();
        d.level
            .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
    }

    /// Demotes it from `now` for `base` doubled per unforgiven earlier offence, at most `max`.
    /// Returns when the demotion ends.
    pub(crate) fn demote(&mut self, now: Instant, base: Duration, max: Duration) -> Instant {
        let level = self.demotion_level(now, base).saturating_add(1);
        let length = base
            .checked_mul(1 << (level - 1).min(16))
            .map_or(max, |d| d.min(max));
        let until = now + length;
        self.demotion = Some(Demotion { level, until });
        until
    }

    /// Whether blocks may be asked of it.
    pub(crate) fn usable(&self) -> bool {
        self.connected && !self.ignored
    }

    /// Remembers announced roots, up to [`MAX_ANNOUNCED_ROOTS`]; returns those taken.
    pub(crate) fn announce(&mut self, roots: &[Cid]) -> Vec<Cid> {
        let mut taken = Vec::new();
        for root in roots {
            if self.announced.len() >= MAX_ANNOUNCED_ROOTS {
                break;
            }
            if self.announced.insert(*root) {
                taken.push(*root);
            }
        }
        taken
    }

    /// Records a request; restarts the stall clock if the peer was idle.
    pub(crate) fn request(&mut self, now: Instant, cid: Cid, flight: InFlight) {
        if self.in_flight.is_empty() {
            self.last_progress = now;
            self.run_samples = 0;
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
            self.run_samples = self.run_samples.saturating_add(1);
        }
        self.last_progress = now;
        self.stall_strikes = 0;
    }

    /// When it counts as stalled, if it has anything outstanding: after its last progress, the
    /// longer of `stall_timeout` and the time its outstanding bytes need at its known rate (at
    /// `floor_rate` while none is known). All outstanding bytes, not one block: a peer that
    /// answers over parallel streams (block exchange 1.x opened one per block) moves every block
    /// at once and completes the first only when nearly all have arrived; a serial sender is
    /// given more time than it needs, which only delays noticing a peer that went silent
    /// without disconnecting (rare: a closed connection is reported at once). A peer that is
    /// slow but moving bytes is slow, not stalled. Each stall in a row doubles the patience, so
    /// a sole slow source is not declared dead too early.
    pub(crate) fn stall_at(&self, stall_timeout: Duration, floor_rate: f64) -> Option<Instant> {
        if self.in_flight.is_empty() {
            return None;
        }
        let outstanding: u64 = self.in_flight.values().map(|f| f.expected).sum();
        let base = stall_timeout.max(self.rate.time_for(outstanding, floor_rate));
        Some(self.last_progress + base * (1 << self.stall_strikes.min(MAX_STALL_STRIKES)))
    }

    /// Expected bytes still outstanding for `fetch`, and how many blocks.
    pub(crate) fn outstanding(&self, fetch: FetchId) -> (u64, usize) {
        self.in_flight
            .values()
            .filter(|f| f.fetch == fetch)
            .fold((0, 0), |(b, n), f| (b + f.expected, n + 1))
    }

    /// Whether its rate estimate can judge it slow: two samples in the current run of requests
    /// tell a parallel sender (the second block follows the first at once) from a serial one
    /// (it takes as long again). See [`PeerState::run_samples`].
    pub(crate) fn rate_settled(&self) -> bool {
        self.rate.get().is_some() && self.run_samples >= 2
    }

    /// Adds `delta` to the score, capped at `max` above.
    pub(crate) fn adjust_score(&mut self, delta: i32, max: i32) -> i32 {
        self.score = self.score.saturating_add(delta).min(max);
        self.score
    }
}
