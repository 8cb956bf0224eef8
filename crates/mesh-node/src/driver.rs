//! The node task: one loop owning the swarm and the fetch planner.
//!
//! Each turn takes one input (a command, a swarm event, an origin event or the planner's
//! timer), feeds it to the planner or the serving policy, then carries out every action the
//! planner queued. The planner decides; this module only translates:
//!
//! | planner action   | here                                                       |
//! |------------------|------------------------------------------------------------|
//! | `FindProviders`  | Kademlia `get_providers` on the CID's multihash            |
//! | `Connect`        | dial the peer (addresses from the running DHT query)       |
//! | `SendWantHave`   | block-exchange want-have request                           |
//! | `SendWantBlock`  | one want-block request per CID (one stream each)           |
//! | `SendCancel`     | nothing: an answer already on its way is ignored on arrival |
//! | `OriginFetch`    | HTTP GET (with `Range`) in its own task                    |
//! | `CancelOrigin`   | abort that task                                            |
//! | `Deliver`        | send the verified bytes to the fetch's stream              |
//! | `Announce`       | Kademlia `start_providing`                                 |

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identify};
use mesh_core::fetch::{
    Action, BlockSource, Event as PlanEvent, FetchId, OriginRequestId, Penalty, Planner,
};
use mesh_core::store::{BlockStore, MemoryStore};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::blocks::{
    BlockCodec, BlockRequest, BlockResponse, BlockServer, MAX_WANT_HAVE_CIDS, ProtocolError,
    ServeOutcome,
};
use mesh_protocol::{Behaviour, Event, provider_key};
use reqwest::Url;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::{NodeError, StartError};
use crate::handle::{Command, FetchChunk, FetchReport, NodeStats, NodeStatus};
use crate::origin::{self, OriginEvent};

/// Planner actions (and events) handled per turn before the loop looks at its inputs again;
/// what is left is handled on the next turn, which comes at once.
const MAX_ACTIONS_PER_TURN: usize = 4096;

/// How often the status is refreshed even without events: the codec counts rejected requests
/// inside connection handlers, which wake nobody.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);

/// A block-exchange request of ours awaiting its answer.
#[derive(Debug)]
struct Outbound {
    peer: PeerId,
    /// Want-block (one CID) or want-have.
    want_block: bool,
    cids: Vec<Cid>,
}

/// A handle waiting in [`NodeHandle::connect`](crate::NodeHandle::connect): the address it
/// gave and where the answer goes.
type ConnectWaiter = (Multiaddr, oneshot::Sender<Result<PeerId, NodeError>>);

/// A fetch some handle is waiting on.
#[derive(Debug)]
struct ActiveFetch {
    output: mpsc::UnboundedSender<FetchChunk>,
    origin: Option<Url>,
    peers: BTreeMap<PeerId, u64>,
}

/// Everything the node task owns.
pub(crate) struct Driver {
    swarm: Swarm<Behaviour>,
    planner: Planner<PeerId, MemoryStore>,
    server: BlockServer,
    /// Shares its counter of rejected inbound requests with the swarm's codec.
    codec: BlockCodec,
    epoch: Instant,
    identify_version: String,
    blocks_protocol: StreamProtocol,
    kad_protocol: StreamProtocol,
    advertise_listen_addrs: bool,
    /// Whether loopback addresses were asked for explicitly; if not, they are not advertised
    /// (a wildcard listen reports 127.0.0.1 too, useless to anyone else).
    listen_loopback: bool,
    corrupt: bool,
    origin_base_url: Option<Url>,
    http: Option<reqwest::Client>,
    commands: mpsc::Receiver<Command>,
    origin_tx: mpsc::Sender<OriginEvent>,
    origin_rx: mpsc::Receiver<OriginEvent>,
    origin_tasks: BTreeMap<OriginRequestId, AbortHandle>,
    fetches: BTreeMap<FetchId, ActiveFetch>,
    outbound: BTreeMap<OutboundRequestId, Outbound>,
    provider_queries: HashMap<QueryId, Cid>,
    announce_waiters: HashMap<QueryId, (Cid, oneshot::Sender<Result<Cid, NodeError>>)>,
    /// Connected peers that speak our block exchange, as told to the planner.
    mesh_peers: BTreeSet<PeerId>,
    /// Handles waiting for a peer to be connected and identified.
    connect_waiters: BTreeMap<PeerId, Vec<ConnectWaiter>>,
    /// Peers dialled for the planner, so a failed dial can be reported.
    dialling: BTreeSet<PeerId>,
    listeners_pending: HashSet<ListenerId>,
    ready: Option<oneshot::Sender<Result<(), StartError>>>,
    status: watch::Sender<NodeStatus>,
    stats: NodeStats,
    more_actions: bool,
}

/// What [`Driver::new`] needs beyond the swarm.
pub(crate) struct DriverParts {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) planner: Planner<PeerId, MemoryStore>,
    pub(crate) server: BlockServer,
    pub(crate) codec: BlockCodec,
    pub(crate) protocol: mesh_protocol::Config,
    pub(crate) advertise_listen_addrs: bool,
    pub(crate) listen_loopback: bool,
    pub(crate) corrupt: bool,
    pub(crate) origin_base_url: Option<Url>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) listeners: HashSet<ListenerId>,
    pub(crate) ready: oneshot::Sender<Result<(), StartError>>,
    pub(crate) status: watch::Sender<NodeStatus>,
}

impl Driver {
    pub(crate) fn new(parts: DriverParts) -> Self {
        let (origin_tx, origin_rx) = mpsc::channel(origin::ORIGIN_CHANNEL_CAPACITY);
        let ns = &parts.protocol.namespace;
        Self {
            swarm: parts.swarm,
            planner: parts.planner,
            server: parts.server,
            codec: parts.codec,
            epoch: Instant::now(),
            identify_version: ns.identify_protocol_version(),
            blocks_protocol: ns.blocks_protocol(),
            kad_protocol: ns.kad_protocol(),
            advertise_listen_addrs: parts.advertise_listen_addrs,
            listen_loopback: parts.listen_loopback,
            corrupt: parts.corrupt,
            origin_base_url: parts.origin_base_url,
            http: None,
            commands: parts.commands,
            origin_tx,
            origin_rx,
            origin_tasks: BTreeMap::new(),
            fetches: BTreeMap::new(),
            outbound: BTreeMap::new(),
            provider_queries: HashMap::new(),
            announce_waiters: HashMap::new(),
            mesh_peers: BTreeSet::new(),
            connect_waiters: BTreeMap::new(),
            dialling: BTreeSet::new(),
            listeners_pending: parts.listeners,
            ready: Some(parts.ready),
            status: parts.status,
            stats: NodeStats::default(),
            more_actions: false,
        }
    }

    /// Runs until shutdown or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let timer = self.planner.poll_timeout().map(|t| self.deadline(t));
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(event) = self.origin_rx.recv() => self.on_origin_event(event),
                () = sleep_until(timer), if timer.is_some() => {
                    let now = self.now();
                    self.planner.handle_timeout(now);
                }
                () = std::future::ready(()), if self.more_actions => {}
                _ = status_tick.tick() => {}
            }
            self.drain_planner();
            self.publish_status();
        }
        for task in self.origin_tasks.values() {
            task.abort();
        }
        tracing::debug!("node stopped");
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(
            u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
        )
    }

    fn deadline(&self, t: CoreInstant) -> Instant {
        self.epoch + Duration::from_micros(t.as_micros())
    }

    // ---- commands ----------------------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Add {
                root,
                blocks,
                reply,
            } => self.add(root, blocks, reply),
            Command::Fetch {
                cid,
                origin,
                output,
            } => {
                let origin = origin.or_else(|| self.origin_url(&cid));
                let now = self.now();
                let id = self.planner.start(now, cid, origin.is_some());
                tracing::info!(%cid, fetch = id.0, origin = ?origin.as_ref().map(Url::as_str), "fetch started");
                self.fetches.insert(
                    id,
                    ActiveFetch {
                        output,
                        origin,
                        peers: BTreeMap::new(),
                    },
                );
            }
            Command::Connect { addr, reply } => self.connect(addr, reply),
            Command::ListenAddrs { reply } => {
                let peer = *self.swarm.local_peer_id();
                let addrs = self
                    .swarm
                    .listeners()
                    .map(|a| a.clone().with_p2p(peer).unwrap_or_else(|a| a))
                    .collect();
                let _ = reply.send(addrs);
            }
            Command::Stats { reply } => {
                let mut stats = self.stats.clone();
                stats.transfer = self.planner.stats().snapshot();
                stats.serve = self.server.stats();
                stats.store = self.planner.store().stats();
                stats.malformed_requests = self.codec.rejected_requests();
                let _ = reply.send(stats);
            }
            Command::Shutdown => {}
        }
    }

    fn connect(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<PeerId, NodeError>>) {
        let Some(Protocol::P2p(peer)) = addr.iter().last() else {
            let _ = reply.send(Err(NodeError::Connect {
                addr,
                reason: "the address must end in /p2p/<peer id>".to_owned(),
            }));
            return;
        };
        if self.mesh_peers.contains(&peer) {
            let _ = reply.send(Ok(peer));
            return;
        }
        if !self.swarm.is_connected(&peer)
            && let Err(e) = self.swarm.dial(addr.clone())
        {
            let _ = reply.send(Err(NodeError::Connect {
                addr,
                reason: e.to_string(),
            }));
            return;
        }
        self.connect_waiters
            .entry(peer)
            .or_default()
            .push((addr, reply));
    }

    /// Answers the handles waiting for `peer`: `Ok` or the reason it is not usable.
    fn connect_settled(&mut self, peer: PeerId, failure: Option<String>) {
        for (addr, reply) in self.connect_waiters.remove(&peer).unwrap_or_default() {
            let result = match &failure {
                None => Ok(peer),
                Some(reason) => Err(NodeError::Connect {
                    addr,
                    reason: reason.clone(),
                }),
            };
            let _ = reply.send(result);
        }
    }

    fn origin_url(&self, cid: &Cid) -> Option<Url> {
        let base = self.origin_base_url.as_ref()?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(&cid.to_string()).ok()
    }

    /// Stores and pins added blocks, then announces the root.
    fn add(
        &mut self,
        root: Cid,
        blocks: Vec<mesh_core::Block>,
        reply: oneshot::Sender<Result<Cid, NodeError>>,
    ) {
        let store = self.planner.store_mut();
        for block in blocks {
            let cid = *block.cid();
            // Pin first: a seeded block must never be evicted for a cached one.
            store.pin(&cid);
            if let Err(e) = store.put(block) {
                store.unpin(&cid);
                let _ = reply.send(Err(NodeError::Store(e)));
                return;
            }
        }
        match self
            .swarm
            .behaviour_mut()
            .kad
            .start_providing(provider_key(&root))
        {
            Ok(query) => {
                self.announce_waiters.insert(query, (root, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(NodeError::Announce {
                    cid: root,
                    reason: e.to_string(),
                }));
            }
        }
    }

    // ---- planner -----------------------------------------------------------------------

    /// Carries out the planner's actions and reads its events. Bounded per turn; if a bound
    /// is hit the loop comes back at once for the rest.
    fn drain_planner(&mut self) {
        let mut actions_left = true;
        for _ in 0..MAX_ACTIONS_PER_TURN {
            let Some(action) = self.planner.poll_action() else {
                actions_left = false;
                break;
            };
            self.carry_out(action);
        }
        let mut events_left = true;
        for _ in 0..MAX_ACTIONS_PER_TURN {
            let Some(event) = self.planner.poll_event() else {
                events_left = false;
                break;
            };
            self.on_planner_event(event);
        }
        self.more_actions = actions_left || events_left;
    }

    fn carry_out(&mut self, action: Action<PeerId>) {
        match action {
            Action::FindProviders { cid } => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(provider_key(&cid));
                self.provider_queries.insert(query, cid);
            }
            Action::Connect { peer } => self.dial(peer),
            Action::SendWantHave { peer, id, cids } => {
                for chunk in cids.chunks(MAX_WANT_HAVE_CIDS) {
                    let cids = chunk.to_vec();
                    let request = BlockRequest::WantHave {
                        id,
                        cids: cids.clone(),
                    };
                    self.send_block_request(peer, request, false, cids);
                }
            }
            Action::SendWantBlock { peer, id, cids } => {
                for cid in cids {
                    let request = BlockRequest::WantBlock { id, cid };
                    self.send_block_request(peer, request, true, vec![cid]);
                }
            }
            // Request-response cannot withdraw a request; a late answer is ignored by the
            // planner (and still verified if it is a block).
            Action::SendCancel { .. } => {}
            Action::OriginFetch {
                fetch,
                request,
                range,
            } => self.origin_fetch(fetch, request, range),
            Action::CancelOrigin { request } => {
                if let Some(task) = self.origin_tasks.remove(&request) {
                    task.abort();
                }
            }
            Action::Deliver {
                fetch,
                offset,
                data,
            } => {
                let delivered = self
                    .fetches
                    .get(&fetch)
                    .is_some_and(|f| f.output.send(FetchChunk::Data { offset, data }).is_ok());
                if !delivered {
                    // Nobody is reading any more: stop spending bandwidth on it.
                    self.fetches.remove(&fetch);
                    let now = self.now();
                    self.planner.cancel(now, fetch);
                }
            }
            Action::Announce { cid } => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(provider_key(&cid))
                {
                    tracing::warn!(%cid, error = %e, "cannot announce fetched asset");
                }
            }
            other => tracing::debug!(?other, "unhandled planner action"),
        }
    }

    /// Sends one block-exchange request and remembers what it asked, to route the answer.
    fn send_block_request(
        &mut self,
        peer: PeerId,
        request: BlockRequest,
        want_block: bool,
        cids: Vec<Cid>,
    ) {
        let rid = self
            .swarm
            .behaviour_mut()
            .blocks
            .send_request(&peer, request);
        self.outbound.insert(
            rid,
            Outbound {
                peer,
                want_block,
                cids,
            },
        );
    }

    fn dial(&mut self, peer: PeerId) {
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dialling.insert(peer);
            }
            Err(DialError::DialPeerConditionFalse(_)) => {}
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cannot dial provider");
                let now = self.now();
                self.planner.handle_peer_disconnected(now, peer);
            }
        }
    }

    fn origin_fetch(
        &mut self,
        fetch: FetchId,
        request: OriginRequestId,
        range: Option<std::ops::Range<u64>>,
    ) {
        let Some(url) = self.fetches.get(&fetch).and_then(|f| f.origin.clone()) else {
            let now = self.now();
            self.planner
                .handle_origin_failed(now, request, "no origin URL".to_owned());
            return;
        };
        let client = match &self.http {
            Some(client) => client.clone(),
            None => match reqwest::Client::builder()
                .user_agent(concat!("mesh-node/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(client) => {
                    self.http = Some(client.clone());
                    client
                }
                Err(e) => {
                    let now = self.now();
                    self.planner
                        .handle_origin_failed(now, request, e.to_string());
                    return;
                }
            },
        };
        tracing::debug!(%url, ?range, "origin request");
        let task = origin::spawn(client, url, range, request, self.origin_tx.clone());
        self.origin_tasks.insert(request, task);
    }

    fn on_origin_event(&mut self, event: OriginEvent) {
        let now = self.now();
        match event {
            OriginEvent::Data(request, data) => self.planner.handle_origin_data(now, request, data),
            OriginEvent::Done(request) => {
                self.origin_tasks.remove(&request);
                self.planner.handle_origin_done(now, request);
            }
            OriginEvent::Failed(request, reason) => {
                self.origin_tasks.remove(&request);
                tracing::warn!(%reason, "origin request failed");
                self.planner.handle_origin_failed(now, request, reason);
            }
        }
    }

    fn on_planner_event(&mut self, event: PlanEvent<PeerId>) {
        match event {
            PlanEvent::BlockAccepted {
                fetch,
                from: BlockSource::Peer(peer),
                bytes,
                ..
            } => {
                if let Some(f) = self.fetches.get_mut(&fetch) {
                    *f.peers.entry(peer).or_insert(0) += bytes;
                }
            }
            PlanEvent::Completed {
                fetch,
                cid,
                summary,
            } => {
                tracing::info!(%cid, size = summary.size, source = summary.source_label(),
                    bytes_peer = summary.bytes_peer, bytes_origin = summary.bytes_origin,
                    "fetch completed");
                if let Some(f) = self.fetches.remove(&fetch) {
                    let report = FetchReport {
                        summary,
                        peers: f.peers,
                    };
                    let _ = f.output.send(FetchChunk::Done(report));
                }
            }
            PlanEvent::Failed { fetch, error } => {
                tracing::warn!(%error, "fetch failed");
                if let Some(f) = self.fetches.remove(&fetch) {
                    let _ = f.output.send(FetchChunk::Failed(error));
                }
            }
            PlanEvent::Cancelled { fetch } => {
                self.fetches.remove(&fetch);
            }
            PlanEvent::PeerPenalized {
                peer,
                penalty,
                score,
            } => {
                if let Penalty::Corrupt(e) = &penalty {
                    self.stats.corrupt_blocks_received += 1;
                    tracing::warn!(%peer, error = %e, score, "peer sent a block that failed verification");
                } else {
                    tracing::debug!(%peer, ?penalty, score, "peer penalised");
                }
            }
            PlanEvent::PeerIgnored { peer } => {
                tracing::warn!(%peer, "peer ignored from now on for sending bad data");
                if !self.stats.ignored_peers.contains(&peer) {
                    self.stats.ignored_peers.push(peer);
                }
            }
            PlanEvent::Fallback { fetch, reason } => {
                tracing::info!(fetch = fetch.0, ?reason, "falling back to the origin");
            }
            other => tracing::trace!(?other, "planner event"),
        }
    }

    // ---- swarm -------------------------------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<Event>) {
        match event {
            SwarmEvent::Behaviour(Event::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(Event::Kad(e)) => self.on_kad(e),
            SwarmEvent::Behaviour(Event::Blocks(e)) => self.on_blocks(e),
            SwarmEvent::Behaviour(_) => {}
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(%address, "listening");
                if self.advertise_listen_addrs && (self.listen_loopback || !is_loopback(&address)) {
                    self.swarm.add_external_address(address);
                }
                self.listener_ready(listener_id, Ok(()));
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                let reason = match reason {
                    Ok(()) => "closed".to_owned(),
                    Err(e) => e.to_string(),
                };
                let addr = addresses.first().cloned().unwrap_or(Multiaddr::empty());
                tracing::warn!(%addr, %reason, "listener closed");
                self.listener_ready(listener_id, Err(StartError::Listen { addr, reason }));
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!(%error, "listener error");
                self.listener_ready(
                    listener_id,
                    Err(StartError::Listen {
                        addr: Multiaddr::empty(),
                        reason: error.to_string(),
                    }),
                );
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                self.dialling.remove(&peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::debug!(peer = %peer_id, "disconnected");
                self.connect_settled(peer_id, Some("connection closed".to_owned()));
                self.server.peer_gone(&peer_id);
                if self.mesh_peers.remove(&peer_id) {
                    let now = self.now();
                    self.planner.handle_peer_disconnected(now, peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "dial failed");
                if !self.swarm.is_connected(&peer) {
                    self.connect_settled(peer, Some(error.to_string()));
                    if self.dialling.remove(&peer) {
                        let now = self.now();
                        self.planner.handle_peer_disconnected(now, peer);
                    }
                }
            }
            _ => {}
        }
    }

    fn listener_ready(&mut self, listener: ListenerId, result: Result<(), StartError>) {
        if !self.listeners_pending.remove(&listener) {
            return;
        }
        if (result.is_err() || self.listeners_pending.is_empty())
            && let Some(ready) = self.ready.take()
        {
            let _ = ready.send(result);
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if info.protocol_version != self.identify_version {
            tracing::info!(peer = %peer_id, version = %info.protocol_version,
                "peer belongs to another mesh; disconnecting");
            self.connect_settled(
                peer_id,
                Some(format!(
                    "peer speaks {}, not {}",
                    info.protocol_version, self.identify_version
                )),
            );
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        if info.protocols.contains(&self.kad_protocol) {
            for addr in info.listen_addrs {
                self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
            }
        }
        let now = self.now();
        if info.protocols.contains(&self.blocks_protocol) {
            if self.mesh_peers.insert(peer_id) {
                self.planner.handle_peer_connected(now, peer_id);
            }
            self.connect_settled(peer_id, None);
        } else if self.dialling.remove(&peer_id) {
            // Dialled as a provider but cannot exchange blocks.
            self.planner.handle_peer_disconnected(now, peer_id);
        }
        if !info.protocols.contains(&self.blocks_protocol) {
            self.connect_settled(
                peer_id,
                Some("peer does not speak the block exchange".to_owned()),
            );
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            tracing::trace!(?event, "kad");
            return;
        };
        let now = self.now();
        match result {
            QueryResult::GetProviders(result) => {
                let Some(&root) = self.provider_queries.get(&id) else {
                    return;
                };
                let local = *self.swarm.local_peer_id();
                let providers: Vec<PeerId> = match result {
                    Ok(GetProvidersOk::FoundProviders { providers, .. }) => {
                        providers.into_iter().filter(|p| *p != local).collect()
                    }
                    Ok(GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => Vec::new(),
                    Err(e) => {
                        tracing::debug!(%root, error = %e, "provider lookup ended");
                        Vec::new()
                    }
                };
                if !providers.is_empty() {
                    tracing::debug!(%root, ?providers, "providers found");
                }
                if step.last {
                    self.provider_queries.remove(&id);
                }
                // Dials happen inside this call, while the query (which knows the providers'
                // addresses) is still running.
                self.planner
                    .handle_providers(now, root, providers, step.last);
                self.drain_planner();
            }
            QueryResult::StartProviding(result) => {
                let Some((cid, reply)) = self.announce_waiters.remove(&id) else {
                    return;
                };
                match result {
                    Ok(_) => tracing::info!(%cid, "announced"),
                    // The record is kept and republished; the next announcement may reach more.
                    Err(e) => tracing::warn!(%cid, error = %e, "announcement incomplete"),
                }
                let _ = reply.send(Ok(cid));
            }
            QueryResult::Bootstrap(result) => {
                tracing::debug!(?result, "DHT bootstrap step");
            }
            other => tracing::trace!(?other, "kad query"),
        }
    }

    fn on_blocks(&mut self, event: request_response::Event<BlockRequest, BlockResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    let now = self.now();
                    let answer = self.server.answer(
                        now,
                        peer,
                        request_id,
                        &request,
                        self.planner.store_mut(),
                    );
                    if let ServeOutcome::Served { bytes } = answer.outcome {
                        self.planner.record_served(bytes);
                    }
                    tracing::debug!(%peer, ?request, outcome = ?answer.outcome, "block request");
                    let response = if self.corrupt {
                        corrupt(answer.response)
                    } else {
                        answer.response
                    };
                    if self
                        .swarm
                        .behaviour_mut()
                        .blocks
                        .send_response(channel, response)
                        .is_err()
                    {
                        self.server.finished(request_id);
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if is_malformed_outbound(&error) {
                    self.stats.malformed_responses += 1;
                    tracing::warn!(%peer, %error, "malformed block-exchange response");
                } else {
                    tracing::debug!(%peer, %error, "block request failed");
                }
                if let Some(out) = self.outbound.remove(&request_id) {
                    // Treated as "does not have": the planner asks elsewhere at once.
                    let now = self.now();
                    for cid in out.cids {
                        self.planner.handle_dont_have(now, out.peer, cid);
                    }
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                // Requests that fail to decode never get here (request-response only logs
                // them); the codec counts those.
                tracing::debug!(%peer, %error, "inbound block request failed");
                self.server.finished(request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.server.finished(request_id);
            }
        }
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: BlockResponse,
    ) {
        let Some(out) = self.outbound.remove(&request_id) else {
            return;
        };
        let now = self.now();
        match response {
            BlockResponse::Block { data, .. } if out.want_block => {
                // Judged against the CID we asked for, whatever CID the peer claims: a block
                // under another name is as wrong as a flipped byte.
                for cid in out.cids {
                    self.planner.handle_block(now, peer, cid, data.clone());
                }
            }
            BlockResponse::Have { cids, .. } if !out.want_block => {
                for cid in out.cids {
                    if cids.contains(&cid) {
                        self.planner.handle_have(now, peer, cid);
                    } else {
                        self.planner.handle_dont_have(now, peer, cid);
                    }
                }
            }
            BlockResponse::DontHave { .. } => {
                for cid in out.cids {
                    self.planner.handle_dont_have(now, peer, cid);
                }
            }
            other => {
                self.stats.malformed_responses += 1;
                tracing::warn!(%peer, response = ?other, "response does not fit the request");
                for cid in out.cids {
                    self.planner.handle_dont_have(now, peer, cid);
                }
            }
        }
    }

    fn publish_status(&mut self) {
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
        let status = NodeStatus {
            connected_peers: self.swarm.connected_peers().count(),
            mesh_peers: self.mesh_peers.len(),
            routing_table,
            malformed_requests: self.stats.malformed_requests,
            malformed_responses: self.stats.malformed_responses,
        };
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }
}

/// The node's bootstrap peers: their ids and addresses.
pub(crate) fn bootstrap_peers(addrs: &[Multiaddr]) -> Result<Vec<(PeerId, Multiaddr)>, StartError> {
    addrs
        .iter()
        .map(|addr| {
            let mut dial = addr.clone();
            match dial.pop() {
                Some(Protocol::P2p(peer)) => Ok((peer, dial)),
                _ => Err(StartError::BootstrapWithoutPeerId { addr: addr.clone() }),
            }
        })
        .collect()
}

/// Whether `addr` is on a loopback interface.
pub(crate) fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// **Testing only**: the response with its block's first byte flipped.
fn corrupt(response: BlockResponse) -> BlockResponse {
    match response {
        BlockResponse::Block { id, cid, data } => {
            let mut bytes = data.to_vec();
            match bytes.first_mut() {
                Some(first) => *first ^= 0xff,
                None => bytes.push(0),
            }
            BlockResponse::Block {
                id,
                cid,
                data: Bytes::from(bytes),
            }
        }
        other => other,
    }
}

fn is_malformed_outbound(error: &OutboundFailure) -> bool {
    matches!(error, OutboundFailure::Io(e) if is_protocol_error(e))
}

fn is_protocol_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::InvalidData
        && e.get_ref()
            .is_some_and(|inner| inner.downcast_ref::<ProtocolError>().is_some())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
