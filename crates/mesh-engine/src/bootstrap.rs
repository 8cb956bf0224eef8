//! Staying connected to the bootstrap nodes: dial every address of each at once (the first
//! to connect wins: WebRTC-direct where UDP gets through, WebSocket where it does not), redial
//! with backoff and jitter after a loss, re-announce what this node provides after a
//! reconnect (a bootstrap node drops a client's records with its connection), and — for
//! nodes that cannot be dialled (browsers) — hold a relay reservation at each and listen for
//! `/webrtc` through it. A reservation the relay refused, or one that expired and could not
//! be renewed, is asked for again on its own backoff schedule over the connection that is
//! still up: not at once (a relay at its limit would be asked in a loop) and without
//! redialling or re-announcing anything (the provider records live on with the connection).

use std::time::Duration;

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::Extra;

use crate::backoff::Backoff;
use crate::{Engine, EngineError, Output, PeerKind};

/// A configured bootstrap node and the state of our connection to it.
#[derive(Debug)]
pub(crate) struct BootstrapPeer {
    pub(crate) peer: PeerId,
    /// Addresses to dial (without `/p2p/<peer>`), WebRTC-direct first.
    addrs: Vec<Multiaddr>,
    backoff: Backoff,
    /// When to dial next, if not connected.
    next_dial: Option<CoreInstant>,
    pub(crate) connected: bool,
    /// The address our connection reached it on (the relay address).
    connected_addr: Option<Multiaddr>,
    pub(crate) relay_listener: Option<ListenerId>,
    /// Retry schedule of the relay reservation (reset once a reservation is held).
    reservation_backoff: Backoff,
    /// When to ask for a reservation again, after one was refused or lost.
    next_reservation: Option<CoreInstant>,
}

/// The bootstrap nodes.
#[derive(Debug, Default)]
pub(crate) struct Bootstrap {
    pub(crate) peers: Vec<BootstrapPeer>,
    /// Whether the node dials at all (a page's `p2p` may be off until consent).
    pub(crate) joined: bool,
    /// Whether consent was withdrawn ([`Engine::leave`]): every connection is refused until
    /// the node joins again.
    pub(crate) revoked: bool,
    /// The `/webrtc` listener (tab-to-tab connections), once a reservation was asked for.
    webrtc_listener: Option<ListenerId>,
}

impl Bootstrap {
    /// Bootstrap nodes from their addresses (each ending in `/p2p/<peer>`); several addresses
    /// of one node are dialled together. `Err` names an address without a peer id.
    pub(crate) fn new(addrs: &[Multiaddr]) -> Result<Self, Multiaddr> {
        let mut bootstrap = Self::default();
        bootstrap.add(addrs)?;
        Ok(bootstrap)
    }

    /// Adds bootstrap addresses (see [`Bootstrap::new`]); returns the indices of the nodes
    /// that gained an address. Nothing is added if one address lacks its peer id.
    pub(crate) fn add(&mut self, addrs: &[Multiaddr]) -> Result<Vec<usize>, Multiaddr> {
        let mut parsed = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let mut dial = addr.clone();
            let Some(Protocol::P2p(peer)) = dial.pop() else {
                return Err(addr.clone());
            };
            parsed.push((peer, dial));
        }
        let mut changed = Vec::new();
        for (peer, dial) in parsed {
            let peers = &mut self.peers;
            let i = match peers.iter().position(|b| b.peer == peer) {
                Some(i) => {
                    if !peers[i].addrs.contains(&dial) {
                        peers[i].addrs.push(dial);
                    }
                    i
                }
                None => {
                    peers.push(BootstrapPeer {
                        peer,
                        addrs: vec![dial],
                        backoff: Backoff::new(),
                        next_dial: None,
                        connected: false,
                        connected_addr: None,
                        relay_listener: None,
                        reservation_backoff: Backoff::new(),
                        next_reservation: None,
                    });
                    peers.len() - 1
                }
            };
            if !changed.contains(&i) {
                changed.push(i);
            }
        }
        for &i in &changed {
            // WebRTC-direct first: the quicker handshake where UDP gets through.
            self.peers[i]
                .addrs
                .sort_by_key(|a| !a.iter().any(|p| matches!(p, Protocol::WebRTCDirect)));
        }
        Ok(changed)
    }

    /// Consent withdrawn: no more redials or reservation retries. Returns the listeners to
    /// close (relay reservations and `/webrtc`).
    pub(crate) fn stop(&mut self) -> Vec<ListenerId> {
        self.joined = false;
        self.revoked = true;
        let mut listeners: Vec<ListenerId> = self.webrtc_listener.take().into_iter().collect();
        for b in &mut self.peers {
            b.next_dial = None;
            b.next_reservation = None;
            listeners.extend(b.relay_listener.take());
        }
        listeners
    }

    pub(crate) fn index(&self, peer: &PeerId) -> Option<usize> {
        self.peers.iter().position(|b| b.peer == *peer)
    }

    pub(crate) fn contains(&self, peer: &PeerId) -> bool {
        self.index(peer).is_some()
    }

    /// The earliest due redial or reservation retry.
    pub(crate) fn poll_timeout(&self) -> Option<CoreInstant> {
        self.peers
            .iter()
            .flat_map(|b| [b.next_dial, b.next_reservation])
            .flatten()
            .min()
    }

    pub(crate) fn connected(&self) -> usize {
        self.peers.iter().filter(|b| b.connected).count()
    }

    /// Whether a relay reservation is held (other nodes can reach this one through it).
    pub(crate) fn reachable(&self) -> bool {
        self.peers
            .iter()
            .any(|b| b.connected && b.relay_listener.is_some())
    }
}

impl<X: Extra> Engine<X> {
    /// Starts dialling the bootstrap nodes (and keeps redialling them). Nodes whose page has
    /// not consented to peer connections call this once it has.
    pub fn join(&mut self, now: CoreInstant) {
        self.tick(now);
        if self.bootstrap.joined {
            return;
        }
        self.bootstrap.joined = true;
        self.bootstrap.revoked = false;
        for i in 0..self.bootstrap.peers.len() {
            self.start_bootstrap(now, i);
        }
    }

    /// Adds bootstrap nodes learnt after the start (a page that fetches its bootstrap list
    /// only once the user consented); dialled at once if the node has joined.
    pub fn add_bootstrap(
        &mut self,
        now: CoreInstant,
        addrs: &[Multiaddr],
    ) -> Result<(), EngineError> {
        self.tick(now);
        let changed = self
            .bootstrap
            .add(addrs)
            .map_err(|addr| EngineError::BootstrapWithoutPeerId { addr })?;
        if self.bootstrap.joined {
            for i in changed {
                if !self.bootstrap.peers[i].connected {
                    self.start_bootstrap(now, i);
                }
            }
        }
        Ok(())
    }

    /// Tells routing where bootstrap node `i` is and dials it.
    fn start_bootstrap(&mut self, now: CoreInstant, i: usize) {
        let b = &self.bootstrap.peers[i];
        let (peer, addrs) = (b.peer, b.addrs.clone());
        self.swarm.behaviour_mut().routing.add_server(peer, addrs);
        self.dial_bootstrap(now, i);
    }

    /// Whether [`Engine::join`] was called.
    pub fn joined(&self) -> bool {
        self.bootstrap.joined
    }

    /// Whether `peer` is a configured bootstrap node.
    pub fn is_bootstrap(&self, peer: &PeerId) -> bool {
        self.bootstrap.contains(peer)
    }

    fn dial_bootstrap(&mut self, now: CoreInstant, i: usize) {
        let b = &self.bootstrap.peers[i];
        let (peer, addrs) = (b.peer, b.addrs.clone());
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "bootstrap dial not started");
            if !self.swarm.is_connected(&peer) {
                self.schedule_redial(now, i);
            }
        }
    }

    fn schedule_redial(&mut self, now: CoreInstant, i: usize) {
        let random = self.jitter.next_unit();
        let b = &mut self.bootstrap.peers[i];
        let delay: Duration = b.backoff.failed(random);
        tracing::info!(peer = %b.peer, ?delay, "bootstrap node unreachable; retrying");
        b.next_dial = Some(now + delay);
    }

    /// Redials the bootstrap nodes, and asks again for the reservations, whose time has come.
    pub(crate) fn bootstrap_timeout(&mut self, now: CoreInstant) {
        for i in 0..self.bootstrap.peers.len() {
            if self.bootstrap.peers[i].next_dial.is_some_and(|t| t <= now) {
                self.bootstrap.peers[i].next_dial = None;
                self.dial_bootstrap(now, i);
            }
            if self.bootstrap.peers[i]
                .next_reservation
                .is_some_and(|t| t <= now)
            {
                self.bootstrap.peers[i].next_reservation = None;
                self.reserve_relay(i);
            }
        }
    }

    /// The first connection to bootstrap node `i` is up, reached at `addr`.
    pub(crate) fn bootstrap_connected(&mut self, now: CoreInstant, i: usize, addr: Multiaddr) {
        let b = &mut self.bootstrap.peers[i];
        b.backoff.succeeded();
        b.next_dial = None;
        b.connected = true;
        let peer = b.peer;
        b.connected_addr = Some(addr.clone());
        tracing::info!(%peer, %addr, "connected to bootstrap node");
        self.outputs.push_back(Output::PeerChanged {
            peer,
            kind: PeerKind::Bootstrap,
            connected: true,
        });
        self.reserve_relay(i);
        // Failed redials take the address out of Kademlia's routing table, and the peer with
        // it once none is left; the announcements below must find it there. A delegating
        // node asks connected bootstrap nodes from now on.
        self.swarm.behaviour_mut().routing.add_server(peer, [addr]);
        // After a reconnect the bootstrap node has dropped our provider records with the
        // connection; on the first connection, roots provided before it (restored from a
        // persisted cache, or fetched before any DHT peer was known) were announced to nobody.
        self.reannounce_all();
        self.swarm.behaviour_mut().routing.bootstrap();
        self.warm_start(now);
    }

    /// The last connection to bootstrap node `i` closed, or dialling it failed.
    pub(crate) fn bootstrap_lost(&mut self, now: CoreInstant, i: usize) {
        let b = &mut self.bootstrap.peers[i];
        // The reservation is asked for again with the next connection.
        b.next_reservation = None;
        if std::mem::replace(&mut b.connected, false) {
            self.outputs.push_back(Output::PeerChanged {
                peer: b.peer,
                kind: PeerKind::Bootstrap,
                connected: false,
            });
        }
        if self.bootstrap.joined {
            self.schedule_redial(now, i);
        }
    }

    /// Asks bootstrap node `i` for a relay reservation, and listens for `/webrtc` (addresses
    /// appear as `<relay>/p2p-circuit/webrtc` once a reservation is held). Browsers only.
    fn reserve_relay(&mut self, i: usize) {
        // A node that does not serve needs no one to reach it.
        if !self.config.reserve_relay || !self.config.serve || !self.bootstrap.joined {
            return;
        }
        let b = &self.bootstrap.peers[i];
        let (peer, listener) = (b.peer, b.relay_listener);
        let Some(addr) = b.connected_addr.clone() else {
            return;
        };
        if listener.is_none() {
            let circuit = addr
                .with_p2p(peer)
                .unwrap_or_else(|a| a)
                .with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit) {
                Ok(id) => self.bootstrap.peers[i].relay_listener = Some(id),
                Err(e) => tracing::warn!(%peer, error = %e, "cannot reserve a relay slot"),
            }
        }
        if self.bootstrap.webrtc_listener.is_none() {
            match self
                .swarm
                .listen_on(Multiaddr::empty().with(Protocol::WebRTC))
            {
                Ok(id) => self.bootstrap.webrtc_listener = Some(id),
                Err(e) => tracing::warn!(error = %e, "cannot listen for tab-to-tab connections"),
            }
        }
    }

    /// A listener has an address: if it is a relay reservation's, the reservation is held,
    /// and the next refusal starts the retry schedule over.
    pub(crate) fn bootstrap_listening(&mut self, listener: ListenerId) {
        for b in &mut self.bootstrap.peers {
            if b.relay_listener == Some(listener) {
                b.reservation_backoff.succeeded();
            }
        }
    }

    /// A listener closed: if it was a relay reservation (refused, or expired without
    /// renewal) whose bootstrap connection is still up, ask again after a backoff delay.
    pub(crate) fn bootstrap_listener_closed(
        &mut self,
        now: CoreInstant,
        listener: ListenerId,
        reason: &str,
    ) {
        for i in 0..self.bootstrap.peers.len() {
            if self.bootstrap.peers[i].relay_listener != Some(listener) {
                continue;
            }
            // Gone already when it closed; after a listener error, closed here, so that the
            // next reservation is the only one.
            self.swarm.remove_listener(listener);
            let random = self.jitter.next_unit();
            let b = &mut self.bootstrap.peers[i];
            b.relay_listener = None;
            if b.connected {
                let delay = b.reservation_backoff.failed(random);
                tracing::info!(peer = %b.peer, %reason, ?delay, "relay reservation lost; asking again");
                b.next_reservation = Some(now + delay);
            }
        }
    }
}
