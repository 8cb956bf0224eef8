//! The figures the page sees (`mesh.stats()`, the `stats`, `peer` and `fetch` events), as
//! serde structs turned into plain JS objects with camelCase keys.

use std::collections::BTreeMap;

use mesh_engine::{FetchReport, NodeStats, NodeStatus};
use serde::Serialize;

/// `mesh.stats()`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatsReport {
    pub(crate) peer_id: String,
    /// Peer connections by kind.
    pub(crate) peers: PeerCounts,
    /// Verified bytes handed to the page by source.
    pub(crate) bytes: BytesBySource,
    /// Bytes of blocks this tab served to other peers.
    pub(crate) bytes_served: u64,
    /// Share of fetched bytes that came from peers (`null` before any fetch).
    pub(crate) offload_ratio: Option<f64>,
    /// Fetches that brought in the origin.
    pub(crate) fallbacks: u64,
    /// Median time to first verified byte, by source, in ms.
    pub(crate) ttfb_ms: TtfbBySource,
    pub(crate) store: StoreReport,
    pub(crate) serve: ServeReport,
    pub(crate) corrupt_blocks_received: u64,
    /// Blocks from peers, the origin and the persistent cache hashed by the browser's
    /// WebCrypto instead of the wasm SHA-256 (0 where the page has no `crypto.subtle`).
    pub(crate) web_crypto_hashes: u64,
    pub(crate) ignored_peers: Vec<String>,
    pub(crate) malformed_requests: u64,
    pub(crate) malformed_responses: u64,
    /// Whether a relay reservation is held (other tabs can reach this one).
    pub(crate) reachable: bool,
    /// Whether the first warm connections are still to come (`mesh.ready()` waits for this).
    pub(crate) warming: bool,
    /// `on`, `off`, `after-consent` (until consent is given) or `revoked` (consent withdrawn).
    pub(crate) p2p: &'static str,
    /// The persistent cache.
    pub(crate) persist: crate::persist::PersistReport,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerCounts {
    pub(crate) connected: usize,
    pub(crate) mesh: usize,
    pub(crate) bootstrap: usize,
    pub(crate) routing_table: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BytesBySource {
    pub(crate) peer: u64,
    pub(crate) origin: u64,
    pub(crate) cache: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TtfbBySource {
    pub(crate) peer: Option<f64>,
    pub(crate) origin: Option<f64>,
    pub(crate) cache: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreReport {
    pub(crate) used_bytes: u64,
    pub(crate) budget_bytes: u64,
    pub(crate) blocks: u64,
    pub(crate) evictions: u64,
    pub(crate) rejected: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServeReport {
    pub(crate) blocks_served: u64,
    pub(crate) bytes_served: u64,
    pub(crate) over_budget: u64,
    pub(crate) peer_busy: u64,
    /// Requests refused because the asking peer spent its share of the upload budget.
    pub(crate) over_peer_share: u64,
    /// Requests refused while serving was paused (hidden tab, Save-Data, metered network).
    pub(crate) paused: u64,
    /// Whether this tab serves other tabs now.
    pub(crate) serving: bool,
    pub(crate) not_held: u64,
}

impl StatsReport {
    pub(crate) fn new(
        peer_id: String,
        stats: &NodeStats,
        status: &NodeStatus,
        p2p: &'static str,
        persist: crate::persist::PersistReport,
        serving: bool,
    ) -> Self {
        let t = &stats.transfer;
        Self {
            peer_id,
            peers: PeerCounts {
                connected: status.connected_peers,
                mesh: status.mesh_peers,
                bootstrap: status.bootstrap_peers,
                routing_table: status.routing_table,
            },
            bytes: BytesBySource {
                peer: t.bytes_peer,
                origin: t.bytes_origin,
                cache: t.bytes_cache,
            },
            bytes_served: t.bytes_served,
            offload_ratio: t.offload_ratio,
            fallbacks: t.fallbacks,
            ttfb_ms: TtfbBySource {
                peer: t.ttfb_p50_ms_peer,
                origin: t.ttfb_p50_ms_origin,
                cache: t.ttfb_p50_ms_cache,
            },
            store: StoreReport {
                used_bytes: stats.store.used_bytes,
                budget_bytes: stats.store.budget_bytes,
                blocks: stats.store.blocks,
                evictions: stats.store.evictions,
                rejected: stats.store.rejected,
            },
            serve: ServeReport {
                blocks_served: stats.serve.blocks_served,
                bytes_served: stats.serve.bytes_served,
                over_budget: stats.serve.over_budget,
                peer_busy: stats.serve.peer_busy,
                over_peer_share: stats.serve.over_peer_share,
                paused: stats.serve.paused,
                serving,
                not_held: stats.serve.not_held,
            },
            corrupt_blocks_received: stats.corrupt_blocks_received,
            web_crypto_hashes: stats.shell_digests,
            ignored_peers: stats
                .ignored_peers
                .iter()
                .map(ToString::to_string)
                .collect(),
            malformed_requests: stats.malformed_requests,
            malformed_responses: stats.malformed_responses,
            reachable: status.reachable,
            warming: status.warming,
            p2p,
            persist,
        }
    }
}

/// Detail of a `fetch` event, and of `response.mesh.summary`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FetchDone {
    pub(crate) cid: String,
    /// `peer`, `origin`, `cache` or `mixed`.
    pub(crate) source: &'static str,
    pub(crate) size: u64,
    pub(crate) bytes_peer: u64,
    pub(crate) bytes_origin: u64,
    pub(crate) bytes_cache: u64,
    pub(crate) ttfb_ms: Option<f64>,
    pub(crate) elapsed_ms: f64,
    pub(crate) fell_back: bool,
    /// Verified bytes per peer id.
    pub(crate) peers: BTreeMap<String, u64>,
}

impl FetchDone {
    pub(crate) fn new(cid: String, report: &FetchReport) -> Self {
        let s = &report.summary;
        Self {
            cid,
            source: report.sources.label(),
            size: s.size,
            bytes_peer: s.bytes_peer,
            bytes_origin: s.bytes_origin,
            bytes_cache: s.bytes_cache,
            ttfb_ms: s.ttfb.map(|d| d.as_secs_f64() * 1e3),
            elapsed_ms: s.elapsed.as_secs_f64() * 1e3,
            fell_back: s.fell_back,
            peers: report
                .peers
                .iter()
                .map(|(p, b)| (p.to_string(), *b))
                .collect(),
        }
    }
}

/// Detail of a `peer` event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PeerChange {
    pub(crate) peer: String,
    /// `connected` or `disconnected`.
    pub(crate) state: &'static str,
    /// `bootstrap` or `mesh`.
    pub(crate) kind: &'static str,
}

/// Detail of a `fetch` event for a fetch that failed: `{cid, error: {kind, message}}` (`cid`
/// is `null` if the fetch was already forgotten).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FetchFailed {
    pub(crate) cid: Option<String>,
    pub(crate) error: FailedError,
}

/// The error of a [`FetchFailed`], as `MeshError` names it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FailedError {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}
