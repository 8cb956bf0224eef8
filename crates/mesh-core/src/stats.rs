//! Where bytes came from, and how fast.
//!
//! INTERFACE SKELETON: bodies to be implemented (owner: store helper).

use std::time::Duration;

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

/// Running totals of one node's fetches.
#[derive(Debug, Clone, Default)]
pub struct TransferStats {}

impl TransferStats {
    /// Empty totals.
    pub fn new() -> Self {
        todo!()
    }
    /// Counts `bytes` of verified data from `source`.
    pub fn record_bytes(&mut self, _source: Source, _bytes: u64) {
        todo!()
    }
    /// Records a time from request to first verified byte from `source`.
    pub fn record_ttfb(&mut self, _source: Source, _ttfb: Duration) {
        todo!()
    }
    /// Counts a fallback to the origin.
    pub fn record_fallback(&mut self) {
        todo!()
    }
    /// Counts bytes this node served to peers.
    pub fn record_served(&mut self, _bytes: u64) {
        todo!()
    }
    /// Verified bytes received from `source`.
    pub fn bytes(&self, _source: Source) -> u64 {
        todo!()
    }
    /// Peer bytes / (peer + origin bytes): the share of network bytes the origin did not serve.
    /// `None` before any network byte.
    pub fn offload_ratio(&self) -> Option<f64> {
        todo!()
    }
    /// Quantile `q` in `[0, 1]` of time-to-first-byte from `source`.
    pub fn ttfb_quantile(&self, _source: Source, _q: f64) -> Option<Duration> {
        todo!()
    }
    /// A serialisable snapshot.
    pub fn snapshot(&self) -> StatsSnapshot {
        todo!()
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
