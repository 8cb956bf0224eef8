//! Where bytes came from, and how fast.
//!
//! The two numbers mesh exists to move are the share of bytes the origin did not have to serve
//! (the offload ratio) and the time to first byte, which must not get worse than fetching from
//! the origin alone. [`TransferStats`] keeps both per [`Source`] in bounded memory, and totals
//! of several nodes can be [merged](TransferStats::merge) for a dashboard.

mod histogram;

use std::time::Duration;

use histogram::Histogram;

/// Quantiles from [`TransferStats::ttfb_quantile`] are within this relative error of the true
/// sample (1/32, about 3.1%), after truncating each recorded time to whole microseconds.
pub const TTFB_RELATIVE_ERROR: f64 = histogram::RELATIVE_ERROR;

/// Longest time-to-first-byte told apart (about 71.6 minutes); longer ones are recorded as
/// this. Anything near it is a stalled request, whatever the exact figure.
pub const MAX_TTFB: Duration = Duration::from_micros(histogram::MAX_MICROS);

/// Where a block came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Another mesh node.
    Peer,
    /// The site's origin (CDN) over HTTP.
    Origin,
    /// This node's own block store.
    Cache,
}

impl Source {
    /// Every source, in declaration order.
    pub const ALL: [Source; 3] = [Source::Peer, Source::Origin, Source::Cache];

    /// Position in per-source arrays.
    const fn index(self) -> usize {
        match self {
            Source::Peer => 0,
            Source::Origin => 1,
            Source::Cache => 2,
        }
    }
}

/// Running totals of one node's fetches (or, after [`merge`](Self::merge), of several).
///
/// Memory is bounded: a few counters plus, per source that has seen a sample, one fixed
/// histogram of under 4 KiB. Counters saturate rather than wrap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferStats {
    /// Verified bytes received, by [`Source::index`].
    received: [u64; 3],
    /// Bytes served to peers.
    served: u64,
    /// Fallbacks to the origin.
    fallbacks: u64,
    /// Time-to-first-byte, µs, by [`Source::index`].
    ttfb: [Histogram; 3],
}

impl TransferStats {
    /// Empty totals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `bytes` of verified data from `source`.
    pub fn record_bytes(&mut self, source: Source, bytes: u64) {
        let total = &mut self.received[source.index()];
        *total = total.saturating_add(bytes);
    }

    /// Records a time from request to first verified byte from `source`. Kept to whole
    /// microseconds, capped at [`MAX_TTFB`].
    pub fn record_ttfb(&mut self, source: Source, ttfb: Duration) {
        let micros = u64::try_from(ttfb.as_micros()).unwrap_or(u64::MAX);
        self.ttfb[source.index()].record(micros);
    }

    /// Counts a fallback to the origin.
    pub fn record_fallback(&mut self) {
        self.fallbacks = self.fallbacks.saturating_add(1);
    }

    /// Counts bytes this node served to peers.
    pub fn record_served(&mut self, bytes: u64) {
        self.served = self.served.saturating_add(bytes);
    }

    /// Verified bytes received from `source`.
    pub fn bytes(&self, source: Source) -> u64 {
        self.received[source.index()]
    }

    /// Bytes this node served to peers.
    pub fn bytes_served(&self) -> u64 {
        self.served
    }

    /// Fallbacks to the origin.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// Peer bytes / (peer + origin bytes): the share of network bytes the origin did not serve.
    /// `None` before any network byte.
    ///
    /// Cache bytes are left out on purpose: a block this node already held would not have
    /// reached the CDN without mesh either (the browser would have had it cached, or the page
    /// reused it), so counting it would credit mesh with savings it did not make.
    pub fn offload_ratio(&self) -> Option<f64> {
        let peer = self.bytes(Source::Peer) as f64;
        let network = peer + self.bytes(Source::Origin) as f64;
        (network > 0.0).then(|| peer / network)
    }

    /// Quantile `q` in `[0, 1]` of time-to-first-byte from `source`.
    ///
    /// Nearest rank: the `ceil(q * n)`-th fastest of `n` samples (the fastest for `q = 0`),
    /// within [`TTFB_RELATIVE_ERROR`]; the fastest and slowest are exact. `q` outside `[0, 1]`
    /// is clamped; `None` without samples or for a NaN `q`.
    pub fn ttfb_quantile(&self, source: Source, q: f64) -> Option<Duration> {
        self.ttfb[source.index()]
            .quantile(q)
            .map(Duration::from_micros)
    }

    /// Number of time-to-first-byte samples from `source`.
    pub fn ttfb_count(&self, source: Source) -> u64 {
        self.ttfb[source.index()].count()
    }

    /// Adds `other`'s totals to these, as if every event of both had been recorded here.
    pub fn merge(&mut self, other: &TransferStats) {
        for source in Source::ALL {
            let i = source.index();
            self.received[i] = self.received[i].saturating_add(other.received[i]);
            self.ttfb[i].merge(&other.ttfb[i]);
        }
        self.served = self.served.saturating_add(other.served);
        self.fallbacks = self.fallbacks.saturating_add(other.fallbacks);
    }

    /// A serialisable snapshot.
    pub fn snapshot(&self) -> StatsSnapshot {
        let p50_ms = |source| {
            self.ttfb_quantile(source, 0.5)
                .map(|ttfb| ttfb.as_micros() as f64 / 1000.0)
        };
        StatsSnapshot {
            bytes_peer: self.bytes(Source::Peer),
            bytes_origin: self.bytes(Source::Origin),
            bytes_cache: self.bytes(Source::Cache),
            bytes_served: self.served,
            fallbacks: self.fallbacks,
            offload_ratio: self.offload_ratio(),
            ttfb_p50_ms_peer: p50_ms(Source::Peer),
            ttfb_p50_ms_origin: p50_ms(Source::Origin),
            ttfb_p50_ms_cache: p50_ms(Source::Cache),
        }
    }
}

/// Stats as JSON-friendly numbers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Verified bytes from peers.
    pub bytes_peer: u64,
    /// Verified bytes from the origin.
    pub bytes_origin: u64,
    /// Bytes from the local cache.
    pub bytes_cache: u64,
    /// Bytes served to peers.
    pub bytes_served: u64,
    /// Fallbacks to the origin.
    pub fallbacks: u64,
    /// See [`TransferStats::offload_ratio`].
    pub offload_ratio: Option<f64>,
    /// Median time-to-first-byte from peers, ms.
    pub ttfb_p50_ms_peer: Option<f64>,
    /// Median time-to-first-byte from the origin, ms.
    pub ttfb_p50_ms_origin: Option<f64>,
    /// Median time-to-first-byte from the cache, ms.
    pub ttfb_p50_ms_cache: Option<f64>,
}
