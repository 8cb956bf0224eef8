//! Connection limits per source: per remote IP address and per IPv6 /64.
//!
//! libp2p's `connection_limits` counts in total and per peer id, and a peer id costs nothing to
//! make: one host could hold every connection slot, and with them every relay reservation (one
//! per connection). This behaviour counts inbound connections by where they come from and
//! refuses a source at its limit, before the handshake when it can. It also remembers the
//! source of each connected peer, which the provider store charges records to.
//!
//! Outbound connections (to other bootstrap nodes) are not limited but are remembered.

use std::{
    collections::{HashMap, hash_map::Entry},
    convert::Infallible,
    hash::Hash,
    net::IpAddr,
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse},
    swarm::{
        ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure,
        NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
    },
};

use crate::source::{Ipv6Net64, ip_of, net64_of};

/// Limits per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceLimitsConfig {
    /// Established inbound connections from one IP address.
    pub(crate) max_established_per_ip: usize,
    /// Established inbound connections from one IPv6 /64.
    pub(crate) max_established_per_net64: usize,
    /// Inbound connections from one IP address still in their handshake.
    pub(crate) max_pending_per_ip: usize,
}

/// Which source limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SourceLimitExceeded {
    /// The remote IP address holds its share of established connections.
    #[error("{ip} holds {limit} connections, its limit")]
    Ip {
        /// The remote address.
        ip: IpAddr,
        /// The limit.
        limit: usize,
    },
    /// The remote IPv6 /64 holds its share of established connections.
    #[error("the /64 of {ip} holds {limit} connections, its limit")]
    Net64 {
        /// The remote address.
        ip: IpAddr,
        /// The limit.
        limit: usize,
    },
    /// The remote IP address has its share of handshakes in progress.
    #[error("{ip} has {limit} connections in their handshake, its limit")]
    PendingIp {
        /// The remote address.
        ip: IpAddr,
        /// The limit.
        limit: usize,
    },
}

impl SourceLimitExceeded {
    /// A short snake-case name (the metrics label).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ip { .. } => "ip",
            Self::Net64 { .. } => "net64",
            Self::PendingIp { .. } => "pending_ip",
        }
    }
}

/// A connection this behaviour knows about.
#[derive(Debug, Clone, Copy)]
struct Known {
    peer: PeerId,
    ip: IpAddr,
    inbound: bool,
}

/// The behaviour; see the module documentation.
#[derive(Debug)]
pub(crate) struct Behaviour {
    config: SourceLimitsConfig,
    pending: HashMap<ConnectionId, IpAddr>,
    pending_per_ip: HashMap<IpAddr, usize>,
    established: HashMap<ConnectionId, Known>,
    established_per_ip: HashMap<IpAddr, usize>,
    established_per_net64: HashMap<Ipv6Net64, usize>,
    /// The source of each connected peer (that of its first connection) and its connections.
    peers: HashMap<PeerId, (IpAddr, usize)>,
}

impl Behaviour {
    pub(crate) fn new(config: SourceLimitsConfig) -> Self {
        Self {
            config,
            pending: HashMap::new(),
            pending_per_ip: HashMap::new(),
            established: HashMap::new(),
            established_per_ip: HashMap::new(),
            established_per_net64: HashMap::new(),
            peers: HashMap::new(),
        }
    }

    /// The IP address a connected peer connects from.
    pub(crate) fn source_of(&self, peer: &PeerId) -> Option<IpAddr> {
        self.peers.get(peer).map(|(ip, _)| *ip)
    }

    fn check_established(&self, ip: IpAddr) -> Result<(), SourceLimitExceeded> {
        let limit = self.config.max_established_per_ip;
        if count(&self.established_per_ip, &ip) >= limit {
            return Err(SourceLimitExceeded::Ip { ip, limit });
        }
        if let Some(net) = net64_of(ip) {
            let limit = self.config.max_established_per_net64;
            if count(&self.established_per_net64, &net) >= limit {
                return Err(SourceLimitExceeded::Net64 { ip, limit });
            }
        }
        Ok(())
    }

    fn release_pending(&mut self, connection: ConnectionId) {
        if let Some(ip) = self.pending.remove(&connection) {
            decrement(&mut self.pending_per_ip, ip);
        }
    }
}

fn count<K: Hash + Eq>(map: &HashMap<K, usize>, key: &K) -> usize {
    map.get(key).copied().unwrap_or(0)
}

fn decrement<K: Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Entry::Occupied(mut n) = map.entry(key) {
        *n.get_mut() -= 1;
        if *n.get() == 0 {
            n.remove();
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote_addr) else {
            return Ok(());
        };
        // Refused before the handshake: a source at its limit costs us no crypto.
        self.check_established(ip).map_err(ConnectionDenied::new)?;
        let limit = self.config.max_pending_per_ip;
        if count(&self.pending_per_ip, &ip) >= limit {
            return Err(ConnectionDenied::new(SourceLimitExceeded::PendingIp {
                ip,
                limit,
            }));
        }
        self.pending.insert(connection_id, ip);
        *self.pending_per_ip.entry(ip).or_default() += 1;
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.release_pending(connection_id);
        if let Some(ip) = ip_of(remote_addr) {
            // Others may have completed their handshake meanwhile.
            self.check_established(ip).map_err(ConnectionDenied::new)?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionEstablished(established) => {
                let Some(ip) = ip_of(established.endpoint.get_remote_address()) else {
                    return;
                };
                let inbound = established.endpoint.is_listener();
                self.established.insert(
                    established.connection_id,
                    Known {
                        peer: established.peer_id,
                        ip,
                        inbound,
                    },
                );
                if inbound {
                    *self.established_per_ip.entry(ip).or_default() += 1;
                    if let Some(net) = net64_of(ip) {
                        *self.established_per_net64.entry(net).or_default() += 1;
                    }
                }
                self.peers.entry(established.peer_id).or_insert((ip, 0)).1 += 1;
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                let Some(known) = self.established.remove(&connection_id) else {
                    return;
                };
                if known.inbound {
                    decrement(&mut self.established_per_ip, known.ip);
                    if let Some(net) = net64_of(known.ip) {
                        decrement(&mut self.established_per_net64, net);
                    }
                }
                if let Entry::Occupied(mut peer) = self.peers.entry(known.peer) {
                    peer.get_mut().1 -= 1;
                    if peer.get().1 == 0 {
                        peer.remove();
                    }
                }
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release_pending(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use libp2p::{core::ConnectedPoint, swarm::behaviour::ConnectionEstablished};

    use super::*;

    const LOCAL: &str = "/ip4/127.0.0.1/tcp/4001";

    struct Harness {
        behaviour: Behaviour,
        next_id: usize,
        open: Vec<(ConnectionId, PeerId, ConnectedPoint)>,
    }

    impl Harness {
        fn new(max_per_ip: usize, max_per_net64: usize, max_pending: usize) -> Self {
            Self {
                behaviour: Behaviour::new(SourceLimitsConfig {
                    max_established_per_ip: max_per_ip,
                    max_established_per_net64: max_per_net64,
                    max_pending_per_ip: max_pending,
                }),
                next_id: 0,
                open: Vec::new(),
            }
        }

        /// Starts an inbound connection from `remote`; the id if it passes the pending check.
        fn begin(&mut self, remote: &str) -> Result<ConnectionId, SourceLimitExceeded> {
            self.next_id += 1;
            let id = ConnectionId::new_unchecked(self.next_id);
            let (local, remote) = (LOCAL.parse().unwrap(), remote.parse().unwrap());
            self.behaviour
                .handle_pending_inbound_connection(id, &local, &remote)
                .map_err(|e| *e.downcast_ref::<SourceLimitExceeded>().unwrap())?;
            Ok(id)
        }

        /// Completes the handshake of `id` from `remote` and reports it established.
        fn establish(
            &mut self,
            id: ConnectionId,
            remote: &str,
        ) -> Result<PeerId, SourceLimitExceeded> {
            let peer = PeerId::random();
            let (local, remote): (Multiaddr, Multiaddr) =
                (LOCAL.parse().unwrap(), remote.parse().unwrap());
            self.behaviour
                .handle_established_inbound_connection(id, peer, &local, &remote)
                .map_err(|e| *e.downcast_ref::<SourceLimitExceeded>().unwrap())?;
            let endpoint = ConnectedPoint::Listener {
                local_addr: local,
                send_back_addr: remote,
            };
            self.behaviour
                .on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
                    peer_id: peer,
                    connection_id: id,
                    endpoint: &endpoint,
                    failed_addresses: &[],
                    other_established: 0,
                }));
            self.open.push((id, peer, endpoint));
            Ok(peer)
        }

        fn connect(&mut self, remote: &str) -> Result<PeerId, SourceLimitExceeded> {
            let id = self.begin(remote)?;
            self.establish(id, remote)
        }

        fn close(&mut self, peer: PeerId) {
            let index = self.open.iter().position(|(_, p, _)| *p == peer).unwrap();
            let (id, peer, endpoint) = self.open.remove(index);
            self.behaviour
                .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                    peer_id: peer,
                    connection_id: id,
                    endpoint: &endpoint,
                    cause: None,
                    remaining_established: 0,
                }));
        }
    }

    #[test]
    fn established_connections_are_capped_per_ip() {
        let mut h = Harness::new(2, 100, 100);
        let first = h.connect("/ip4/192.0.2.1/tcp/1000").unwrap();
        h.connect("/ip4/192.0.2.1/tcp/1001/ws").unwrap();
        // A third from the same address, whatever the transport or peer id.
        assert!(matches!(
            h.connect("/ip4/192.0.2.1/udp/1002/webrtc-direct"),
            Err(SourceLimitExceeded::Ip { limit: 2, .. })
        ));
        // Others are not affected.
        h.connect("/ip4/192.0.2.2/tcp/1000").unwrap();
        // A closed connection frees its slot.
        h.close(first);
        h.connect("/ip4/192.0.2.1/tcp/1003").unwrap();
    }

    #[test]
    fn ipv6_connections_are_capped_per_64() {
        let mut h = Harness::new(10, 2, 100);
        h.connect("/ip6/2001:db8:0:1::1/tcp/1").unwrap();
        h.connect("/ip6/2001:db8:0:1::2/tcp/1").unwrap();
        assert!(matches!(
            h.connect("/ip6/2001:db8:0:1:ffff::3/tcp/1"),
            Err(SourceLimitExceeded::Net64 { limit: 2, .. })
        ));
        h.connect("/ip6/2001:db8:0:2::1/tcp/1").unwrap();
    }

    #[test]
    fn handshakes_are_capped_per_ip_and_released_on_failure() {
        let mut h = Harness::new(100, 100, 2);
        let a = h.begin("/ip4/192.0.2.1/tcp/1").unwrap();
        let _b = h.begin("/ip4/192.0.2.1/tcp/2").unwrap();
        assert!(matches!(
            h.begin("/ip4/192.0.2.1/tcp/3"),
            Err(SourceLimitExceeded::PendingIp { limit: 2, .. })
        ));
        // A failed handshake releases its slot.
        let (local, remote) = (
            LOCAL.parse::<Multiaddr>().unwrap(),
            "/ip4/192.0.2.1/tcp/1".parse::<Multiaddr>().unwrap(),
        );
        h.behaviour
            .on_swarm_event(FromSwarm::ListenFailure(ListenFailure {
                local_addr: &local,
                send_back_addr: &remote,
                error: &libp2p::swarm::ListenError::Aborted,
                connection_id: a,
                peer_id: None,
            }));
        let c = h.begin("/ip4/192.0.2.1/tcp/4").unwrap();
        // So does a completed one.
        h.establish(c, "/ip4/192.0.2.1/tcp/4").unwrap();
        h.begin("/ip4/192.0.2.1/tcp/5").unwrap();
    }

    #[test]
    fn a_source_at_its_limit_is_refused_before_the_handshake() {
        let mut h = Harness::new(1, 100, 100);
        h.connect("/ip4/192.0.2.1/tcp/1").unwrap();
        assert!(matches!(
            h.begin("/ip4/192.0.2.1/tcp/2"),
            Err(SourceLimitExceeded::Ip { .. })
        ));
    }

    #[test]
    fn remembers_each_peers_source() {
        let mut h = Harness::new(10, 10, 10);
        let peer = h.connect("/ip4/192.0.2.7/tcp/1").unwrap();
        assert_eq!(
            h.behaviour.source_of(&peer),
            Some("192.0.2.7".parse().unwrap())
        );
        h.close(peer);
        assert_eq!(h.behaviour.source_of(&peer), None);
        // Addresses without an IP (memory transport) are neither limited nor remembered.
        let peer = h.connect("/memory/7").unwrap();
        assert_eq!(h.behaviour.source_of(&peer), None);
    }
}
