//! The node task: a browser shell around [`mesh_engine::Engine`].
//!
//! One local task owns the engine. Each turn takes one input — a command from the page, a
//! swarm event, an origin event or a timer — feeds it to the engine and acts on every output.
//! Beside the engine it keeps what only a browser node has: the bootstrap connections (with
//! backoff and jitter), the relay reservation, consent, and the page's events.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId};
use mesh_core::fetch::{FetchError, FetchId, OriginRequestId};
use mesh_core::stats::Source;
use mesh_core::time::Instant as CoreInstant;
use mesh_engine::{CancelOrigin, Deliver, Engine, FetchReport, OriginFetch, Output};
use web_time::Instant;

use crate::backoff::Backoff;
use crate::config::P2pMode;
use crate::origin::{self, OriginEvent, OriginTask};
use crate::report::{FetchDone, PeerChange, StatsReport};

/// Longest the loop sleeps without a reason: a safety net, not a poll interval.
const MAX_IDLE: Duration = Duration::from_secs(5);

/// How often the warm connections are topped up when fewer than wanted are open.
const WARM_INTERVAL: Duration = Duration::from_secs(20);

/// Assets of the manifest whose providers are looked up per top-up round.
const WARM_LOOKUPS: usize = 32;

/// A request from the page.
pub(crate) enum Command {
    Fetch {
        token: u64,
        cid: Cid,
        url: Option<String>,
        output: mpsc::UnboundedSender<FetchChunk>,
    },
    CancelFetch {
        token: u64,
    },
    Stats {
        reply: oneshot::Sender<StatsReport>,
    },
    Consent,
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// One step of a fetch, in order.
#[derive(Debug)]
pub(crate) enum FetchChunk {
    /// The origin named the asset's media type.
    ContentType(String),
    /// Verified bytes at `offset`; `source` is the sources so far (`peer`, `mixed`, …).
    Data {
        offset: u64,
        data: Bytes,
        source: &'static str,
    },
    Done(FetchReport),
    Failed(Box<FetchError>),
}

/// The page's event sink: `(type, detail)`.
pub(crate) type EventSink = Box<dyn Fn(&str, wasm_bindgen::JsValue)>;

#[derive(Debug)]
struct ActiveFetch {
    token: u64,
    cid: Cid,
    url: Option<String>,
    output: mpsc::UnboundedSender<FetchChunk>,
    /// Sources of accepted blocks so far: peer, origin, cache.
    sources: [bool; 3],
    content_type_sent: bool,
}

impl ActiveFetch {
    fn source_label(&self) -> &'static str {
        match self.sources {
            [true, false, false] => "peer",
            [false, true, false] => "origin",
            [false, false, _] => "cache",
            _ => "mixed",
        }
    }
}

/// A configured bootstrap node and its connection state.
#[derive(Debug)]
struct BootstrapPeer {
    peer: PeerId,
    /// Addresses to dial, WebRTC-direct first.
    addrs: Vec<Multiaddr>,
    backoff: Backoff,
    /// When to dial next, if not connected.
    next_dial: Option<Instant>,
    connected: bool,
    /// The address our connection reached it on (the relay address).
    connected_addr: Option<Multiaddr>,
    relay_listener: Option<ListenerId>,
    /// Whether this peer's connection was ever up (to re-announce after a loss).
    was_connected: bool,
}

/// What [`Driver::new`] needs.
pub(crate) struct DriverParts {
    pub(crate) engine: Engine,
    pub(crate) bootstrap: Vec<(PeerId, Vec<Multiaddr>)>,
    pub(crate) p2p: P2pMode,
    pub(crate) stats_interval: Option<Duration>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: EventSink,
    /// Direct connections to keep open to providers of `warm_cids`.
    pub(crate) warm_peers: usize,
    /// The site's assets (from the manifest), whose providers warm connections go to.
    pub(crate) warm_cids: Vec<Cid>,
}

pub(crate) struct Driver {
    engine: Engine,
    epoch: Instant,
    p2p: P2pMode,
    p2p_enabled: bool,
    bootstrap: Vec<BootstrapPeer>,
    commands: mpsc::Receiver<Command>,
    events: EventSink,
    origin_tx: mpsc::Sender<OriginEvent>,
    origin_rx: mpsc::Receiver<OriginEvent>,
    origin_tasks: BTreeMap<OriginRequestId, OriginTask>,
    /// Origin request -> the fetch it belongs to (for the media type).
    origin_fetch: BTreeMap<OriginRequestId, FetchId>,
    fetches: BTreeMap<FetchId, ActiveFetch>,
    tokens: HashMap<u64, FetchId>,
    stats_interval: Option<Duration>,
    next_stats: Option<Instant>,
    /// The `/webrtc` listener (tab-to-tab connections), once p2p is on.
    webrtc_listener: Option<ListenerId>,
    /// Open connections per peer, and whether each is relayed or direct `/webrtc`.
    connections: HashMap<PeerId, Vec<(ConnectionId, ConnectionKind)>>,
    warm_peers: usize,
    warm_cids: Vec<Cid>,
    /// Where the next top-up round starts in `warm_cids`.
    warm_cursor: usize,
    next_warm: Option<Instant>,
    /// Warm dials under way.
    warm_dialing: std::collections::BTreeSet<PeerId>,
    /// Mesh peers the page was told about (`peer` event, `connected`).
    announced_peers: std::collections::BTreeSet<PeerId>,
}

/// How a connection reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectionKind {
    /// Through a relay circuit: for signaling only.
    Relayed,
    /// Tab to tab over `/webrtc`.
    Direct,
    /// Anything else (bootstrap nodes, native peers).
    Other,
}

impl ConnectionKind {
    fn of(addr: &Multiaddr) -> Self {
        if mesh_engine::is_relayed(addr) {
            Self::Relayed
        } else if addr.iter().any(|p| p == Protocol::WebRTC) {
            Self::Direct
        } else {
            Self::Other
        }
    }
}

impl Driver {
    pub(crate) fn new(parts: DriverParts) -> Self {
        let (origin_tx, origin_rx) = mpsc::channel(origin::ORIGIN_CHANNEL_CAPACITY);
        let p2p_enabled = parts.p2p == P2pMode::On;
        let now = Instant::now();
        let mut driver = Self {
            engine: parts.engine,
            epoch: now,
            p2p: parts.p2p,
            p2p_enabled,
            bootstrap: parts
                .bootstrap
                .into_iter()
                .map(|(peer, addrs)| BootstrapPeer {
                    peer,
                    addrs,
                    backoff: Backoff::new(),
                    next_dial: None,
                    connected: false,
                    connected_addr: None,
                    relay_listener: None,
                    was_connected: false,
                })
                .collect(),
            commands: parts.commands,
            events: parts.events,
            origin_tx,
            origin_rx,
            origin_tasks: BTreeMap::new(),
            origin_fetch: BTreeMap::new(),
            fetches: BTreeMap::new(),
            tokens: HashMap::new(),
            stats_interval: parts.stats_interval,
            next_stats: parts.stats_interval.map(|i| now + i),
            webrtc_listener: None,
            connections: HashMap::new(),
            warm_peers: parts.warm_peers,
            warm_cids: parts.warm_cids,
            warm_cursor: 0,
            next_warm: None,
            warm_dialing: std::collections::BTreeSet::new(),
            announced_peers: std::collections::BTreeSet::new(),
        };
        if p2p_enabled {
            driver.enable_p2p();
        }
        driver
    }

    /// Runs until the page closes the mesh or drops every handle.
    pub(crate) async fn run(mut self) {
        loop {
            let wake = self.next_wake();
            let sleep = gloo_timers::future::sleep(wake.saturating_duration_since(Instant::now()));
            // With outputs left over from a bounded turn, handle them before waiting.
            if !self.engine.has_more_work() {
                futures::select_biased! {
                    command = self.commands.next() => match command {
                        Some(Command::Close { reply }) => {
                            self.shutdown();
                            let _ = reply.send(());
                            return;
                        }
                        None => {
                            self.shutdown();
                            return;
                        }
                        Some(command) => self.on_command(command),
                    },
                    event = self.engine.swarm_mut().select_next_some() => self.on_swarm_event(event),
                    event = self.origin_rx.select_next_some() => self.on_origin_event(event),
                    () = sleep.fuse() => {}
                }
            }
            self.on_timers();
            while let Some(output) = self.engine.poll_output() {
                self.on_output(output);
                if self.engine.has_more_work() {
                    break;
                }
            }
        }
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(
            u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
        )
    }

    /// The earliest of the planner's timer, a due bootstrap redial and the stats tick.
    fn next_wake(&self) -> Instant {
        let mut wake = Instant::now() + MAX_IDLE;
        if let Some(t) = self.engine.poll_timeout() {
            wake = wake.min(self.epoch + Duration::from_micros(t.as_micros()));
        }
        for b in &self.bootstrap {
            if let Some(t) = b.next_dial {
                wake = wake.min(t);
            }
        }
        if let Some(t) = self.next_stats {
            wake = wake.min(t);
        }
        if let Some(t) = self.next_warm {
            wake = wake.min(t);
        }
        wake
    }

    fn on_timers(&mut self) {
        let now_instant = Instant::now();
        if self
            .engine
            .poll_timeout()
            .is_some_and(|t| self.epoch + Duration::from_micros(t.as_micros()) <= now_instant)
        {
            let now = self.now();
            self.engine.handle_timeout(now);
        }
        for i in 0..self.bootstrap.len() {
            if self.bootstrap[i]
                .next_dial
                .is_some_and(|t| t <= now_instant)
            {
                self.bootstrap[i].next_dial = None;
                self.dial_bootstrap(i);
            }
        }
        if self.next_warm.is_some_and(|t| t <= now_instant) {
            self.next_warm = Some(now_instant + WARM_INTERVAL);
            self.warm_up();
        }
        if let (Some(t), Some(interval)) = (self.next_stats, self.stats_interval)
            && t <= now_instant
        {
            self.next_stats = Some(now_instant + interval);
            let report = self.report();
            self.emit("stats", &report);
        }
    }

    fn emit<T: serde::Serialize>(&self, kind: &str, detail: &T) {
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        match detail.serialize(&serializer) {
            Ok(value) => (self.events)(kind, value),
            Err(e) => tracing::error!(error = %e, "cannot convert an event for the page"),
        }
    }

    fn report(&mut self) -> StatsReport {
        let status = self.engine.status();
        let stats = self.engine.stats();
        let bootstrap_connected = self.bootstrap.iter().filter(|b| b.connected).count();
        let reachable = self
            .bootstrap
            .iter()
            .any(|b| b.relay_listener.is_some() && b.connected);
        let p2p = match (self.p2p, self.p2p_enabled) {
            (P2pMode::Off, _) => "off",
            (P2pMode::AfterConsent, false) => "after-consent",
            _ => "on",
        };
        StatsReport::new(
            self.engine.swarm().local_peer_id().to_string(),
            &stats,
            &status,
            bootstrap_connected,
            reachable,
            p2p,
        )
    }

    // ---- bootstrap connections -----------------------------------------------------------

    fn enable_p2p(&mut self) {
        self.p2p_enabled = true;
        for i in 0..self.bootstrap.len() {
            let (peer, addrs) = (self.bootstrap[i].peer, self.bootstrap[i].addrs.clone());
            for addr in addrs {
                self.engine
                    .swarm_mut()
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr);
            }
            self.dial_bootstrap(i);
        }
    }

    fn dial_bootstrap(&mut self, i: usize) {
        if !self.p2p_enabled {
            return;
        }
        let (peer, addrs) = (self.bootstrap[i].peer, self.bootstrap[i].addrs.clone());
        // All addresses are dialled at once and the first to connect wins: WebRTC-direct is
        // usually first (~200 ms vs ~400 ms for WebSocket here); where it cannot work
        // (UDP blocked) WebSocket carries on alone.
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.engine.swarm_mut().dial(opts) {
            tracing::debug!(%peer, error = %e, "bootstrap dial not started");
            if !self.engine.swarm().is_connected(&peer) {
                self.schedule_redial(i);
            }
        }
    }

    fn schedule_redial(&mut self, i: usize) {
        let delay = self.bootstrap[i].backoff.failed(js_sys::Math::random());
        tracing::info!(peer = %self.bootstrap[i].peer, ?delay, "bootstrap node unreachable; retrying");
        self.bootstrap[i].next_dial = Some(Instant::now() + delay);
    }

    fn bootstrap_index(&self, peer: &PeerId) -> Option<usize> {
        self.bootstrap.iter().position(|b| b.peer == *peer)
    }

    fn bootstrap_connected(&mut self, i: usize, addr: Multiaddr) {
        let b = &mut self.bootstrap[i];
        b.backoff.succeeded();
        b.next_dial = None;
        b.connected = true;
        let again = b.was_connected;
        b.was_connected = true;
        let peer = b.peer;
        let relay_addr = addr.clone().with_p2p(peer).unwrap_or(addr.clone());
        b.connected_addr = Some(addr);
        tracing::info!(%peer, %relay_addr, "connected to bootstrap node");
        self.emit(
            "peer",
            &PeerChange {
                peer: peer.to_string(),
                state: "connected",
                kind: "bootstrap",
            },
        );
        if self.bootstrap[i].relay_listener.is_none() {
            match self
                .engine
                .swarm_mut()
                .listen_on(relay_addr.with(Protocol::P2pCircuit))
            {
                Ok(id) => self.bootstrap[i].relay_listener = Some(id),
                Err(e) => tracing::warn!(%peer, error = %e, "cannot reserve a relay slot"),
            }
        }
        if self.webrtc_listener.is_none() {
            // Addresses appear as `<relay>/p2p-circuit/webrtc` once a reservation is held.
            match self
                .engine
                .swarm_mut()
                .listen_on(Multiaddr::empty().with(Protocol::WebRTC))
            {
                Ok(id) => self.webrtc_listener = Some(id),
                Err(e) => tracing::warn!(error = %e, "cannot listen for tab-to-tab connections"),
            }
        }
        if again {
            // The bootstrap node dropped our provider records with the connection.
            self.engine.reannounce_all();
        }
        // Fails only without known peers; the bootstrap node was just added.
        let _ = self.engine.swarm_mut().behaviour_mut().kad.bootstrap();
        if self.next_warm.is_none() && self.warm_peers > 0 && !self.warm_cids.is_empty() {
            self.next_warm = Some(Instant::now());
        }
    }

    /// Direct (tab-to-tab) connections open now.
    fn direct_peers(&self) -> usize {
        self.connections
            .values()
            .filter(|c| c.iter().any(|(_, k)| *k == ConnectionKind::Direct))
            .count()
    }

    /// Looks up providers of a few of the site's assets when fewer warm connections than
    /// wanted are open; [`Output::Providers`] then dials them.
    fn warm_up(&mut self) {
        if self.direct_peers() + self.warm_dialing.len() >= self.warm_peers {
            return;
        }
        for _ in 0..WARM_LOOKUPS.min(self.warm_cids.len()) {
            let cid = self.warm_cids[self.warm_cursor % self.warm_cids.len()];
            self.warm_cursor = self.warm_cursor.wrapping_add(1);
            self.engine.find_providers(cid);
        }
    }

    fn dial_warm(&mut self, peers: Vec<PeerId>) {
        for peer in peers {
            if self.direct_peers() + self.warm_dialing.len() >= self.warm_peers {
                return;
            }
            if self
                .connections
                .get(&peer)
                .is_some_and(|c| c.iter().any(|(_, k)| *k == ConnectionKind::Direct))
                || self.warm_dialing.contains(&peer)
                || self.bootstrap_index(&peer).is_some()
            {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if self.engine.swarm_mut().dial(opts).is_ok() {
                tracing::debug!(%peer, "opening a warm connection");
                self.warm_dialing.insert(peer);
            }
        }
    }

    // ---- swarm events --------------------------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<mesh_protocol::Event>) {
        match &event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => self.connection_opened(*peer_id, *connection_id, endpoint.get_remote_address()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                ..
            } => {
                if let Some(conns) = self.connections.get_mut(peer_id) {
                    conns.retain(|(id, _)| id != connection_id);
                    if conns.is_empty() {
                        self.connections.remove(peer_id);
                    }
                }
            }
            _ => {}
        }
        match &event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint: ConnectedPoint::Dialer { address, .. },
                num_established,
                ..
            } => {
                if let Some(i) = self.bootstrap_index(peer_id)
                    && num_established.get() == 1
                {
                    self.bootstrap_connected(i, address.clone());
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                if let Some(i) = self.bootstrap_index(peer_id) {
                    self.bootstrap[i].connected = false;
                    self.emit(
                        "peer",
                        &PeerChange {
                            peer: peer_id.to_string(),
                            state: "disconnected",
                            kind: "bootstrap",
                        },
                    );
                    self.schedule_redial(i);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                if let Some(i) = self.bootstrap_index(peer)
                    && !self.engine.swarm().is_connected(peer)
                {
                    tracing::warn!(%peer, %error, "cannot reach bootstrap node");
                    self.schedule_redial(i);
                }
            }
            _ => {}
        }
        let now = self.now();
        self.engine.handle_swarm_event(now, event);
    }

    /// Records a connection; once a peer is reachable directly, its relayed connections
    /// are closed, so no block request is sent through the relay (request-response spreads
    /// requests over all of a peer's connections, and circuits are limited to signaling).
    fn connection_opened(&mut self, peer: PeerId, id: ConnectionId, addr: &Multiaddr) {
        let kind = ConnectionKind::of(addr);
        let conns = self.connections.entry(peer).or_default();
        conns.push((id, kind));
        if conns.iter().any(|(_, k)| *k == ConnectionKind::Direct) {
            let relayed: Vec<ConnectionId> = conns
                .iter()
                .filter(|(_, k)| *k == ConnectionKind::Relayed)
                .map(|(id, _)| *id)
                .collect();
            for id in relayed {
                tracing::debug!(%peer, "direct connection up: closing the relayed one");
                self.engine.swarm_mut().close_connection(id);
            }
        }
    }

    // ---- commands ------------------------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Fetch {
                token,
                cid,
                url,
                output,
            } => {
                let now = self.now();
                let id = self.engine.start_fetch(now, cid, url.is_some());
                tracing::debug!(%cid, fetch = id.0, ?url, "fetch started");
                self.tokens.insert(token, id);
                self.fetches.insert(
                    id,
                    ActiveFetch {
                        token,
                        cid,
                        url,
                        output,
                        sources: [false; 3],
                        content_type_sent: false,
                    },
                );
            }
            Command::CancelFetch { token } => {
                if let Some(id) = self.tokens.remove(&token) {
                    self.fetches.remove(&id);
                    let now = self.now();
                    self.engine.cancel_fetch(now, id);
                }
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.report());
            }
            Command::Consent => {
                if self.p2p == P2pMode::AfterConsent && !self.p2p_enabled {
                    tracing::info!("consent given: joining the mesh");
                    self.enable_p2p();
                }
            }
            Command::Close { .. } => {}
        }
    }

    fn shutdown(&mut self) {
        for task in self.origin_tasks.values() {
            task.abort();
        }
        self.origin_tasks.clear();
        let peers: Vec<PeerId> = self.engine.swarm().connected_peers().copied().collect();
        for peer in peers {
            let _ = self.engine.swarm_mut().disconnect_peer_id(peer);
        }
        tracing::info!("mesh closed");
    }

    // ---- engine outputs ------------------------------------------------------------------

    fn on_output(&mut self, output: Output) {
        match output {
            Output::OriginFetch(OriginFetch {
                fetch,
                request,
                range,
            }) => {
                let now = self.now();
                let Some(url) = self.fetches.get(&fetch).and_then(|f| f.url.clone()) else {
                    self.engine
                        .handle_origin_failed(now, request, "no origin URL".to_owned());
                    return;
                };
                tracing::debug!(%url, ?range, "origin request");
                let task = origin::spawn(url, range, request, self.origin_tx.clone());
                self.origin_tasks.insert(request, task);
                self.origin_fetch.insert(request, fetch);
            }
            Output::CancelOrigin(CancelOrigin { request }) => {
                self.origin_fetch.remove(&request);
                if let Some(task) = self.origin_tasks.remove(&request) {
                    task.abort();
                }
            }
            Output::Received { fetch, source, .. } => {
                if let Some(f) = self.fetches.get_mut(&fetch) {
                    let i = match source {
                        Source::Peer => 0,
                        Source::Origin => 1,
                        _ => 2,
                    };
                    f.sources[i] = true;
                }
            }
            Output::Deliver(Deliver {
                fetch,
                offset,
                data,
            }) => {
                let delivered = self.fetches.get(&fetch).is_some_and(|f| {
                    let source = f.source_label();
                    f.output
                        .unbounded_send(FetchChunk::Data {
                            offset,
                            data,
                            source,
                        })
                        .is_ok()
                });
                if !delivered {
                    // The page stopped reading: stop spending bandwidth on it.
                    self.forget(fetch);
                    let now = self.now();
                    self.engine.cancel_fetch(now, fetch);
                }
            }
            Output::Completed { fetch, cid, report } => {
                let done = FetchDone::new(cid.to_string(), &report);
                if let Some(f) = self.forget(fetch) {
                    let _ = f.output.unbounded_send(FetchChunk::Done(report));
                }
                self.emit("fetch", &done);
            }
            Output::Failed { fetch, error } => {
                let cid = self.fetches.get(&fetch).map(|f| f.cid.to_string());
                let detail = serde_json::json!({
                    "cid": cid,
                    "error": { "kind": crate::api::error_kind(&error), "message": error.to_string() },
                });
                if let Some(f) = self.forget(fetch) {
                    let _ = f.output.unbounded_send(FetchChunk::Failed(Box::new(error)));
                }
                self.emit("fetch", &detail);
            }
            Output::Cancelled { fetch } => {
                self.forget(fetch);
            }
            Output::Providers { peers, .. } => self.dial_warm(peers),
            Output::DialFailed { peer, .. } => {
                self.warm_dialing.remove(&peer);
            }
            Output::PeerReady { peer } if self.bootstrap_index(&peer).is_none() => {
                self.warm_dialing.remove(&peer);
                // Identify runs on every connection and again on pushes: tell the page once.
                if !self.announced_peers.insert(peer) {
                    return;
                }
                self.emit(
                    "peer",
                    &PeerChange {
                        peer: peer.to_string(),
                        state: "connected",
                        kind: "mesh",
                    },
                );
            }
            Output::Disconnected { peer } if self.bootstrap_index(&peer).is_none() => {
                self.announced_peers.remove(&peer);
                self.emit(
                    "peer",
                    &PeerChange {
                        peer: peer.to_string(),
                        state: "disconnected",
                        kind: "mesh",
                    },
                );
            }
            Output::Listening { address, .. }
                if ConnectionKind::of(&address) == ConnectionKind::Relayed =>
            {
                // Other tabs are to reach this one by `/webrtc` (the circuit carries only the
                // signaling): the plain circuit address is not advertised.
                self.engine.swarm_mut().remove_external_address(&address);
                tracing::debug!(%address, "relay reservation held");
            }
            Output::Listening { address, .. }
                if ConnectionKind::of(&address) == ConnectionKind::Direct =>
            {
                tracing::info!(%address, "reachable by other tabs");
            }
            Output::ListenerFailed {
                listener, reason, ..
            } => {
                for b in &mut self.bootstrap {
                    if b.relay_listener == Some(listener) {
                        tracing::info!(peer = %b.peer, %reason, "relay reservation lost");
                        b.relay_listener = None;
                    }
                }
                // Re-reserve at once if the bootstrap connection itself is still up.
                for i in 0..self.bootstrap.len() {
                    if self.bootstrap[i].connected
                        && self.bootstrap[i].relay_listener.is_none()
                        && let Some(addr) = self.bootstrap[i].connected_addr.clone()
                    {
                        self.bootstrap[i].connected = false;
                        self.bootstrap_connected(i, addr);
                    }
                }
            }
            _ => {}
        }
    }

    fn forget(&mut self, fetch: FetchId) -> Option<ActiveFetch> {
        let f = self.fetches.remove(&fetch)?;
        self.tokens.remove(&f.token);
        Some(f)
    }

    fn on_origin_event(&mut self, event: OriginEvent) {
        let now = self.now();
        match event {
            OriginEvent::Headers(request, content_type) => {
                let fetch = self.origin_fetch.get(&request).copied();
                if let (Some(ct), Some(f)) =
                    (content_type, fetch.and_then(|id| self.fetches.get_mut(&id)))
                    && !f.content_type_sent
                {
                    f.content_type_sent = true;
                    let _ = f.output.unbounded_send(FetchChunk::ContentType(ct));
                }
            }
            OriginEvent::Data(request, data) => self.engine.handle_origin_data(now, request, data),
            OriginEvent::Done(request) => {
                self.origin_tasks.remove(&request);
                self.origin_fetch.remove(&request);
                self.engine.handle_origin_done(now, request);
            }
            OriginEvent::Failed(request, reason) => {
                self.origin_tasks.remove(&request);
                self.origin_fetch.remove(&request);
                tracing::warn!(%reason, "origin request failed");
                self.engine.handle_origin_failed(now, request, reason);
            }
        }
    }
}
