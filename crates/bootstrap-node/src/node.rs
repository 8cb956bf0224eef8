//! The node: sets everything up, runs the swarm's event loop, shuts down gracefully.
//!
//! One task owns the swarm and reacts to its events; the HTTP server reads what the loop
//! publishes through a `watch` channel and the metrics registry, and nothing else is shared.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    future::Future,
    io::Write,
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    core::{multiaddr::Protocol, transport::ListenerId},
    identify, kad, relay, request_response,
    swarm::{ListenError, SwarmEvent},
};
use mesh_protocol::routing::wire::Provider;
use mesh_protocol::routing::{Request, Response};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::{
    addrs::{AddressBook, normalise_external},
    behaviour::{Behaviour, BehaviourEvent},
    config::{Config, peer_id_of},
    error::Error,
    http::{HttpConfig, HttpServer, NodeStatus},
    keys::{NodeKeys, error_chain},
    metrics::{CircuitEnd, Metrics, RecordRemoval, Transport},
    routing::{self, Forwards, Outcome, RequestKind},
    source_limits::SourceLimitExceeded,
    transport,
};

/// How often expired provider records are swept and lost bootstrap peers redialled.
pub(crate) const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// How long the node waits for every listener to report an address before printing what it has.
pub(crate) const LISTEN_REPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for connections to close.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Listen addresses taken from one identify message into the routing table.
pub(crate) const MAX_IDENTIFY_ADDRS: usize = 8;

/// A started bootstrap node, ready to [`run`](Node::run).
pub struct Node {
    swarm: Swarm<Behaviour>,
    config: Config,
    metrics: Metrics,
    http: HttpServer,
    status: watch::Sender<NodeStatus>,
    book: AddressBook,
    listeners: Vec<ListenerId>,
    unreported_listeners: HashSet<ListenerId>,
    bootstrap_peers: Vec<(PeerId, Multiaddr)>,
    printed: bool,
    /// Relay reservations held per peer. libp2p-relay reports `ReservationClosed` for every
    /// closed connection of a peer, reservation or not, so the gauge counts only what it saw
    /// accepted.
    reservations: HashMap<PeerId, usize>,
    /// Connected routing servers (bootstrap nodes this one joined, Kademlia-server seeders):
    /// where a lookup this node cannot answer goes next.
    routing_peers: HashSet<PeerId>,
    /// Lookups passed on to them, waiting for answers.
    forwards: Forwards,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", self.swarm.local_peer_id())
            .field("http", &self.http.local_addr())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Loads or creates the keys, opens every listener and the HTTP port, and dials the other
    /// bootstrap nodes. Configuration errors surface here, before anything is served.
    pub async fn start(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let keys = NodeKeys::load_or_create(&config.data_dir)?;
        let certhash = keys.certificate.fingerprint().to_multihash();
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let mut swarm = build_swarm(&keys, &config, &mut registry, &metrics)?;
        let local = *swarm.local_peer_id();

        let mut listeners = Vec::new();
        for addr in &config.listen {
            let id = swarm.listen_on(addr.clone()).map_err(|e| Error::Listen {
                addr: addr.clone(),
                reason: error_chain(&e),
            })?;
            listeners.push(id);
        }

        let mut book = AddressBook::new(local);
        for addr in &config.external_addresses {
            let addr = normalise_external(addr, local, &certhash)?;
            swarm.add_external_address(addr.clone());
            book.add_external(addr);
        }

        let (status, status_rx) = watch::channel(NodeStatus::default());
        let http = HttpServer::start(
            HttpConfig::of(&config),
            registry,
            status_rx,
            metrics.http_requests_limited(),
        )
        .await
        .map_err(|source| Error::HttpListen {
            addr: config.http_listen,
            source,
        })?;
        tracing::info!(addr = %http.local_addr(), "HTTP server listening");

        let bootstrap_peers: Vec<(PeerId, Multiaddr)> = config
            .peers
            .iter()
            .filter_map(|addr| Some((peer_id_of(addr)?, addr.clone())))
            .filter(|(peer, _)| *peer != local)
            .collect();
        for (peer, addr) in &bootstrap_peers {
            let mut transport_addr = addr.clone();
            transport_addr.pop();
            swarm.behaviour_mut().kad.add_address(peer, transport_addr);
        }

        for path in &keys.created {
            tracing::info!(path = %path.display(), "created a new key file; back it up with the data directory");
        }
        tracing::info!(
            peer_id = %local,
            namespace = %config.namespace,
            "bootstrap node started"
        );
        Ok(Self {
            swarm,
            unreported_listeners: listeners.iter().copied().collect(),
            listeners,
            config,
            metrics,
            http,
            status,
            book,
            bootstrap_peers,
            printed: false,
            reservations: HashMap::new(),
            routing_peers: HashSet::new(),
            forwards: Forwards::default(),
        })
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, closes connections and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        self.dial_bootstrap_peers();
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        let report_deadline = tokio::time::sleep(LISTEN_REPORT_TIMEOUT);
        tokio::pin!(shutdown, report_deadline);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = maintenance.tick() => self.maintain(),
                () = &mut report_deadline, if !self.printed => {
                    tracing::warn!("not every listener reported an address in time");
                    self.print_addrs();
                }
            }
        }
        self.shut_down().await;
    }

    async fn shut_down(mut self) {
        tracing::info!("shutting down");
        for id in self.listeners.drain(..) {
            self.swarm.remove_listener(id);
        }
        self.status.send_modify(|s| s.ready = false);
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            // Fails only for a peer that is already gone.
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let grace = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(grace);
        while self.swarm.network_info().num_peers() > 0 {
            tokio::select! {
                () = &mut grace => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        let Self { http, .. } = self;
        http.shutdown().await;
        tracing::info!("stopped");
    }

    fn dial_bootstrap_peers(&mut self) {
        for (peer, addr) in &self.bootstrap_peers {
            if self.swarm.is_connected(peer) {
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %error_chain(&e), "cannot dial bootstrap peer");
            }
        }
    }

    fn maintain(&mut self) {
        let expired = self
            .swarm
            .behaviour_mut()
            .kad
            .store_mut()
            .remove_expired(Instant::now());
        if expired > 0 {
            self.metrics
                .records_removed(RecordRemoval::Expired, expired);
        }
        self.update_store_metrics();
        self.update_routing_metrics();
        self.dial_bootstrap_peers();
    }

    fn update_routing_metrics(&mut self) {
        let peers = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|bucket| bucket.num_entries())
            .sum();
        self.metrics.set_routing_peers(peers);
    }

    fn update_store_metrics(&mut self) {
        let stats = self.swarm.behaviour_mut().kad.store_mut().stats();
        self.metrics.set_store(stats);
    }

    /// Publishes the current addresses; the first time every listener has reported, prints them
    /// on stdout and declares the node ready.
    fn publish(&mut self) {
        let addrs = self.book.published();
        self.status.send_modify(|s| s.addrs = addrs);
        if !self.printed && self.unreported_listeners.is_empty() {
            self.print_addrs();
        }
    }

    fn print_addrs(&mut self) {
        self.printed = true;
        // Ready first: whoever reads the printed addresses may ask /healthz at once.
        self.status.send_modify(|s| s.ready = true);
        let addrs = self.book.published();
        let mut stdout = std::io::stdout().lock();
        for addr in &addrs {
            tracing::info!(%addr, "dial me at");
            // Nobody reading stdout is not an error worth stopping for.
            let _ = writeln!(stdout, "{addr}");
        }
        let _ = stdout.flush();
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(%address, "listening");
                if self.config.announce_listen_addrs {
                    self.swarm.add_external_address(address.clone());
                    self.book.add_external(address.clone());
                }
                self.book.add_listen(address);
                self.unreported_listeners.remove(&listener_id);
                self.publish();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                tracing::info!(%address, "no longer listening");
                self.book.remove_listen(&address);
                self.publish();
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                tracing::warn!(?addresses, ?reason, "listener closed");
                for address in &addresses {
                    self.book.remove_listen(address);
                }
                self.unreported_listeners.remove(&listener_id);
                self.publish();
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(error = %error_chain(&error), "listener error");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let transport = Transport::of_endpoint(&endpoint);
                self.metrics.connection_opened(transport);
                tracing::debug!(%peer_id, ?transport, "connection established");
                let is_bootstrap_peer = self.bootstrap_peers.iter().any(|(p, _)| *p == peer_id);
                if is_bootstrap_peer && num_established.get() == 1 {
                    tracing::info!(%peer_id, "joined bootstrap peer");
                    // Fails only with an empty routing table, which this peer just joined.
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                self.metrics
                    .connection_closed(Transport::of_endpoint(&endpoint));
                if num_established == 0 {
                    self.routing_peers.remove(&peer_id);
                    let removed = self
                        .swarm
                        .behaviour_mut()
                        .kad
                        .store_mut()
                        .remove_peer(&peer_id);
                    if removed > 0 {
                        tracing::debug!(%peer_id, removed, "dropped provider records of disconnected peer");
                        self.metrics
                            .records_removed(RecordRemoval::Disconnect, removed);
                        self.update_store_metrics();
                    }
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                if let ListenError::Denied { cause } = &error {
                    self.metrics.connection_denied();
                    if let Some(limit) = cause.downcast_ref::<SourceLimitExceeded>() {
                        self.metrics.connection_denied_by_source(*limit);
                    }
                    tracing::debug!(%send_back_addr, %cause, "incoming connection denied");
                } else {
                    tracing::debug!(%send_back_addr, error = %error_chain(&error), "incoming connection failed");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let is_bootstrap_peer = peer_id
                    .is_some_and(|peer| self.bootstrap_peers.iter().any(|(p, _)| *p == peer));
                if is_bootstrap_peer {
                    tracing::warn!(?peer_id, error = %error_chain(&error), "cannot reach bootstrap peer");
                }
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(event) => {
                self.metrics.record(&event);
                if let identify::Event::Received { peer_id, info, .. } = event {
                    let ns = &self.config.namespace;
                    if info.protocols.contains(&ns.routing_protocol())
                        && info.protocols.contains(&ns.kad_protocol())
                    {
                        self.routing_peers.insert(peer_id);
                    }
                    // Only peers serving our Kademlia protocol (other bootstrap nodes, native
                    // seeders in server mode) belong in the routing table; browsers run client
                    // mode and are reachable only through us.
                    if info
                        .protocols
                        .contains(&self.config.namespace.kad_protocol())
                    {
                        for addr in info.listen_addrs.into_iter().take(MAX_IDENTIFY_ADDRS) {
                            if is_routable(&addr) {
                                self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                            }
                        }
                    }
                }
            }
            BehaviourEvent::Sources(never) => match never {},
            BehaviourEvent::Ping(event) => self.metrics.record(&event),
            BehaviourEvent::Kad(event) => {
                self.metrics.record(&event);
                match event {
                    kad::Event::InboundRequest {
                        request:
                            kad::InboundRequest::AddProvider {
                                record: Some(record),
                            },
                    } => self.store_provider(record),
                    kad::Event::OutboundQueryProgressed {
                        result: kad::QueryResult::Bootstrap(result),
                        ..
                    } => tracing::debug!(?result, "routing table refreshed"),
                    kad::Event::RoutingUpdated { peer, .. } => {
                        tracing::debug!(%peer, "routing table updated");
                        self.update_routing_metrics();
                    }
                    _ => {}
                }
            }
            BehaviourEvent::Relay(event) => {
                self.metrics.record(&event);
                self.on_relay_event(event);
            }
            BehaviourEvent::Routing(event) => self.on_routing_event(event),
        }
    }

    /// Answers a delegated routing request from the provider store.
    fn on_routing_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                self.metrics.routing_request(RequestKind::of(&request));
                let behaviour = self.swarm.behaviour_mut();
                let source = behaviour.sources.source_of(&peer);
                let (response, outcome) = routing::answer(
                    behaviour.kad.store_mut(),
                    peer,
                    source,
                    request,
                    self.config.provider_ttl,
                    Instant::now(),
                );
                match outcome {
                    Outcome::Read => {}
                    Outcome::Unanswered(key) => {
                        let routing = &mut self.swarm.behaviour_mut().routing;
                        let sent: Vec<_> = self
                            .routing_peers
                            .iter()
                            .filter(|server| **server != peer)
                            .map(|server| {
                                let held = Request::FindHeldProviders { key: key.clone() };
                                routing.send_request(server, held)
                            })
                            .collect();
                        if !sent.is_empty() {
                            self.forwards.start(peer, channel, sent);
                            return;
                        }
                    }
                    Outcome::Changed => self.update_store_metrics(),
                    Outcome::Refused(refusal) => {
                        tracing::debug!(%peer, ?source, %refusal, "provider record refused");
                        self.metrics.provider_refused(refusal);
                    }
                }
                // Fails only if the asker has gone.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .routing
                    .send_response(channel, response);
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let providers = match response {
                    Response::Providers(providers) => providers,
                    _ => Vec::new(),
                };
                self.forwarded(request_id, providers);
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "a routing server did not answer a passed-on lookup");
                self.forwarded(request_id, Vec::new());
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "routing request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Another routing server answered a lookup passed on to it.
    fn forwarded(&mut self, request: request_response::OutboundRequestId, found: Vec<Provider>) {
        if let Some((channel, response)) = self.forwards.answered(request, found) {
            // Fails only if the asker has gone.
            let _ = self
                .swarm
                .behaviour_mut()
                .routing
                .send_response(channel, response);
        }
    }

    /// Stores a provider record announced by its provider, charged to the address the
    /// provider connects from.
    fn store_provider(&mut self, record: kad::ProviderRecord) {
        let provider = record.provider;
        // Records follow connections: one that arrives after its provider left would never be
        // removed (the disconnect that removes records has already been handled).
        if !self.swarm.is_connected(&provider) {
            return;
        }
        let behaviour = self.swarm.behaviour_mut();
        let source = behaviour.sources.source_of(&provider);
        match behaviour.kad.store_mut().insert(record, source) {
            Ok(()) => self.update_store_metrics(),
            Err(refusal) => {
                tracing::debug!(%provider, ?source, %refusal, "provider record refused");
                self.metrics.provider_refused(refusal);
            }
        }
    }

    fn on_relay_event(&mut self, event: relay::Event) {
        match event {
            relay::Event::ReservationReqAccepted {
                src_peer_id,
                renewed,
            } => {
                tracing::debug!(%src_peer_id, renewed, "relay reservation accepted");
                if !renewed {
                    *self.reservations.entry(src_peer_id).or_default() += 1;
                    self.metrics.reservation_accepted();
                }
            }
            relay::Event::ReservationReqDenied {
                src_peer_id,
                status,
            } => {
                tracing::debug!(%src_peer_id, ?status, "relay reservation denied");
                self.metrics.reservation_denied();
            }
            relay::Event::ReservationClosed { src_peer_id }
            | relay::Event::ReservationTimedOut { src_peer_id } => {
                if let Entry::Occupied(mut held) = self.reservations.entry(src_peer_id) {
                    *held.get_mut() -= 1;
                    if *held.get() == 0 {
                        held.remove();
                    }
                    self.metrics.reservation_ended();
                }
            }
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                tracing::debug!(%src_peer_id, %dst_peer_id, "circuit opened");
                self.metrics.circuit_opened();
            }
            relay::Event::CircuitReqDenied {
                src_peer_id,
                dst_peer_id,
                status,
            } => {
                tracing::debug!(%src_peer_id, %dst_peer_id, ?status, "circuit denied");
                self.metrics.circuit_denied();
            }
            relay::Event::CircuitClosed {
                src_peer_id,
                dst_peer_id,
                error,
            } => {
                let reason = CircuitEnd::of_error(error.as_ref());
                tracing::debug!(%src_peer_id, %dst_peer_id, ?reason, "circuit closed");
                self.metrics.circuit_closed(reason);
            }
            _ => {}
        }
    }
}

/// Whether an identify-reported address can go into the routing table: relayed addresses only
/// work through one particular relay and are left to the peer's own announcements.
fn is_routable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| p == Protocol::P2pCircuit)
}

fn build_swarm(
    keys: &NodeKeys,
    config: &Config,
    registry: &mut Registry,
    metrics: &Metrics,
) -> Result<Swarm<Behaviour>, Error> {
    let transport = transport::build(
        &keys.identity,
        keys.certificate.clone(),
        metrics.relayed_bytes(),
    )?;
    let Ok(builder) = libp2p::SwarmBuilder::with_existing_identity(keys.identity.clone())
        .with_tokio()
        .with_other_transport(|_| transport);
    let Ok(builder) = builder
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| Behaviour::new(key, config));
    let idle_timeout = config.idle_timeout;
    Ok(builder
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle_timeout))
        .build())
}
