//! The `/webrtc` [`Transport`](libp2p::core::Transport) (browser only).

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{
    FutureExt, StreamExt,
    channel::{mpsc, oneshot},
    future::LocalBoxFuture,
};
use libp2p::{
    Multiaddr, PeerId, Stream,
    core::{
        Endpoint,
        multiaddr::Protocol,
        transport::{DialOpts, ListenerId, TransportError, TransportEvent},
    },
};
use send_wrapper::SendWrapper;

use crate::{
    addr,
    behaviour::{AddrEvent, Behaviour, Channels, INBOUND_QUEUE, OpenRequest},
    config::Config,
    connection::Connection,
    error::Error,
    handshake,
    limits::{Slot, Slots},
};

/// A connection being set up: signaling, then ICE and DTLS. (JS objects are `!Send`, so the
/// future is wrapped; wasm32 runs it on its only thread.)
pub type Upgrade = SendWrapper<LocalBoxFuture<'static, Result<(PeerId, Connection), Error>>>;

/// Dials `<relay>/p2p-circuit/webrtc/p2p/<peer>` and, after `listen_on("/webrtc")`, accepts
/// connections signaled over any connection of the swarm.
///
/// Put it first in the transport chain, before the relay client: libp2p-relay would otherwise
/// accept the `/webrtc` address and hand back a plain relayed connection (WEBRTC.md §6.1).
pub struct Transport {
    local_peer: PeerId,
    config: Config,
    requests: mpsc::UnboundedSender<OpenRequest>,
    inbound: mpsc::Receiver<(PeerId, Stream)>,
    addrs: mpsc::UnboundedReceiver<AddrEvent>,
    listener: Option<ListenerId>,
    /// Handshakes in progress, both directions ([`Config::with_max_handshakes`]).
    handshakes: Slots,
    /// `RTCPeerConnection`s, set up or being set up ([`Config::with_max_connections`]).
    connections: Slots,
    /// Current `/webrtc` addresses, replayed to a listener that starts late.
    known_addrs: Vec<Multiaddr>,
    events: VecDeque<TransportEvent<Upgrade, Error>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("local_peer", &self.local_peer)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A handshake slot and a connection slot, or why not: both are taken before anything
    /// is read from or sent to the remote.
    fn acquire(&self) -> Result<(Slot, Slot), Error> {
        let handshake = self
            .handshakes
            .try_acquire()
            .ok_or(Error::TooManyHandshakes)?;
        let connection = self
            .connections
            .try_acquire()
            .ok_or(Error::TooManyConnections)?;
        Ok((handshake, connection))
    }
}

/// Creates the transport and the behaviour that must be added to the same swarm.
pub fn new(local_peer: PeerId, config: Config) -> (Transport, Behaviour) {
    let (requests_tx, requests) = mpsc::unbounded();
    let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
    let (addrs_tx, addrs) = mpsc::unbounded();
    let transport = Transport {
        local_peer,
        handshakes: Slots::new(config.max_handshakes),
        connections: Slots::new(config.max_connections),
        config,
        requests: requests_tx,
        inbound,
        addrs,
        listener: None,
        known_addrs: Vec::new(),
        events: VecDeque::new(),
    };
    let behaviour = Behaviour::new(Channels {
        requests,
        inbound: inbound_tx,
        addrs: addrs_tx,
    });
    (transport, behaviour)
}

impl libp2p::core::Transport for Transport {
    type Output = (PeerId, Connection);
    type Error = Error;
    type ListenerUpgrade = Upgrade;
    type Dial = Upgrade;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Error>> {
        if !addr::is_listen_addr(&addr) || self.listener.is_some() {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        self.listener = Some(id);
        for listen_addr in self.known_addrs.clone() {
            self.events.push_back(TransportEvent::NewAddress {
                listener_id: id,
                listen_addr,
            });
        }
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        if self.listener != Some(id) {
            return false;
        }
        self.listener = None;
        self.events.push_back(TransportEvent::ListenerClosed {
            listener_id: id,
            reason: Ok(()),
        });
        true
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Upgrade, TransportError<Error>> {
        let parsed = match addr::parse_dial_addr(&addr) {
            Some(parsed) if opts.role == Endpoint::Dialer && parsed.peer != self.local_peer => {
                parsed
            }
            _ => return Err(TransportError::MultiaddrNotSupported(addr)),
        };
        let (handshake, slot) = self.acquire().map_err(TransportError::Other)?;
        let (reply, response) = oneshot::channel();
        self.requests
            .unbounded_send(OpenRequest {
                peer: parsed.peer,
                circuit: parsed.circuit,
                reply,
            })
            .map_err(|_| TransportError::Other(Error::BehaviourGone))?;
        let config = self.config.clone();
        let peer = parsed.peer;
        Ok(SendWrapper::new(
            async move {
                let stream = response.await.map_err(|_| Error::BehaviourGone)??;
                let connection = handshake::initiate(stream, config, slot).await?;
                drop(handshake);
                Ok((peer, connection))
            }
            .boxed_local(),
        ))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Upgrade, Error>> {
        let this = &mut *self;
        while let Poll::Ready(Some(event)) = this.addrs.poll_next_unpin(cx) {
            match event {
                AddrEvent::New(a) => {
                    if this.known_addrs.contains(&a) {
                        continue;
                    }
                    this.known_addrs.push(a.clone());
                    if let Some(listener_id) = this.listener {
                        this.events.push_back(TransportEvent::NewAddress {
                            listener_id,
                            listen_addr: a,
                        });
                    }
                }
                AddrEvent::Expired(a) => {
                    this.known_addrs.retain(|k| *k != a);
                    if let Some(listener_id) = this.listener {
                        this.events.push_back(TransportEvent::AddressExpired {
                            listener_id,
                            listen_addr: a,
                        });
                    }
                }
            }
        }
        if let Some(event) = this.events.pop_front() {
            return Poll::Ready(event);
        }
        while let Poll::Ready(Some((peer, stream))) = this.inbound.poll_next_unpin(cx) {
            let Some(listener_id) = this.listener else {
                tracing::debug!(%peer, "not listening on /webrtc; refusing signaling");
                continue;
            };
            let (handshake, slot) = match this.acquire() {
                Ok(slots) => slots,
                Err(e) => {
                    // Dropping the stream resets it: the remote's dial fails fast.
                    tracing::debug!(%peer, "refusing inbound /webrtc: {e}");
                    continue;
                }
            };
            let config = this.config.clone();
            let upgrade = SendWrapper::new(
                async move {
                    let connection = handshake::respond(stream, config, slot).await?;
                    drop(handshake);
                    Ok((peer, connection))
                }
                .boxed_local(),
            );
            let local_addr = Multiaddr::empty().with(Protocol::WebRTC);
            let send_back_addr = local_addr.clone().with(Protocol::P2p(peer));
            return Poll::Ready(TransportEvent::Incoming {
                listener_id,
                upgrade,
                local_addr,
                send_back_addr,
            });
        }
        Poll::Pending
    }
}
