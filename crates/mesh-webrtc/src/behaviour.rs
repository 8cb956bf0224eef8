//! The behaviour half of the transport: opens and accepts signaling streams on the swarm's
//! connections (the transport cannot reach connections itself), and tells the transport which
//! `/webrtc` addresses the relay reservations give us.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    task::{Context, Poll},
};

use futures::{
    StreamExt,
    channel::{mpsc, oneshot},
};
use libp2p::{
    Multiaddr, PeerId, Stream,
    core::{ConnectedPoint, Endpoint, multiaddr::Protocol, transport::PortUse},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, THandler,
        THandlerInEvent, THandlerOutEvent, ToSwarm,
        dial_opts::{DialOpts, PeerCondition},
    },
};

use crate::{
    addr,
    error::Error,
    handler::{Command, Handler, HandlerEvent, RequestId},
};

/// Inbound signaling streams queued for the transport before it takes them.
pub(crate) const INBOUND_QUEUE: usize = 8;

/// Transport → behaviour: open a signaling stream to `peer`.
#[derive(Debug)]
pub(crate) struct OpenRequest {
    pub(crate) peer: PeerId,
    /// Relayed address to dial when no connection to `peer` is open.
    pub(crate) circuit: Option<Multiaddr>,
    pub(crate) reply: oneshot::Sender<Result<Stream, Error>>,
}

/// Behaviour → transport: a `/webrtc` listen address appeared or went away.
#[derive(Debug)]
pub(crate) enum AddrEvent {
    New(Multiaddr),
    Expired(Multiaddr),
}

/// The channels tying a [`Behaviour`] to its transport.
pub(crate) struct Channels {
    pub(crate) requests: mpsc::UnboundedReceiver<OpenRequest>,
    pub(crate) inbound: mpsc::Sender<(PeerId, Stream)>,
    pub(crate) addrs: mpsc::UnboundedSender<AddrEvent>,
}

/// Signaling for the `/webrtc` transport. Add it to the swarm next to the relay client; it
/// emits no events of its own.
pub struct Behaviour {
    channels: Channels,
    /// Open connections usable for signaling, per peer.
    connections: HashMap<PeerId, Vec<ConnectionId>>,
    /// Requests waiting for the relayed connection we dialed for them.
    dialing: HashMap<ConnectionId, Vec<(RequestId, OpenRequest)>>,
    /// Requests handed to a connection's handler.
    in_flight: HashMap<RequestId, (ConnectionId, OpenRequest)>,
    next_id: u64,
    actions: VecDeque<ToSwarm<Infallible, Command>>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour")
            .field("connections", &self.connections)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// Whether a connection can carry signaling: anything but a `/webrtc` connection itself.
fn usable_for_signaling(endpoint: &ConnectedPoint) -> bool {
    let addr = match endpoint {
        ConnectedPoint::Dialer { address, .. } => address,
        ConnectedPoint::Listener { local_addr, .. } => local_addr,
    };
    !addr.iter().any(|p| p == Protocol::WebRTC)
}

impl Behaviour {
    pub(crate) fn new(channels: Channels) -> Self {
        Self {
            channels,
            connections: HashMap::new(),
            dialing: HashMap::new(),
            in_flight: HashMap::new(),
            next_id: 0,
            actions: VecDeque::new(),
        }
    }

    fn send_to_handler(&mut self, connection: ConnectionId, id: RequestId, request: OpenRequest) {
        self.actions.push_back(ToSwarm::NotifyHandler {
            peer_id: request.peer,
            handler: NotifyHandler::One(connection),
            event: Command::Open(id),
        });
        self.in_flight.insert(id, (connection, request));
    }

    fn handle_request(&mut self, request: OpenRequest) {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        if let Some(&connection) = self.connections.get(&request.peer).and_then(|c| c.first()) {
            self.send_to_handler(connection, id, request);
            return;
        }
        let Some(circuit) = request.circuit.clone() else {
            let _ = request.reply.send(Err(Error::NoSignalingConnection));
            return;
        };
        // `Always`: the swarm already counts the `/webrtc` dial itself as dialing this peer.
        let opts = DialOpts::peer_id(request.peer)
            .addresses(vec![circuit])
            .condition(PeerCondition::Always)
            .build();
        self.dialing
            .entry(opts.connection_id())
            .or_default()
            .push((id, request));
        self.actions.push_back(ToSwarm::Dial { opts });
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::default())
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                if usable_for_signaling(e.endpoint) {
                    let list = self.connections.entry(e.peer_id).or_default();
                    // Relayed connections first: that is where the spec signals.
                    if e.endpoint.is_relayed() {
                        list.insert(0, e.connection_id);
                    } else {
                        list.push(e.connection_id);
                    }
                }
                for (id, request) in self.dialing.remove(&e.connection_id).unwrap_or_default() {
                    self.send_to_handler(e.connection_id, id, request);
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some(list) = self.connections.get_mut(&e.peer_id) {
                    list.retain(|c| *c != e.connection_id);
                    if list.is_empty() {
                        self.connections.remove(&e.peer_id);
                    }
                }
                let failed: Vec<RequestId> = self
                    .in_flight
                    .iter()
                    .filter(|(_, (c, _))| *c == e.connection_id)
                    .map(|(id, _)| *id)
                    .collect();
                for id in failed {
                    if let Some((_, request)) = self.in_flight.remove(&id) {
                        let _ = request
                            .reply
                            .send(Err(Error::SignalingStream("connection closed".into())));
                    }
                }
            }
            FromSwarm::DialFailure(e) => {
                for (_, request) in self.dialing.remove(&e.connection_id).unwrap_or_default() {
                    let _ = request
                        .reply
                        .send(Err(Error::RelayedDial(e.error.to_string())));
                }
            }
            FromSwarm::NewListenAddr(e) => {
                if let Some(a) = addr::webrtc_addr_for_circuit(e.addr) {
                    let _ = self.channels.addrs.unbounded_send(AddrEvent::New(a));
                }
            }
            FromSwarm::ExpiredListenAddr(e) => {
                if let Some(a) = addr::webrtc_addr_for_circuit(e.addr) {
                    let _ = self.channels.addrs.unbounded_send(AddrEvent::Expired(a));
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            HandlerEvent::Inbound(stream) => {
                // A full queue or a transport that is not listening: dropping the stream
                // resets it, and the remote's dial fails fast.
                if let Err(e) = self.channels.inbound.try_send((peer, stream)) {
                    tracing::debug!(%peer, "dropping inbound signaling stream: {e}");
                }
            }
            HandlerEvent::Outbound(id, stream) => {
                if let Some((_, request)) = self.in_flight.remove(&id) {
                    let _ = request.reply.send(Ok(stream));
                }
            }
            HandlerEvent::OutboundFailed(id, error) => {
                if let Some((_, request)) = self.in_flight.remove(&id) {
                    let _ = request.reply.send(Err(Error::SignalingStream(error)));
                }
            }
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some(request)) = self.channels.requests.poll_next_unpin(cx) {
            self.handle_request(request);
        }
        match self.actions.pop_front() {
            Some(action) => Poll::Ready(action),
            None => Poll::Pending,
        }
    }
}
