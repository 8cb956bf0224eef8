//! What the engine asks its shell to do, and the figures it reports.

use mesh_core::small::SmallMap;

use bytes::Bytes;
use cid::Cid;
use libp2p::core::transport::ListenerId;
use libp2p::{Multiaddr, PeerId};
use mesh_core::Block;
/// The planner's own requests, passed to the shell unchanged.
pub use mesh_core::fetch::{CancelOrigin, Deliver, OriginFetch};
use mesh_core::fetch::{FetchError, FetchId, FetchSummary};
use mesh_core::stats::StatsSnapshot;
use mesh_core::store::StoreStats;
use mesh_protocol::blocks::ServeStats;

use crate::{DigestId, Sources};

/// One thing for the shell to do or know, from [`Engine::poll_output`](crate::Engine::poll_output).
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// Start an HTTP GET of the fetch's origin URL (with `Range: bytes=start-(end-1)` when
    /// `range` is given) and feed the body to `handle_origin_*` under `request`.
    OriginFetch(OriginFetch),
    /// Abort an origin request; nothing more about it is wanted.
    CancelOrigin(CancelOrigin),
    /// Verified bytes of a fetch, in order without gaps. If nobody reads the fetch any more,
    /// call [`Engine::cancel_fetch`](crate::Engine::cancel_fetch).
    Deliver(Deliver),
    /// Compute the SHA-256 of `data`, a block a peer sent, and give it to
    /// [`Engine::handle_digest`](crate::Engine::handle_digest) under `id`; the block waits
    /// for it (only with [`EngineConfig::shell_digest_min_bytes`](crate::EngineConfig)).
    Digest {
        /// Names the block.
        id: DigestId,
        /// Its bytes, unverified.
        data: Bytes,
    },
    /// The fetch delivered every byte.
    Completed {
        /// The fetch.
        fetch: FetchId,
        /// Its root.
        cid: Cid,
        /// Where the bytes came from.
        report: FetchReport,
    },
    /// The fetch failed; nothing unverified was delivered.
    Failed {
        /// The fetch.
        fetch: FetchId,
        /// Why.
        error: FetchError,
    },
    /// The fetch was cancelled.
    Cancelled {
        /// The fetch.
        fetch: FetchId,
    },
    /// The announcement asked for by [`Engine::add`](crate::Engine::add) ended: `Ok`, or
    /// why it fell short.
    Announced {
        /// The root.
        cid: Cid,
        /// The outcome.
        result: Result<(), AnnounceError>,
    },
    /// A fetched asset is complete in the store and announced: every block of its DAG, root
    /// first, for a shell that persists its cache (see [`Engine::restore`](crate::Engine::restore)).
    Cached {
        /// The asset's root.
        root: Cid,
        /// Its blocks, verified.
        blocks: Vec<Block>,
    },
    /// Blocks left the store (evicted for room, or found bad): a persisted copy should go
    /// too. `roots` are the assets that used them, no longer provided.
    Uncached {
        /// The blocks.
        blocks: Vec<Cid>,
        /// Assets withdrawn with them.
        roots: Vec<Cid>,
    },
    /// A peer is connected and identified as a block-exchange peer of this mesh.
    PeerReady {
        /// The peer.
        peer: PeerId,
    },
    /// A peer could not be connected to, left, or is not a mesh peer.
    PeerUnusable {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A listener is up on `address`.
    Listening {
        /// The listener.
        listener: ListenerId,
        /// Its address.
        address: Multiaddr,
    },
    /// A listener closed or failed.
    ListenerFailed {
        /// The listener.
        listener: ListenerId,
        /// Its address, if known.
        address: Option<Multiaddr>,
        /// Why.
        reason: String,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A dial of `peer` failed and no connection to it exists.
    DialFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A bootstrap node was connected or lost, or a mesh peer joined or left: once per
    /// change (identify runs on every connection and on pushes; this does not repeat).
    PeerChanged {
        /// The peer.
        peer: PeerId,
        /// Bootstrap node or mesh peer.
        kind: PeerKind,
        /// Connected now, or gone.
        connected: bool,
    },
}

/// What a peer of [`Output::PeerChanged`] is to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// A configured bootstrap node.
    Bootstrap,
    /// Another node of this mesh that exchanges blocks.
    Mesh,
}

impl PeerKind {
    /// `bootstrap` or `mesh`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap",
            Self::Mesh => "mesh",
        }
    }
}

/// Why an announcement asked for by [`Engine::add`](crate::Engine::add) fell short
/// ([`Output::Announced`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// The node cannot announce more assets (its provider-record limit): the asset is stored
    /// and served to connected peers, but the DHT does not name this node for it.
    #[error("cannot announce: {0}")]
    Refused(String),
    /// The query ended before every DHT node it chose took the record; the record is kept and
    /// republished, so the next announcement may reach more.
    #[error("announcement incomplete: {0}")]
    Incomplete(String),
}

/// Where a completed fetch's bytes came from.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// The planner's totals (size, bytes per source, time to first byte).
    pub summary: FetchSummary,
    /// Verified bytes per peer.
    pub peers: SmallMap<PeerId, u64>,
    /// Where the bytes came from, as the fetch's deliveries were labelled.
    pub sources: Sources,
}

/// Counters of a node.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NodeStats {
    /// Bytes by source, fallbacks, served bytes.
    pub transfer: StatsSnapshot,
    /// Serving counters.
    pub serve: ServeStats,
    /// Block store counters.
    pub store: StoreStats,
    /// Blocks received that failed verification.
    pub corrupt_blocks_received: u64,
    /// Peers ignored for sending bad data.
    pub ignored_peers: Vec<PeerId>,
    /// Inbound block-exchange requests that were malformed or oversize.
    pub malformed_requests: u64,
    /// Block-exchange responses that were malformed or oversize.
    pub malformed_responses: u64,
    /// Connections the warm-peer policy opened ahead of need.
    pub warm_dials: u64,
    /// DHT provider lookups started for fetches (none when a connected peer announced the
    /// asset).
    pub provider_lookups: u64,
    /// DHT requests those lookups and the warm-peer lookups made, counted when each ends (a
    /// lookup answered by one bootstrap node is one).
    pub provider_lookup_requests: u64,
    /// Blocks verified with a digest the shell computed: received ones ([`Output::Digest`]),
    /// restored ones ([`Engine::restore`](crate::Engine::restore) with a digest) and
    /// origin leaves ([`Engine::handle_origin_leaf`](crate::Engine::handle_origin_leaf)).
    pub shell_digests: u64,
}

/// What a node looks like now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStatus {
    /// Peers with at least one connection.
    pub connected_peers: usize,
    /// Connected peers that speak this mesh's block exchange.
    pub mesh_peers: usize,
    /// Connected bootstrap nodes.
    pub bootstrap_peers: usize,
    /// Whether a relay reservation is held (nodes that cannot be dialled are reachable
    /// through it).
    pub reachable: bool,
    /// Peers in the Kademlia routing table.
    pub routing_table: usize,
    /// Inbound block-exchange requests that were malformed or oversize (see [`NodeStats`]).
    pub malformed_requests: u64,
    /// Block-exchange responses that were malformed or oversize.
    pub malformed_responses: u64,
    /// Whether the first warm connections are still to come: the bootstrap node is not
    /// connected yet, or providers of the site are being looked up or dialled and no mesh peer
    /// is ready yet. False when no warm peers are wanted.
    pub warming: bool,
    /// DHT announcements of provided roots running now (see [`crate::ANNOUNCING`]).
    pub announcing: usize,
    /// Provided roots waiting for their DHT announcement.
    pub announcements_waiting: usize,
}
