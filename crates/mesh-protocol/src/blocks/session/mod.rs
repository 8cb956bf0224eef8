//! The block exchange as a session: per connection, each side opens one long-lived stream for
//! its requests, writes them back to back, and the other side answers on the same stream as
//! answers become ready, matched by request id.
//!
//! Why not a stream per request (libp2p request-response, this protocol's 1.x): over
//! browser-to-browser `/webrtc` a stream is a data channel, and each one costs an open, a
//! protocol negotiation and a FIN/FIN_ACK round, on both tabs' main threads, for every block.
//! A session pays that once per connection. Requests stay pipelined (many in flight), notices
//! (announce, withdraw, cancel) need no answer, and because a cancel travels behind the
//! want-blocks it cancels on the same ordered stream, it can no longer overtake them.
//!
//! Flow control: a node reads at most `max_pending_inbound` of a peer's requests ahead of its
//! answers and then stops reading that stream, so a flood waits in the transport's buffers,
//! not in our memory. Each request times out on its own ([`Config::request_timeout`]).
//!
//! A malformed frame ends the stream it came on (its framing cannot be trusted after it): on
//! the answering side it is counted ([`BlockCodec::rejected_requests`]) and the peer's next
//! request opens a new stream; on the asking side every open request on it fails with the
//! [`ProtocolError`](mesh_core::wire::ProtocolError) inside an [`io::ErrorKind::InvalidData`]
//! error. The connection stays.

mod frames;
mod handler;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr, multiaddr::Protocol};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{PeerId, StreamProtocol};
use mesh_core::wire::{BlockRequest, BlockResponse};

pub use handler::{Handler, HandlerIn, HandlerOut};

use crate::blocks::BlockCodec;

/// Requests of a peer a node reads ahead of its answers, per connection. The planner keeps up
/// to 16 want-blocks in flight per peer and the server answers up to 32 at once; this leaves
/// room for notices and want-haves beside them.
pub const MAX_PENDING_INBOUND: usize = 64;

/// Settings of the session behaviour.
#[derive(Debug, Clone)]
pub struct Config {
    /// Time allowed for one request's answer. Default 10 s.
    pub request_timeout: Duration,
    /// See [`MAX_PENDING_INBOUND`].
    pub max_pending_inbound: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_pending_inbound: MAX_PENDING_INBOUND,
        }
    }
}

/// A request we sent; also its id on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboundRequestId(pub(crate) u64);

/// A request a peer sent us, numbered by this node (not the peer's wire id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InboundRequestId(pub(crate) u64);

impl fmt::Display for OutboundRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for InboundRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where to send the answer to a peer's request ([`Behaviour::send_response`]).
#[derive(Debug)]
pub struct ResponseChannel {
    peer: PeerId,
    connection: ConnectionId,
    id: InboundRequestId,
}

impl ResponseChannel {
    /// The request this answers.
    pub fn request_id(&self) -> InboundRequestId {
        self.id
    }
}

/// Why one of our requests got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundFailure {
    /// No connection to the peer when it was sent.
    #[error("not connected to the peer")]
    NotConnected,
    /// The connection it was sent on closed first.
    #[error("connection closed before the answer")]
    ConnectionClosed,
    /// No answer within [`Config::request_timeout`], or the stream did not open in time.
    #[error("no answer in time")]
    Timeout,
    /// The peer does not speak the block exchange on this connection.
    #[error("the peer does not speak the block exchange")]
    UnsupportedProtocol,
    /// The stream failed or carried a malformed answer (then the error's inner error is a
    /// [`ProtocolError`](mesh_core::wire::ProtocolError)).
    #[error("block-exchange stream failed: {0}")]
    Io(#[source] io::Error),
}

/// Why an answer to a peer's request could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboundFailure {
    /// The connection or the stream it came on is gone.
    #[error("connection closed before the answer went out")]
    ConnectionClosed,
    /// Writing the answer failed.
    #[error("cannot send the answer: {0}")]
    Io(#[source] io::Error),
}

/// What the session reports.
#[derive(Debug)]
pub enum Event {
    /// A request or an answer arrived.
    Message {
        /// From whom.
        peer: PeerId,
        /// On which connection.
        connection_id: ConnectionId,
        /// What.
        message: Message,
    },
    /// One of our requests failed.
    OutboundFailure {
        /// To whom.
        peer: PeerId,
        /// The request.
        request_id: OutboundRequestId,
        /// Why.
        error: OutboundFailure,
    },
    /// An answer to a peer could not be sent.
    InboundFailure {
        /// To whom.
        peer: PeerId,
        /// The request.
        request_id: InboundRequestId,
        /// Why.
        error: InboundFailure,
    },
    /// An answer went out (a notice's acknowledgement needs none and reports this at once).
    ResponseSent {
        /// To whom.
        peer: PeerId,
        /// The request.
        request_id: InboundRequestId,
    },
}

/// A request or an answer.
#[derive(Debug)]
pub enum Message {
    /// A peer's request: answer it with [`Behaviour::send_response`] and `channel`.
    Request {
        /// Its id here.
        request_id: InboundRequestId,
        /// The request.
        request: BlockRequest,
        /// Where the answer goes.
        channel: ResponseChannel,
    },
    /// The answer to one of ours.
    Response {
        /// The request answered.
        request_id: OutboundRequestId,
        /// The answer. **Unverified** if it is a block.
        response: BlockResponse,
    },
}

/// What the behaviour keeps of one connection.
#[derive(Debug)]
struct Connection {
    id: ConnectionId,
    /// Through a relay: used only while no direct connection is up.
    relayed: bool,
    outbound: HashSet<OutboundRequestId>,
    inbound: HashSet<InboundRequestId>,
}

/// The block-exchange session behaviour.
pub struct Behaviour {
    protocol: StreamProtocol,
    codec: BlockCodec,
    config: Config,
    next_outbound: u64,
    next_inbound: Arc<AtomicU64>,
    connections: HashMap<PeerId, Vec<Connection>>,
    events: VecDeque<ToSwarm<Event, HandlerIn>>,
}

impl Behaviour {
    /// A session under `protocol`; `codec` counts the malformed requests it rejects.
    pub fn new(protocol: StreamProtocol, codec: BlockCodec, config: Config) -> Self {
        Self {
            protocol,
            codec,
            config,
            next_outbound: 1,
            next_inbound: Arc::new(AtomicU64::new(1)),
            connections: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Sends `request` to `peer` over its newest direct connection (a relayed one only while
    /// there is none). Its answer or failure is reported with the id returned. A notice
    /// (announce, withdraw, cancel) gets no answer: only a failure to send it is reported.
    pub fn send_request(&mut self, peer: &PeerId, request: BlockRequest) -> OutboundRequestId {
        let id = OutboundRequestId(self.next_outbound);
        self.next_outbound += 1;
        let chosen = self.connections.get_mut(peer).and_then(|conns| {
            let direct = conns.iter().rposition(|c| !c.relayed);
            let i = direct.or_else(|| conns.len().checked_sub(1))?;
            conns.get_mut(i)
        });
        match chosen {
            Some(conn) => {
                if !request.is_notice() {
                    conn.outbound.insert(id);
                }
                self.events.push_back(ToSwarm::NotifyHandler {
                    peer_id: *peer,
                    handler: NotifyHandler::One(conn.id),
                    event: HandlerIn::Request { id, request },
                });
            }
            None => self
                .events
                .push_back(ToSwarm::GenerateEvent(Event::OutboundFailure {
                    peer: *peer,
                    request_id: id,
                    error: OutboundFailure::NotConnected,
                })),
        }
        id
    }

    /// Answers a peer's request. Gives the answer back if its connection is gone.
    pub fn send_response(
        &mut self,
        channel: ResponseChannel,
        response: BlockResponse,
    ) -> Result<(), BlockResponse> {
        let open = self
            .connections
            .get(&channel.peer)
            .and_then(|conns| conns.iter().find(|c| c.id == channel.connection))
            .is_some_and(|c| c.inbound.contains(&channel.id));
        if !open {
            return Err(response);
        }
        self.events.push_back(ToSwarm::NotifyHandler {
            peer_id: channel.peer,
            handler: NotifyHandler::One(channel.connection),
            event: HandlerIn::Respond {
                id: channel.id,
                response,
            },
        });
        Ok(())
    }

    /// Inbound requests rejected as malformed or oversize.
    pub fn rejected_requests(&self) -> u64 {
        self.codec.rejected_requests()
    }

    fn handler(&self) -> Handler {
        Handler::new(handler::HandlerConfig {
            protocol: self.protocol.clone(),
            codec: self.codec.clone(),
            request_timeout: self.config.request_timeout,
            max_pending_inbound: self.config.max_pending_inbound,
            next_inbound: self.next_inbound.clone(),
        })
    }

    fn connection(&mut self, peer: PeerId, id: ConnectionId) -> Option<&mut Connection> {
        self.connections
            .get_mut(&peer)?
            .iter_mut()
            .find(|c| c.id == id)
    }

    fn on_connection_closed(&mut self, closed: ConnectionClosed) {
        let Some(conns) = self.connections.get_mut(&closed.peer_id) else {
            return;
        };
        let Some(i) = conns.iter().position(|c| c.id == closed.connection_id) else {
            return;
        };
        let conn = conns.remove(i);
        if conns.is_empty() {
            self.connections.remove(&closed.peer_id);
        }
        let peer = closed.peer_id;
        for request_id in conn.outbound {
            self.events
                .push_back(ToSwarm::GenerateEvent(Event::OutboundFailure {
                    peer,
                    request_id,
                    error: OutboundFailure::ConnectionClosed,
                }));
        }
        for request_id in conn.inbound {
            self.events
                .push_back(ToSwarm::GenerateEvent(Event::InboundFailure {
                    peer,
                    request_id,
                    error: InboundFailure::ConnectionClosed,
                }));
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(established) => {
                let relayed = established
                    .endpoint
                    .get_remote_address()
                    .iter()
                    .any(|p| p == Protocol::P2pCircuit);
                self.connections
                    .entry(established.peer_id)
                    .or_default()
                    .push(Connection {
                        id: established.connection_id,
                        relayed,
                        outbound: HashSet::new(),
                        inbound: HashSet::new(),
                    });
            }
            FromSwarm::ConnectionClosed(closed) => self.on_connection_closed(closed),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        let Some(conn) = self.connection(peer, connection_id) else {
            return;
        };
        let event = match event {
            HandlerOut::Request { id, request } => {
                conn.inbound.insert(id);
                Event::Message {
                    peer,
                    connection_id,
                    message: Message::Request {
                        request_id: id,
                        request,
                        channel: ResponseChannel {
                            peer,
                            connection: connection_id,
                            id,
                        },
                    },
                }
            }
            HandlerOut::Response { id, response } => {
                conn.outbound.remove(&id);
                Event::Message {
                    peer,
                    connection_id,
                    message: Message::Response {
                        request_id: id,
                        response,
                    },
                }
            }
            HandlerOut::OutboundFailed { id, error } => {
                conn.outbound.remove(&id);
                Event::OutboundFailure {
                    peer,
                    request_id: id,
                    error,
                }
            }
            HandlerOut::ResponseSent { id } => {
                conn.inbound.remove(&id);
                Event::ResponseSent {
                    peer,
                    request_id: id,
                }
            }
            HandlerOut::InboundFailed { id, error } => {
                conn.inbound.remove(&id);
                Event::InboundFailure {
                    peer,
                    request_id: id,
                    error,
                }
            }
        };
        self.events.push_back(ToSwarm::GenerateEvent(event));
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}
