//! Provider routing: finding who holds a CID, and telling others that this node does.
//!
//! Two ways, one interface ([`Behaviour`], [`Event`]):
//!
//! * **Kademlia** (feature `kad`): native nodes walk the DHT themselves. A node in server mode
//!   also answers delegated requests from its record store, so native seeders and the test
//!   network's bootstrap nodes serve browsers too.
//! * **Delegated** (`/mesh/<ns>/routing/1.0.0`): browsers ask the routing servers they are
//!   connected to (their bootstrap nodes) with one request each, and announce to them the same
//!   way. A browser was only ever a DHT client reached through its bootstrap node, and a
//!   bootstrap node keeps a browser's records only while it is connected to it: the servers a
//!   browser is connected to hold every record it could find, one round trip away. Leaving
//!   Kademlia out of the browser build saves its code (about 8 % of the module).

mod book;
mod delegate;
mod inner;
#[cfg(feature = "kad")]
mod kademlia;
#[cfg(feature = "kad")]
pub mod serve;
pub mod wire;

#[cfg(feature = "kad")]
use std::collections::{HashMap, VecDeque};
use std::task::{Context, Poll};

use cid::Cid;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
#[cfg(feature = "kad")]
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{PeerId, StreamProtocol};

use crate::behaviour::Config;
use crate::dht::provider_key_bytes;
use delegate::Delegate;
use inner::{Inner, InnerEvent};
#[cfg(feature = "kad")]
pub use kademlia::KadMode;
pub use wire::{Request, Response, RoutingCodec};

#[cfg(feature = "kad")]
impl From<KadMode> for RoutingMode {
    fn from(mode: KadMode) -> Self {
        Self::Kademlia(mode)
    }
}

/// How a node finds providers and announces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingMode {
    /// Walks the Kademlia DHT itself.
    #[cfg(feature = "kad")]
    Kademlia(KadMode),
    /// Asks its connected routing servers (browsers).
    Delegated,
}

/// One provider lookup or announcement, across both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(u64);

/// Why an announcement did not reach anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvideError {
    /// No routing server is connected.
    #[error("no routing server connected")]
    NoServer,
    /// Every server refused the record, or this node's own store did.
    #[error("refused: {0}")]
    Refused(String),
    /// The announcement failed on the way (a timeout, a closed connection, an incomplete
    /// DHT walk); the record may still be held by some.
    #[error("{0}")]
    Incomplete(String),
}

/// What routing reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Providers of a lookup's key (possibly none). `last` ends the lookup: no event follows
    /// for `id`. `requests` counts the requests the lookup sent, on its last event.
    Providers {
        /// The lookup.
        id: LookupId,
        /// Providers found (not this node).
        providers: Vec<PeerId>,
        /// Whether the lookup ended.
        last: bool,
        /// Requests the lookup sent (on the last event; 0 before).
        requests: u32,
    },
    /// An announcement ended.
    Provided {
        /// The announcement.
        id: LookupId,
        /// Whether some server holds the record now.
        result: Result<(), ProvideError>,
    },
}

/// The routing behaviour: Kademlia or delegated, by [`Config::routing`].
pub struct Behaviour {
    inner: Inner,
    mode: RoutingMode,
    #[cfg(feature = "kad")]
    local: PeerId,
    server_protocol: StreamProtocol,
    next_id: u64,
    /// The delegated client (idle on a Kademlia node, but for its address set).
    delegate: Delegate,
    #[cfg(feature = "kad")]
    queries: HashMap<kad::QueryId, LookupId>,
    #[cfg(feature = "kad")]
    kad_events: VecDeque<Event>,
    #[cfg(feature = "kad")]
    provider_ttl: Option<std::time::Duration>,
}

impl Behaviour {
    /// The routing of node `local` as `config` says.
    pub fn new(local: PeerId, config: &Config) -> Self {
        let ns = &config.namespace;
        let rr = |support| {
            Toggle::from(Some(request_response::Behaviour::with_codec(
                RoutingCodec,
                [(ns.routing_protocol(), support)],
                request_response::Config::default().with_request_timeout(config.request_timeout),
            )))
        };
        #[cfg(feature = "kad")]
        let (inner, server_protocol) = match config.routing {
            RoutingMode::Kademlia(mode) => {
                let store = MemoryStore::with_config(local, config.kad_store.clone());
                let mut kad = kad::Behaviour::with_config(local, store, config.kad_config());
                kad.set_mode(Some(mode.into()));
                let serve = match mode {
                    KadMode::Server => rr(ProtocolSupport::Inbound),
                    KadMode::Client => Toggle::from(None),
                };
                let inner = Inner {
                    kad: Toggle::from(Some(kad)),
                    rr: serve,
                };
                (inner, ns.kad_protocol())
            }
            RoutingMode::Delegated => {
                let inner = Inner {
                    kad: Toggle::from(None),
                    rr: rr(ProtocolSupport::Outbound),
                };
                (inner, ns.routing_protocol())
            }
        };
        #[cfg(not(feature = "kad"))]
        let (inner, server_protocol) = (
            Inner {
                rr: rr(ProtocolSupport::Outbound),
            },
            ns.routing_protocol(),
        );
        Self {
            inner,
            mode: config.routing,
            #[cfg(feature = "kad")]
            local,
            server_protocol,
            next_id: 0,
            delegate: Delegate::new(local),
            #[cfg(feature = "kad")]
            queries: HashMap::new(),
            #[cfg(feature = "kad")]
            kad_events: VecDeque::new(),
            #[cfg(feature = "kad")]
            provider_ttl: config.provider_record_ttl,
        }
    }

    /// Kademlia, on a node that routes by it.
    #[cfg(feature = "kad")]
    pub fn kad_mut(&mut self) -> Option<&mut kad::Behaviour<MemoryStore>> {
        self.inner.kad.as_mut()
    }

    /// Whether a peer that speaks `protocols` (from identify) routes for this node.
    pub fn serves(&self, protocols: &[StreamProtocol]) -> bool {
        protocols.contains(&self.server_protocol)
    }

    /// `peer`, connected, routes for this node (a bootstrap node, or a peer whose identify
    /// named the routing protocol), at `addrs`.
    pub fn add_server(&mut self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            for addr in addrs {
                kad.add_address(&peer, addr);
            }
            return;
        }
        let _ = addrs;
        self.delegate.add_server(peer);
    }

    /// Refreshes the routing table (Kademlia); nothing to do when delegated.
    pub fn bootstrap(&mut self) {
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            // Fails only with an empty routing table: nothing to refresh.
            let _ = kad.bootstrap();
        }
    }

    /// Peers this node can route through: Kademlia's routing table, or the connected servers.
    pub fn known_peers(&mut self) -> usize {
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            return kad.kbuckets().map(|b| b.num_entries()).sum();
        }
        self.delegate.servers()
    }

    fn next_id(&mut self) -> LookupId {
        self.next_id += 1;
        LookupId(self.next_id)
    }

    /// Starts looking up providers of `cid`; [`Event::Providers`] follow, the last one marked.
    pub fn get_providers(&mut self, cid: &Cid) -> LookupId {
        let id = self.next_id();
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            let query = kad.get_providers(crate::dht::provider_key(cid));
            self.queries.insert(query, id);
            return id;
        }
        if let Some(rr) = self.inner.rr.as_mut() {
            self.delegate.get_providers(rr, id, provider_key_bytes(cid));
        }
        id
    }

    /// Ends lookup `id` early (its providers were found): its last event comes next.
    pub fn finish(&mut self, id: LookupId) {
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            let query = self
                .queries
                .iter()
                .find(|(_, l)| **l == id)
                .map(|(q, _)| *q);
            if let Some(mut query) = query.and_then(|q| kad.query_mut(&q)) {
                query.finish();
            }
            return;
        }
        self.delegate.finish(id);
    }

    /// Announces this node as a provider of `cid`; [`Event::Provided`] tells the outcome. `Err`
    /// when this node's own store refuses (Kademlia's provided-keys limit). Delegated, the
    /// announcement waits for this node's first external address if it has none yet.
    pub fn start_providing(&mut self, cid: &Cid) -> Result<LookupId, ProvideError> {
        let id = self.next_id();
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            let query = kad
                .start_providing(crate::dht::provider_key(cid))
                .map_err(|e| ProvideError::Refused(e.to_string()))?;
            self.queries.insert(query, id);
            return Ok(id);
        }
        if let Some(rr) = self.inner.rr.as_mut() {
            self.delegate
                .start_providing(rr, id, provider_key_bytes(cid));
        }
        Ok(id)
    }

    /// Stops announcing `cid`. Kademlia drops the local record (others expire); routing
    /// servers are asked to forget it at once.
    pub fn stop_providing(&mut self, cid: &Cid) {
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            kad.stop_providing(&crate::dht::provider_key(cid));
            return;
        }
        if let Some(rr) = self.inner.rr.as_mut() {
            self.delegate.stop_providing(rr, provider_key_bytes(cid));
        }
    }

    /// Forgets every peer it knew and ends every lookup (consent withdrawn): nothing left
    /// would dial anyone.
    pub fn forget_all(&mut self) {
        #[cfg(feature = "kad")]
        if let Some(kad) = self.inner.kad.as_mut() {
            let known: Vec<PeerId> = kad
                .kbuckets()
                .flat_map(|b| b.iter().map(|e| *e.node.key.preimage()).collect::<Vec<_>>())
                .collect();
            for peer in known {
                kad.remove_peer(&peer);
            }
            // Queries under way would dial the peers they hold.
            for mut query in kad.iter_queries_mut() {
                query.finish();
            }
        }
        self.delegate.forget_all();
    }

    fn on_rr(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                #[cfg(feature = "kad")]
                if let Some(kad) = self.inner.kad.as_mut() {
                    let response = serve::answer(
                        kad,
                        self.local,
                        self.delegate.addresses(),
                        peer,
                        request,
                        self.provider_ttl,
                    );
                    if let Some(rr) = self.inner.rr.as_mut() {
                        // Fails only if the asker is gone.
                        let _ = rr.send_response(channel, response);
                    }
                    return;
                }
                let _ = (peer, request, channel);
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.delegate.answered(request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => self.delegate.answered(request_id, Err(error.to_string())),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "routing request not answered");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    #[cfg(feature = "kad")]
    fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id: query,
            result,
            step,
            stats,
        } = event
        else {
            tracing::trace!(?event, "kad");
            return;
        };
        let Some(&id) = self.queries.get(&query) else {
            tracing::trace!(?result, "kad query");
            return;
        };
        if step.last {
            self.queries.remove(&query);
        }
        if let Some(event) = kademlia::event(self.local, id, result, step.last, stats) {
            self.kad_events.push_back(event);
        }
    }

    fn on_inner(&mut self, event: InnerEvent) {
        match event {
            #[cfg(feature = "kad")]
            InnerEvent::Kad(e) => self.on_kad(e),
            InnerEvent::Rr(e) => self.on_rr(e),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let mut addrs = self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )?;
        if let Some(peer) = maybe_peer {
            addrs.extend(self.delegate.book.get(&peer).iter().cloned());
        }
        Ok(addrs)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.delegate.on_swarm_event(&event);
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer, connection_id, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        if let Some(rr) = self.inner.rr.as_mut()
            && self.mode == RoutingMode::Delegated
        {
            self.delegate.readvertise(rr);
        }
        loop {
            #[cfg(feature = "kad")]
            if let Some(event) = self.kad_events.pop_front() {
                return Poll::Ready(ToSwarm::GenerateEvent(event));
            }
            if let Some(event) = self.delegate.pop_event() {
                return Poll::Ready(ToSwarm::GenerateEvent(event));
            }
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => self.on_inner(event),
                // Every other instruction passes through unchanged; only GenerateEvent carries
                // an event to convert, and it is handled above.
                Poll::Ready(other) => {
                    return Poll::Ready(other.map_out(|_| unreachable!("handled above")));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests;
