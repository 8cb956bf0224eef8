//! # mesh-engine
//!
//! What a mesh node does, without saying how its IO runs: the one [`Engine`] owns the libp2p
//! [`Swarm`] (running [`mesh_protocol::Behaviour`]), mesh-core's fetch [`Planner`] and the
//! block server, and translates between them. The native node (tokio) and the browser node
//! (wasm-bindgen) are thin shells around it: they poll the swarm, keep the timer the planner
//! asks for, run origin HTTP requests, and act on the engine's [`Output`]s.
//!
//! Driving contract (quinn-proto style, with the swarm as the only IO the engine touches):
//!
//! 1. Feed inputs: [`Engine::handle_swarm_event`] for every event of
//!    [`Engine::swarm_mut`], [`Engine::handle_timeout`] when [`Engine::poll_timeout`] is due,
//!    `handle_origin_*` for origin HTTP progress, and the commands (`start_fetch`, `add`, …).
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
//! | `Announce`       | Kademlia `start_providing` (and remembered, to re-announce)  |
//!
//! Non-goals: transports, timers, HTTP, threads — the shells' business.

mod exchange;
mod output;
mod planner_io;
mod swarm_io;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cid::Cid;
use libp2p::kad::QueryId;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use mesh_core::Block;
use mesh_core::fetch::{FetchId, OriginRequestId, Planner};
use mesh_core::store::{BlockStore, MemoryStore};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::blocks::{BlockCodec, BlockServer};
use mesh_protocol::{Behaviour, Event, provider_key};

pub use output::{
    AddError, CancelOrigin, Deliver, FetchReport, NodeStats, NodeStatus, OriginFetch, Output,
};

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
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            advertise_listen_addrs: true,
            advertise_loopback: false,
            serve_corrupt_blocks_for_testing: false,
            exchange_over_relayed: true,
        }
    }
}

impl EngineConfig {
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

    /// Sets [`EngineConfig::serve_corrupt_blocks_for_testing`].
    pub fn with_serve_corrupt_blocks_for_testing(mut self, on: bool) -> Self {
        self.serve_corrupt_blocks_for_testing = on;
        self
    }
}

/// A mesh node's logic: swarm, planner and block server in one owner. See the crate docs for
/// how to drive it.
pub struct Engine {
    swarm: Swarm<Behaviour>,
    planner: Planner<PeerId, MemoryStore>,
    server: BlockServer,
    /// Shares its counter of rejected inbound requests with the swarm's codec.
    codec: BlockCodec,
    config: EngineConfig,
    identify_version: String,
    blocks_protocol: StreamProtocol,
    kad_protocol: StreamProtocol,
    outbound: BTreeMap<OutboundRequestId, Outbound>,
    provider_queries: HashMap<QueryId, Cid>,
    /// Lookups asked for with [`Engine::find_providers`] (warming connections, not fetching).
    lookup_queries: HashMap<QueryId, Cid>,
    /// Announcements asked for with [`Engine::add`], answered with [`Output::Announced`].
    announce_queries: HashMap<QueryId, Cid>,
    /// Every root this node provides, to re-announce after it lost its DHT peers.
    provided: BTreeSet<Cid>,
    /// Connected peers that speak our block exchange, as told to the planner.
    mesh_peers: BTreeSet<PeerId>,
    /// Peers dialled for the planner, so a failed dial can be reported.
    dialling: BTreeSet<PeerId>,
    /// Open connections that go through a relay circuit.
    relayed_connections: std::collections::HashSet<libp2p::swarm::ConnectionId>,
    /// Verified bytes per peer of each running fetch.
    fetch_peers: BTreeMap<FetchId, BTreeMap<PeerId, u64>>,
    outputs: std::collections::VecDeque<Output>,
    stats: NodeStats,
    more_work: bool,
    /// The latest time a caller gave (see `tick`).
    last_now: CoreInstant,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("peer_id", self.swarm.local_peer_id())
            .field("mesh_peers", &self.mesh_peers)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over these parts. `protocol` must be the configuration the swarm's
    /// behaviour was built with, and `codec` the codec inside it.
    pub fn new(
        swarm: Swarm<Behaviour>,
        planner: Planner<PeerId, MemoryStore>,
        server: BlockServer,
        codec: BlockCodec,
        protocol: &mesh_protocol::Config,
        config: EngineConfig,
    ) -> Self {
        let ns = &protocol.namespace;
        Self {
            swarm,
            planner,
            server,
            codec,
            config,
            identify_version: ns.identify_protocol_version(),
            blocks_protocol: ns.blocks_protocol(),
            kad_protocol: ns.kad_protocol(),
            outbound: BTreeMap::new(),
            provider_queries: HashMap::new(),
            lookup_queries: HashMap::new(),
            announce_queries: HashMap::new(),
            provided: BTreeSet::new(),
            mesh_peers: BTreeSet::new(),
            dialling: BTreeSet::new(),
            relayed_connections: std::collections::HashSet::new(),
            fetch_peers: BTreeMap::new(),
            outputs: std::collections::VecDeque::new(),
            stats: NodeStats::default(),
            more_work: false,
            last_now: CoreInstant::from_micros(0),
        }
    }

    /// The swarm, to poll for events (feed them to [`Engine::handle_swarm_event`]) and to
    /// listen, dial bootstrap peers and so on.
    pub fn swarm_mut(&mut self) -> &mut Swarm<Behaviour> {
        &mut self.swarm
    }

    /// The swarm.
    pub fn swarm(&self) -> &Swarm<Behaviour> {
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

    /// When [`Engine::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<CoreInstant> {
        self.planner.poll_timeout()
    }

    /// The planner's timer fired.
    pub fn handle_timeout(&mut self, now: CoreInstant) {
        self.tick(now);
        self.planner.handle_timeout(now);
    }

    /// Whether outputs are left after the last [`Engine::poll_output`] hit its per-turn bound.
    pub fn has_more_work(&self) -> bool {
        self.more_work
    }

    /// The next thing the shell must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() {
            self.drain_planner();
        }
        self.outputs.pop_front()
    }

    /// Starts fetching `cid`; `has_origin` says whether the shell can run origin requests
    /// for it. Progress comes as [`Output::Deliver`] and then [`Output::Completed`] or
    /// [`Output::Failed`].
    pub fn start_fetch(&mut self, now: CoreInstant, cid: Cid, has_origin: bool) -> FetchId {
        self.tick(now);
        let id = self.planner.start(now, cid, has_origin);
        self.fetch_peers.insert(id, BTreeMap::new());
        id
    }

    /// Stops a fetch (nobody reads it any more); releases its wants, pins and origin requests.
    pub fn cancel_fetch(&mut self, now: CoreInstant, fetch: FetchId) {
        self.tick(now);
        self.fetch_peers.remove(&fetch);
        self.planner.cancel(now, fetch);
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

    /// The origin body of `request` ended.
    pub fn handle_origin_done(&mut self, now: CoreInstant, request: OriginRequestId) {
        self.tick(now);
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
        self.planner.handle_origin_failed(now, request, reason);
    }

    /// Stores and pins `blocks` (a DAG rooted at `root`), then announces `root`; the outcome
    /// of the announcement comes as [`Output::Announced`].
    pub fn add(&mut self, root: Cid, blocks: Vec<Block>) -> Result<(), AddError> {
        let store = self.planner.store_mut();
        for block in blocks {
            let cid = *block.cid();
            // Pin first: a seeded block must never be evicted for a cached one.
            store.pin(&cid);
            if let Err(e) = store.put(block) {
                store.unpin(&cid);
                return Err(AddError::Store(e));
            }
        }
        let query = self
            .swarm
            .behaviour_mut()
            .kad
            .start_providing(provider_key(&root))
            .map_err(|e| AddError::Announce {
                cid: root,
                reason: e.to_string(),
            })?;
        self.provided.insert(root);
        self.announce_queries.insert(query, root);
        Ok(())
    }

    /// Asks the DHT who provides `cid` without fetching it; the answers come as
    /// [`Output::Providers`]. Browsers use it to open warm connections to the providers of
    /// the site's assets before the page asks for them.
    pub fn find_providers(&mut self, cid: Cid) {
        let query = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(provider_key(&cid));
        self.lookup_queries.insert(query, cid);
    }

    /// Announces every provided root again: after (re)connecting to DHT servers that forgot
    /// this node's records (bootstrap nodes drop a client's records when it disconnects).
    pub fn reannounce_all(&mut self) {
        let roots: Vec<Cid> = self.provided.iter().copied().collect();
        for cid in roots {
            if let Err(e) = self
                .swarm
                .behaviour_mut()
                .kad
                .start_providing(provider_key(&cid))
            {
                tracing::warn!(%cid, error = %e, "cannot re-announce");
            }
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
        let routing_table = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|b| b.num_entries())
            .sum();
        NodeStatus {
            connected_peers: self.swarm.connected_peers().count(),
            mesh_peers: self.mesh_peers.len(),
            routing_table,
            malformed_requests: self.stats.malformed_requests,
            malformed_responses: self.stats.malformed_responses,
        }
    }

    /// Feeds one swarm event.
    pub fn handle_swarm_event(&mut self, now: CoreInstant, event: SwarmEvent<Event>) {
        self.tick(now);
        swarm_io::handle(self, now, event);
    }
}

/// Splits bootstrap addresses into peer ids and the addresses to dial.
pub fn bootstrap_peers(addrs: &[Multiaddr]) -> Result<Vec<(PeerId, Multiaddr)>, Multiaddr> {
    addrs
        .iter()
        .map(|addr| {
            let mut dial = addr.clone();
            match dial.pop() {
                Some(Protocol::P2p(peer)) => Ok((peer, dial)),
                _ => Err(addr.clone()),
            }
        })
        .collect()
}

/// Whether `addr` goes through a relay circuit (and is not a direct `/webrtc` connection
/// that was merely signaled through one).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    let mut circuit = false;
    for p in addr.iter() {
        match p {
            Protocol::WebRTC => return false,
            Protocol::P2pCircuit => circuit = true,
            _ => {}
        }
    }
    circuit
}

/// Whether `addr` is on a loopback interface.
pub fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}
