//! # mesh-engine
//!
//! What a mesh node does, without saying how its IO runs: the one [`Engine`] owns the libp2p
//! [`Swarm`] (running [`mesh_protocol::Behaviour`]), mesh-core's fetch [`Planner`] and the
//! block server, and translates between them. It also holds the node's policy: staying
//! connected to bootstrap nodes (`bootstrap`, `backoff`), warm connections to providers
//! (`warm`), what each connection is (`connections`), the running fetches with their
//! origin URLs and sources (`fetches`), and DHT announcements held for the node's idle time
//! (`announce`). The native node (tokio) and the browser node
//! (wasm-bindgen) are thin shells around it: they poll the swarm, keep the one timer the
//! engine asks for, run origin HTTP requests, and act on the engine's [`Output`]s.
//!
//! Driving contract (quinn-proto style, with the swarm as the only IO the engine touches):
//!
//! 1. Feed inputs: [`Engine::handle_swarm_event`] for every event of
//!    [`Engine::swarm_mut`], [`Engine::handle_timeout`] when [`Engine::poll_timeout`] is due,
//!    `handle_origin_*` for origin HTTP progress, [`Engine::handle_digest`] for each
//!    [`Output::Digest`] (only with [`EngineConfig::shell_digest_min_bytes`]), and the
//!    commands (`start_fetch`, `add`, …).
//! 2. After every input, call [`Engine::poll_output`] until it returns `None` and act on each
//!    output. The engine bounds the work done per call; if [`Engine::has_more_work`] is
//!    true, call [`Engine::poll_output`] again on the next turn before waiting.
//! 3. Time (`now`) is the caller's clock, in [`CoreInstant`] micros since the node started;
//!    it must never go backwards.
//!
//! Planner actions become:
//!
//! | planner action   | engine                                                       |
//! |------------------|--------------------------------------------------------------|
//! | `FindProviders`  | Kademlia `get_providers` on the CID's multihash              |
//! | `Connect`        | dial the peer (addresses from the running DHT query)         |
//! | `SendWantHave`   | block-exchange want-have request(s)                          |
//! | `SendWantBlock`  | one want-block request per CID (one stream each)             |
//! | `SendCancel`     | nothing: an answer already on its way is ignored on arrival   |
//! | `OriginFetch`    | [`Output::OriginFetch`] for the shell                        |
//! | `CancelOrigin`   | [`Output::CancelOrigin`]                                     |
//! | `Deliver`        | [`Output::Deliver`]                                          |
//! | `Announce`       | have-summary to connected peers; Kademlia `start_providing`  |
//! |                  | queued for idle time (`announce`); remembered, to re-announce |
//!
//! Non-goals: transports, timers, HTTP, threads — the shells' business. The engine reads no
//! clock and draws no randomness of its own: time comes with every input and the jitter of
//! its redials from [`EngineConfig::seed`], so tests run it in virtual time.

mod announce;
mod backoff;
mod bootstrap;
mod cache;
mod connections;
mod consent;
mod digest;
mod exchange;
mod fetches;
mod output;
mod planner_io;
mod summary;
mod swarm_io;
mod warm;

use std::collections::{BTreeSet, HashMap, VecDeque};

use mesh_core::small::{SmallMap, SmallSet};

use cid::Cid;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use mesh_core::Block;
use mesh_core::fetch::{FetchId, OriginRequestId, Planner};
use mesh_core::store::{BlockStore, MemoryStore, StoreError};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::blocks::{
    BlockCodec, BlockServer, InboundRequestId, OutboundRequestId, ResponseChannel,
};
use mesh_protocol::{Behaviour, Event, Extra, NoExtra};

pub use announce::{ANNOUNCE_HOLD, ANNOUNCING, ANNOUNCING_WHEN_BUSY};
pub use backoff::{Backoff, INITIAL_DELAY, Jitter, MAX_DELAY};
pub use cache::{PersistedBlock, Restored};
pub use connections::ConnectionKind;
pub use digest::DigestId;
pub use fetches::{Sources, origin_url};
pub use output::{
    AnnounceError, CancelOrigin, Deliver, FetchReport, NodeStats, NodeStatus, OriginFetch, Output,
    PeerKind,
};
pub use warm::{WARM_INTERVAL, WARM_LOOKUPS};

use crate::announce::{Announcements, When};
use crate::bootstrap::Bootstrap;
use crate::cache::CacheIndex;
use crate::connections::Connections;
use crate::digest::Digests;
use crate::fetches::Fetches;
use crate::warm::Warm;

/// Planner outputs (actions and events) handled per [`Engine::poll_output`] refill; what is
/// left is handled on the next call.
const MAX_OUTPUTS_PER_TURN: usize = 8192;

/// A block-exchange request of ours awaiting its answer.
#[derive(Debug)]
struct Outbound {
    peer: PeerId,
    /// Want-block (one CID) or want-have.
    want_block: bool,
    cids: Vec<Cid>,
    /// The request, to send again if its connection closed while another to the peer is up.
    request: mesh_protocol::blocks::BlockRequest,
    /// Times it was sent again.
    resent: u8,
    /// Its place in the order of block requests and cancels sent (`Engine::sent`).
    sent: u64,
}

/// How often a request whose connection closed is sent again over another connection to the
/// same peer (a browser's relayed connection closes once the direct one is up).
const MAX_RESENDS: u8 = 2;

/// Settings of an [`Engine`] beyond its parts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Advertise the addresses the swarm listens on as external addresses (what provider
    /// records carry). Off when the operator gives external addresses explicitly.
    pub advertise_listen_addrs: bool,
    /// Advertise loopback listen addresses too (tests on one machine, relayed addresses of a
    /// bootstrap node on loopback). A wildcard listen reports 127.0.0.1, useless to others.
    pub advertise_loopback: bool,
    /// **Testing only**: flip a byte of every block served, to exercise other nodes' defences.
    pub serve_corrupt_blocks_for_testing: bool,
    /// Exchange blocks over relayed connections. Browsers turn this off: a relayed connection
    /// to another tab only carries the `/webrtc` signaling, and blocks wait for the direct
    /// connection it sets up (relay circuits are limited to signaling sizes).
    pub exchange_over_relayed: bool,
    /// Bootstrap nodes, each address ending in `/p2p/<peer>` (several per node allowed):
    /// dialled on [`Engine::join`] and redialled with backoff whenever lost.
    pub bootstrap: Vec<Multiaddr>,
    /// Hold a relay reservation at each connected bootstrap node and listen for `/webrtc`
    /// through it: nodes that cannot be dialled (browsers).
    pub reserve_relay: bool,
    /// Connections to keep open, ahead of need, to providers of [`EngineConfig::warm_assets`].
    pub warm_peers: usize,
    /// The site's assets (from its manifest).
    pub warm_assets: Vec<Cid>,
    /// Where origin requests for a CID go when a fetch names no URL: `<origin_base>/<cid>`.
    pub origin_base: Option<String>,
    /// The site's rendezvous key (its manifest's CID): a node provides it while its cache
    /// holds any of [`EngineConfig::warm_assets`], and warm rounds look it up instead of one
    /// lookup per asset, so one query finds peers holding any part of the site.
    pub site: Option<Cid>,
    /// Seed of the redial jitter.
    pub seed: u64,
    /// Most asset roots in the have-summary sent to each mesh peer when it connects (see
    /// `summary.rs`). Default [`DEFAULT_SUMMARY_ROOTS`]; 0 sends none.
    pub summary_roots: usize,
    /// Serve other nodes: announce what this node holds, hold relay reservations (when
    /// [`EngineConfig::reserve_relay`]) and answer block requests. Off, the node only fetches:
    /// peers it fetches from still see its address, but none learns what it holds.
    pub serve: bool,
    /// Blocks from peers of at least this many bytes are hashed by the shell
    /// ([`Output::Digest`], answered with [`Engine::handle_digest`]) instead of by the
    /// planner: a browser's WebCrypto is much faster than sha2 in wasm, but asynchronous.
    /// `None` (the default) hashes every block here.
    pub shell_digest_min_bytes: Option<usize>,
}

/// Roots in a have-summary by default: 100 sha2-256 CIDs are about 3.8 KiB on the wire, one
/// request, and more assets than a page usually loads.
pub const DEFAULT_SUMMARY_ROOTS: usize = 100;

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            advertise_listen_addrs: true,
            advertise_loopback: false,
            serve_corrupt_blocks_for_testing: false,
            exchange_over_relayed: true,
            bootstrap: Vec::new(),
            reserve_relay: false,
            warm_peers: 0,
            warm_assets: Vec::new(),
            origin_base: None,
            site: None,
            seed: 0,
            summary_roots: DEFAULT_SUMMARY_ROOTS,
            serve: true,
            shell_digest_min_bytes: None,
        }
    }
}

impl EngineConfig {
    /// Sets [`EngineConfig::bootstrap`].
    pub fn with_bootstrap(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.bootstrap = addrs;
        self
    }

    /// Sets [`EngineConfig::reserve_relay`].
    pub fn with_reserve_relay(mut self, on: bool) -> Self {
        self.reserve_relay = on;
        self
    }

    /// Sets [`EngineConfig::warm_peers`] and [`EngineConfig::warm_assets`].
    pub fn with_warm_peers(mut self, peers: usize, assets: Vec<Cid>) -> Self {
        self.warm_peers = peers;
        self.warm_assets = assets;
        self
    }

    /// Sets [`EngineConfig::origin_base`].
    pub fn with_origin_base(mut self, base: Option<String>) -> Self {
        self.origin_base = base;
        self
    }

    /// Sets [`EngineConfig::site`].
    pub fn with_site(mut self, site: Option<Cid>) -> Self {
        self.site = site;
        self
    }

    /// Sets [`EngineConfig::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`EngineConfig::summary_roots`].
    pub fn with_summary_roots(mut self, roots: usize) -> Self {
        self.summary_roots = roots;
        self
    }

    /// Sets [`EngineConfig::advertise_listen_addrs`].
    pub fn with_advertise_listen_addrs(mut self, on: bool) -> Self {
        self.advertise_listen_addrs = on;
        self
    }

    /// Sets [`EngineConfig::advertise_loopback`].
    pub fn with_advertise_loopback(mut self, on: bool) -> Self {
        self.advertise_loopback = on;
        self
    }

    /// Sets [`EngineConfig::exchange_over_relayed`].
    pub fn with_exchange_over_relayed(mut self, on: bool) -> Self {
        self.exchange_over_relayed = on;
        self
    }

    /// Sets [`EngineConfig::shell_digest_min_bytes`].
    pub fn with_shell_digest_min_bytes(mut self, min: Option<usize>) -> Self {
        self.shell_digest_min_bytes = min;
        self
    }

    /// Sets [`EngineConfig::serve_corrupt_blocks_for_testing`].
    pub fn with_serve_corrupt_blocks_for_testing(mut self, on: bool) -> Self {
        self.serve_corrupt_blocks_for_testing = on;
        self
    }
}

/// Why an [`Engine`] cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A bootstrap address does not name its peer.
    #[error("bootstrap address {addr} must end in /p2p/<peer id>")]
    BootstrapWithoutPeerId {
        /// The address.
        addr: Multiaddr,
    },
}

/// A mesh node's logic: swarm, planner, block server and the node's policy in one owner. See
/// the crate docs for how to drive it. `X` is what the node composes into the behaviour
/// beside the mesh's protocols (the browser's `/webrtc` signaling; nothing on native nodes).
pub struct Engine<X: Extra = NoExtra> {
    swarm: Swarm<Behaviour<X>>,
    planner: Planner<PeerId, MemoryStore>,
    server: BlockServer,
    /// Shares its counter of rejected inbound requests with the swarm's codec.
    codec: BlockCodec,
    config: EngineConfig,
    identify_version: String,
    blocks_protocol: StreamProtocol,
    outbound: SmallMap<OutboundRequestId, Outbound>,
    /// Block requests and cancels sent so far: orders a want-block against a cancel.
    sent: u64,
    /// Blocks cancelled at a peer, with the cancel's place in that order, until the block
    /// arrives, is asked for again or the peer leaves (see `exchange.rs`, don't-have).
    cancelled: SmallMap<(PeerId, Cid), u64>,
    /// Want-blocks the server keeps until a send slot frees (see `exchange.rs`).
    kept:
        SmallMap<InboundRequestId, (PeerId, mesh_protocol::blocks::BlockRequest, ResponseChannel)>,
    provider_queries: HashMap<mesh_protocol::LookupId, Cid>,
    /// Every root this node provides, to re-announce after it lost its DHT peers.
    provided: BTreeSet<Cid>,
    /// Announcements of `provided` roots waiting or running (see `announce.rs`).
    announcements: Announcements,
    /// The blocks of each asset the planner cached, to withdraw it when one leaves the store.
    cache: CacheIndex,
    /// Connected peers that speak our block exchange, as told to the planner.
    mesh_peers: SmallSet<PeerId>,
    /// Peers dialled for the planner, so a failed dial can be reported.
    dialling: SmallSet<PeerId>,
    connections: Connections,
    fetches: Fetches,
    /// Received blocks the shell is hashing.
    digests: Digests,
    bootstrap: Bootstrap,
    warm: Warm,
    jitter: Jitter,
    outputs: VecDeque<Output>,
    stats: NodeStats,
    more_work: bool,
    /// The latest time a caller gave (see `tick`).
    last_now: CoreInstant,
}

impl<X: Extra> std::fmt::Debug for Engine<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("peer_id", self.swarm.local_peer_id())
            .field("mesh_peers", &self.mesh_peers)
            .finish_non_exhaustive()
    }
}

impl<X: Extra> Engine<X> {
    /// An engine over these parts. `protocol` must be the configuration the swarm's
    /// behaviour was built with, and `codec` the codec inside it.
    pub fn new(
        swarm: Swarm<Behaviour<X>>,
        mut planner: Planner<PeerId, MemoryStore>,
        server: BlockServer,
        codec: BlockCodec,
        protocol: &mesh_protocol::Config,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        let ns = &protocol.namespace;
        let bootstrap = Bootstrap::new(&config.bootstrap)
            .map_err(|addr| EngineError::BootstrapWithoutPeerId { addr })?;
        let warm = Warm::new(config.warm_peers, config.warm_assets.clone(), config.site);
        let jitter = Jitter::new(config.seed);
        // What leaves the store stops being provided (`cache`).
        planner.store_mut().enable_drop_log();
        let mut server = server;
        server.set_paused(!config.serve);
        Ok(Self {
            swarm,
            planner,
            server,
            codec,
            config,
            identify_version: ns.identify_protocol_version(),
            blocks_protocol: ns.blocks_protocol(),
            outbound: SmallMap::new(),
            sent: 0,
            cancelled: SmallMap::new(),
            kept: SmallMap::new(),
            provider_queries: HashMap::new(),
            provided: BTreeSet::new(),
            announcements: Announcements::default(),
            cache: CacheIndex::default(),
            mesh_peers: SmallSet::new(),
            dialling: SmallSet::new(),
            connections: Connections::default(),
            fetches: Fetches::default(),
            digests: Digests::default(),
            bootstrap,
            warm,
            jitter,
            outputs: VecDeque::new(),
            stats: NodeStats::default(),
            more_work: false,
            last_now: CoreInstant::from_micros(0),
        })
    }

    /// The swarm, to poll for events (feed them to [`Engine::handle_swarm_event`]) and to
    /// listen, dial bootstrap peers and so on.
    pub fn swarm_mut(&mut self) -> &mut Swarm<Behaviour<X>> {
        &mut self.swarm
    }

    /// The swarm.
    pub fn swarm(&self) -> &Swarm<Behaviour<X>> {
        &self.swarm
    }

    /// The planner (for its stats and store).
    pub fn planner(&self) -> &Planner<PeerId, MemoryStore> {
        &self.planner
    }

    /// Whether `peer` is connected and speaks this mesh's block exchange.
    pub fn is_mesh_peer(&self, peer: &PeerId) -> bool {
        self.mesh_peers.contains(peer)
    }

    /// The roots this node provides.
    pub fn provided(&self) -> impl Iterator<Item = &Cid> {
        self.provided.iter()
    }

    /// When [`Engine::handle_timeout`] is next due: the planner's timer, a bootstrap redial,
    /// a warm-peer round, a direct connection's deadline to identify or the end of a held
    /// announcement's wait, whichever is first.
    pub fn poll_timeout(&self) -> Option<CoreInstant> {
        [
            self.planner.poll_timeout(),
            self.bootstrap.poll_timeout(),
            self.warm.poll_timeout(),
            self.connections.identify_deadline(),
            self.announce_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The time [`Engine::poll_timeout`] named has come (calling it early does nothing).
    pub fn handle_timeout(&mut self, now: CoreInstant) {
        self.tick(now);
        if self.planner.poll_timeout().is_some_and(|t| t <= now) {
            self.planner.handle_timeout(now);
        }
        self.bootstrap_timeout(now);
        self.warm_timeout(now);
        for connection in self.connections.take_unidentified(now) {
            tracing::info!(
                ?connection,
                "direct connection did not identify in time: closing"
            );
            self.swarm.close_connection(connection);
        }
    }

    /// Whether outputs are left after the last [`Engine::poll_output`] hit its per-turn bound.
    pub fn has_more_work(&self) -> bool {
        self.more_work
    }

    /// The next thing the shell must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() {
            self.drain_planner();
            // Blocks stored since the last call may have evicted others.
            self.collect_dropped();
            // Lookups the planner just started go before queued announcements.
            self.announce_due();
        }
        let output = self.outputs.pop_front();
        // A fetch is forgotten once the shell has its end: until then the deliveries queued
        // before it are labelled with the fetch's sources (a one-block fetch starts, delivers
        // and completes within one drain of the planner).
        if let Some(
            Output::Completed { fetch, .. }
            | Output::Failed { fetch, .. }
            | Output::Cancelled { fetch },
        ) = &output
        {
            self.fetches.finish(*fetch);
        }
        output
    }

    /// Starts fetching `cid`, with origin requests going to `origin` (or, without one, to
    /// `<origin_base>/<cid>`; with neither, peers only). Progress comes as
    /// [`Output::Deliver`] and then [`Output::Completed`] or [`Output::Failed`].
    pub fn start_fetch(&mut self, now: CoreInstant, cid: Cid, origin: Option<String>) -> FetchId {
        self.tick(now);
        let origin = origin.or_else(|| {
            self.config
                .origin_base
                .as_deref()
                .map(|base| origin_url(base, &cid))
        });
        let id = self.planner.start(now, cid, origin.is_some());
        self.fetches.start(id, origin);
        id
    }

    /// Stops a fetch (nobody reads it any more); releases its wants, pins and origin requests.
    pub fn cancel_fetch(&mut self, now: CoreInstant, fetch: FetchId) {
        self.tick(now);
        self.planner.cancel(now, fetch);
    }

    /// The URL the origin requests of `fetch` go to (what [`Output::OriginFetch`] fetches).
    pub fn origin_url(&self, fetch: FetchId) -> Option<&str> {
        self.fetches.get(fetch)?.origin.as_deref()
    }

    /// The fetch an origin request belongs to, while it runs.
    pub fn origin_request_fetch(&self, request: OriginRequestId) -> Option<FetchId> {
        self.fetches.fetch_of_origin(request)
    }

    /// Where the verified bytes of a running fetch came from so far.
    pub fn fetch_sources(&self, fetch: FetchId) -> Option<Sources> {
        Some(self.fetches.get(fetch)?.sources)
    }

    /// Origin bytes for `request`, in order.
    pub fn handle_origin_data(
        &mut self,
        now: CoreInstant,
        request: OriginRequestId,
        data: bytes::Bytes,
    ) {
        self.tick(now);
        self.planner.handle_origin_data(now, request, data);
    }

    /// The next piece of the origin body of `request`, one leaf with its SHA-256 computed by
    /// the shell: see [`Planner::handle_origin_leaf`].
    pub fn handle_origin_leaf(
        &mut self,
        now: CoreInstant,
        request: OriginRequestId,
        data: bytes::Bytes,
        digest: mesh_core::Sha256Digest,
    ) {
        self.tick(now);
        self.stats.shell_digests += 1;
        self.planner.handle_origin_leaf(now, request, data, digest);
    }

    /// The origin body of `request` ended.
    pub fn handle_origin_done(&mut self, now: CoreInstant, request: OriginRequestId) {
        self.tick(now);
        self.fetches.origin_ended(request);
        self.planner.handle_origin_done(now, request);
    }

    /// The origin request failed.
    pub fn handle_origin_failed(
        &mut self,
        now: CoreInstant,
        request: OriginRequestId,
        reason: String,
    ) {
        self.tick(now);
        self.fetches.origin_ended(request);
        self.planner.handle_origin_failed(now, request, reason);
    }

    /// Stores and pins `blocks` (a DAG rooted at `root`), then announces `root` promptly (in
    /// the announcement queue, `announce.rs`, so a seeder adding hundreds of assets runs at
    /// most [`ANNOUNCING`] queries at once); the outcome comes as [`Output::Announced`]. A node
    /// that does not serve ([`EngineConfig::serve`]) only stores them.
    pub fn add(&mut self, root: Cid, blocks: Vec<Block>) -> Result<(), StoreError> {
        let store = self.planner.store_mut();
        for block in blocks {
            let cid = *block.cid();
            // Pin first: a seeded block must never be evicted for a cached one.
            store.pin(&cid);
            if let Err(e) = store.put(block) {
                store.unpin(&cid);
                return Err(e);
            }
        }
        if self.provide(root, When::Promptly) {
            self.announcements.report_outcome(root);
        }
        Ok(())
    }

    /// Announces every provided root again: after (re)connecting to DHT servers that forgot
    /// this node's records (bootstrap nodes drop a client's records when it disconnects).
    /// The announcements wait for the node's idle time (`announce.rs`), except the site's
    /// rendezvous key: other tabs find warm peers by it.
    pub fn reannounce_all(&mut self) {
        if !self.config.serve {
            return;
        }
        let site = self.config.site;
        let roots: Vec<Cid> = self.provided.iter().copied().collect();
        for cid in roots {
            let when = if Some(cid) == site {
                When::Promptly
            } else {
                When::Idle
            };
            self.announce(cid, when);
        }
    }

    /// Dials `addr` (ending in `/p2p/<peer>`) unless that peer is connected already, and
    /// returns the peer. [`Output::PeerReady`] or [`Output::PeerUnusable`] follows (at once,
    /// on the next [`Engine::poll_output`], if the peer is a mesh peer already).
    pub fn connect(&mut self, addr: Multiaddr) -> Result<PeerId, String> {
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            return Err("the address must end in /p2p/<peer id>".to_owned());
        };
        if self.mesh_peers.contains(&peer) {
            self.outputs.push_back(Output::PeerReady { peer });
            return Ok(peer);
        }
        if !self.swarm.is_connected(&peer) {
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            self.swarm.dial(opts).map_err(|e| e.to_string())?;
        }
        Ok(peer)
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        let mut stats = self.stats.clone();
        stats.transfer = self.planner.stats().snapshot();
        stats.serve = self.server.stats();
        stats.store = self.planner.store().stats();
        stats.malformed_requests = stats.malformed_requests.max(self.codec.rejected_requests());
        stats
    }

    /// What the node looks like now.
    pub fn status(&mut self) -> NodeStatus {
        let rejected = self.codec.rejected_requests();
        if rejected > self.stats.malformed_requests {
            tracing::warn!(
                count = rejected - self.stats.malformed_requests,
                "rejected malformed or oversize block-exchange requests"
            );
            self.stats.malformed_requests = rejected;
        }
        let routing_table = self.swarm.behaviour_mut().routing.known_peers();
        NodeStatus {
            connected_peers: self.swarm.connected_peers().count(),
            mesh_peers: self.mesh_peers.len(),
            bootstrap_peers: self.bootstrap.connected(),
            reachable: self.bootstrap.reachable(),
            routing_table,
            malformed_requests: self.stats.malformed_requests,
            malformed_responses: self.stats.malformed_responses,
            warming: self.warming(),
            announcing: self.announcements.running(),
            announcements_waiting: self.announcements.waiting(),
        }
    }

    /// Feeds one swarm event.
    pub fn handle_swarm_event(&mut self, now: CoreInstant, event: SwarmEvent<Event>) {
        self.tick(now);
        swarm_io::handle(self, now, event);
    }
}

/// Whether `addr` is on a loopback interface.
pub fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}
