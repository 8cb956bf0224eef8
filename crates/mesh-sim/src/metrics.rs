//! What a run measures, aggregated as it goes: counters per time bucket, latency histograms and
//! per-asset byte counts over the measurement window (after warm-up). Nothing per event is
//! kept, so memory does not grow with the length of a run.

use mesh_core::fetch::{FallbackReason, FetchSummary, ReassignReason};
use mesh_core::stats::Source;

use crate::histogram::Histogram;

/// Fallback reasons, in column order.
pub(crate) const FALLBACK_REASONS: [&str; 6] = [
    "deadline",
    "no_providers",
    "peers_lost",
    "stalled",
    "slow",
    "other",
];
/// Reassignment reasons, in column order.
pub(crate) const REASSIGN_REASONS: [&str; 6] = [
    "stalled",
    "slow",
    "disconnected",
    "ignored",
    "dont_have",
    "other",
];

pub(crate) fn fallback_index<P>(r: &FallbackReason<P>) -> usize {
    match r {
        FallbackReason::Deadline => 0,
        FallbackReason::NoProviders => 1,
        FallbackReason::PeersLost => 2,
        FallbackReason::Stalled(_) => 3,
        FallbackReason::Slow(_) => 4,
        _ => 5,
    }
}

pub(crate) fn reassign_index(r: ReassignReason) -> usize {
    match r {
        ReassignReason::Stalled => 0,
        ReassignReason::Slow => 1,
        ReassignReason::Disconnected => 2,
        ReassignReason::Ignored => 3,
        ReassignReason::DontHave => 4,
        _ => 5,
    }
}

fn source_index(s: Source) -> usize {
    match s {
        Source::Peer => 0,
        Source::Origin => 1,
        Source::Cache => 2,
    }
}

/// How a completed fetch was served, for latency by source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    Peer,
    Origin,
    Mixed,
    Cache,
}

impl Served {
    fn of(s: &FetchSummary) -> Self {
        match s.source_label() {
            "peer" => Served::Peer,
            "origin" => Served::Origin,
            "cache" => Served::Cache,
            _ => Served::Mixed,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one time bucket (or, summed, of a window).
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    /// Integral of peers online over time, peer·µs.
    pub(crate) online_us: f64,
    pub(crate) arrivals: u64,
    pub(crate) departures: u64,
    pub(crate) started: u64,
    pub(crate) completed: u64,
    /// Completed entirely from the peer's own store.
    pub(crate) completed_cache: u64,
    pub(crate) failed: u64,
    /// Fetches still running when their peer left.
    pub(crate) abandoned: u64,
    /// Completed fetches that brought in the origin.
    pub(crate) fell_back: u64,
    /// Verified bytes accepted, by source (peer, origin, cache).
    pub(crate) bytes: [u64; 3],
    /// Bytes the origin sent, including those that lost a race or were thrown away.
    pub(crate) origin_egress: u64,
    /// Bytes peers uploaded, likewise.
    pub(crate) peer_egress: u64,
    pub(crate) origin_requests: u64,
    pub(crate) origin_failures: u64,
    pub(crate) fallbacks: [u64; 6],
    pub(crate) reassigned: [u64; 6],
    pub(crate) penalties: u64,
    /// Blocks from peers that arrived after another source had delivered them.
    pub(crate) duplicate_blocks: u64,
    /// Blocks from peers that arrived on a connection closed meanwhile.
    pub(crate) lost_blocks: u64,
    pub(crate) lookups: u64,
    pub(crate) announces: u64,
    pub(crate) withdrawals: u64,
    /// Connection attempts (each signalled through the bootstrap relay).
    pub(crate) dials: u64,
    pub(crate) dial_failures: u64,
    /// Connections closed to make room for another.
    pub(crate) evictions: u64,
    /// Requests to the bootstrap for random peers (warm connections).
    pub(crate) discovery: u64,
    /// Time to first byte of the network fetches completed in this bucket.
    pub(crate) ttfb: Histogram,
}

impl Bucket {
    pub(crate) fn add(&mut self, o: &Bucket) {
        self.online_us += o.online_us;
        self.arrivals += o.arrivals;
        self.departures += o.departures;
        self.started += o.started;
        self.completed += o.completed;
        self.completed_cache += o.completed_cache;
        self.failed += o.failed;
        self.abandoned += o.abandoned;
        self.fell_back += o.fell_back;
        for i in 0..3 {
            self.bytes[i] += o.bytes[i];
        }
        self.origin_egress += o.origin_egress;
        self.peer_egress += o.peer_egress;
        self.origin_requests += o.origin_requests;
        self.origin_failures += o.origin_failures;
        for i in 0..6 {
            self.fallbacks[i] += o.fallbacks[i];
            self.reassigned[i] += o.reassigned[i];
        }
        self.penalties += o.penalties;
        self.duplicate_blocks += o.duplicate_blocks;
        self.lost_blocks += o.lost_blocks;
        self.lookups += o.lookups;
        self.announces += o.announces;
        self.withdrawals += o.withdrawals;
        self.dials += o.dials;
        self.dial_failures += o.dial_failures;
        self.evictions += o.evictions;
        self.discovery += o.discovery;
        self.ttfb.merge(&o.ttfb);
    }

    /// Peer bytes / (peer + origin bytes), mesh-core's definition; NaN without network bytes.
    pub(crate) fn offload(&self) -> f64 {
        ratio(self.bytes[0], self.bytes[0] + self.bytes[1])
    }

    /// Share of the needed network bytes the origin did not have to send, counting what it
    /// sent in vain (hedged duplicates, cancelled bodies).
    pub(crate) fn origin_savings(&self) -> f64 {
        let needed = self.bytes[0] + self.bytes[1];
        if needed == 0 {
            return f64::NAN;
        }
        1.0 - self.origin_egress as f64 / needed as f64
    }
}

pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// Everything a run measures.
#[derive(Debug)]
pub(crate) struct Metrics {
    bucket_us: u64,
    duration_us: u64,
    warmup_us: u64,
    pub(crate) buckets: Vec<Bucket>,
    online: u64,
    online_since: u64,
    /// Time to first byte over the window, by how the fetch was served.
    pub(crate) ttfb: [Histogram; 4],
    /// Time to completion of network fetches over the window.
    pub(crate) elapsed: Histogram,
    /// Verified bytes per asset over the window: (peer, origin).
    pub(crate) per_asset: Vec<[u64; 2]>,
    /// Events processed.
    pub(crate) events: u64,
    /// Sessions created.
    pub(crate) sessions: u64,
}

impl Metrics {
    pub(crate) fn new(duration_us: u64, bucket_us: u64, warmup_us: u64, assets: usize) -> Self {
        let n = duration_us.div_ceil(bucket_us.max(1)).max(1) as usize;
        Self {
            bucket_us: bucket_us.max(1),
            duration_us,
            warmup_us,
            buckets: vec![Bucket::default(); n],
            online: 0,
            online_since: 0,
            ttfb: Default::default(),
            elapsed: Histogram::default(),
            per_asset: vec![[0; 2]; assets],
            events: 0,
            sessions: 0,
        }
    }

    /// The bucket holding time `t`.
    pub(crate) fn at(&mut self, t: u64) -> &mut Bucket {
        let i = ((t / self.bucket_us) as usize).min(self.buckets.len() - 1);
        &mut self.buckets[i]
    }

    pub(crate) fn in_window(&self, t: u64) -> bool {
        t >= self.warmup_us
    }

    /// Integrates the online count up to `t`, splitting across buckets.
    fn integrate(&mut self, t: u64) {
        let mut from = self.online_since;
        while from < t {
            let i = (from / self.bucket_us) as usize;
            if i >= self.buckets.len() {
                break;
            }
            let end = ((i as u64 + 1) * self.bucket_us).min(t);
            self.buckets[i].online_us += self.online as f64 * (end - from) as f64;
            from = end;
        }
        self.online_since = t;
    }

    pub(crate) fn joined(&mut self, t: u64) {
        self.integrate(t);
        self.online += 1;
        self.sessions += 1;
        self.at(t).arrivals += 1;
    }

    pub(crate) fn left(&mut self, t: u64, abandoned: u64) {
        self.integrate(t);
        self.online = self.online.saturating_sub(1);
        let b = self.at(t);
        b.departures += 1;
        b.abandoned += abandoned;
    }

    pub(crate) fn block(&mut self, t: u64, source: Source, bytes: u64) {
        self.at(t).bytes[source_index(source)] += bytes;
    }

    pub(crate) fn completed(&mut self, t: u64, asset: u32, s: &FetchSummary) {
        let served = Served::of(s);
        let ttfb = s.ttfb.map_or(0, |d| d.as_micros() as u64);
        let b = self.at(t);
        b.completed += 1;
        if served == Served::Cache {
            b.completed_cache += 1;
        } else {
            b.ttfb.record(ttfb);
        }
        if s.fell_back {
            b.fell_back += 1;
        }
        if self.in_window(t) {
            self.ttfb[served.index()].record(ttfb);
            if served != Served::Cache {
                self.elapsed.record(s.elapsed.as_micros() as u64);
            }
            if let Some(a) = self.per_asset.get_mut(asset as usize) {
                a[0] += s.bytes_peer;
                a[1] += s.bytes_origin;
            }
        }
    }

    /// Closes the online integral at the end of the run.
    pub(crate) fn finish(&mut self, end: u64) {
        self.integrate(end);
    }

    /// Width of bucket `i` in seconds (the last one may be cut short by the end of the run).
    pub(crate) fn width_s(&self, i: usize) -> f64 {
        let start = i as u64 * self.bucket_us;
        let end = (start + self.bucket_us).min(self.duration_us);
        end.saturating_sub(start) as f64 / 1e6
    }

    /// Sum of the buckets in the measurement window.
    pub(crate) fn window(&self) -> (Bucket, f64) {
        let mut total = Bucket::default();
        let mut secs = 0.0;
        for (i, b) in self.buckets.iter().enumerate() {
            if i as u64 * self.bucket_us >= self.warmup_us {
                total.add(b);
                secs += self.width_s(i);
            }
        }
        (total, secs)
    }
}
