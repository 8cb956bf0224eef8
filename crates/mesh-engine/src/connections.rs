//! The node's open connections and how each reaches its peer.
//!
//! One record for everything that asks "is this connection relayed?" or "do we reach this peer
//! directly?": whether blocks may go over a connection, when a relayed connection has served
//! its purpose (the direct one it signaled is up), how many warm peers are open, and which
//! direct connections are still to identify.

use std::collections::HashMap;

use mesh_core::small::SmallMap;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use mesh_core::time::Instant as CoreInstant;

/// How long a direct connection may go without identifying before it is closed. A peer
/// becomes a block peer when its direct connection identifies, which takes well under a
/// second; one that never does (seen between Firefox and Chromium tabs: one side's identify
/// request went unanswered) would hold the peer unusable for good, and libp2p-identify gives
/// up on its request only after 60 s. Closed, the connection is dialled again when needed.
pub(crate) const IDENTIFY_DEADLINE: Duration = Duration::from_secs(10);

/// How a connection reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// Through a relay circuit: in browsers, for `/webrtc` signaling only.
    Relayed,
    /// Tab to tab over `/webrtc` (signaled through a relay, then direct).
    Direct,
    /// Anything else (TCP, WebSocket, WebRTC-direct to bootstrap and native nodes).
    Other,
}

impl ConnectionKind {
    /// The kind of a connection to (or a listener on) `addr`.
    pub fn of(addr: &Multiaddr) -> Self {
        let mut circuit = false;
        for p in addr.iter() {
            match p {
                // Signaled through a circuit, but the connection itself is direct.
                Protocol::WebRTC => return Self::Direct,
                Protocol::P2pCircuit => circuit = true,
                _ => {}
            }
        }
        if circuit { Self::Relayed } else { Self::Other }
    }
}

/// Open connections per peer.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    by_peer: HashMap<PeerId, Vec<(ConnectionId, ConnectionKind)>>,
    /// Direct connections not identified yet, and when they are given up.
    unidentified: SmallMap<ConnectionId, CoreInstant>,
}

impl Connections {
    /// Records a new connection. Returns the peer's relayed connections to close: once a
    /// peer is reachable without the relay, circuits (limited to signaling sizes) must not
    /// carry its block requests (the block-exchange session prefers the direct connection, but
    /// requests already sent over a circuit would finish there).
    pub(crate) fn opened(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        kind: ConnectionKind,
    ) -> Vec<ConnectionId> {
        let conns = self.by_peer.entry(peer).or_default();
        conns.push((id, kind));
        if !conns.iter().any(|(_, k)| *k != ConnectionKind::Relayed) {
            return Vec::new();
        }
        conns
            .iter()
            .filter(|(_, k)| *k == ConnectionKind::Relayed)
            .map(|(id, _)| *id)
            .collect()
    }

    /// A direct connection is up and has until `deadline` to identify.
    pub(crate) fn awaiting_identify(&mut self, id: ConnectionId, deadline: CoreInstant) {
        self.unidentified.insert(id, deadline);
    }

    /// The connection identified.
    pub(crate) fn identified(&mut self, id: ConnectionId) {
        self.unidentified.remove(&id);
    }

    /// The earliest deadline of a connection still to identify.
    pub(crate) fn identify_deadline(&self) -> Option<CoreInstant> {
        self.unidentified.values().min().copied()
    }

    /// The connections whose deadline passed by `now`, forgotten here: to close.
    pub(crate) fn take_unidentified(&mut self, now: CoreInstant) -> Vec<ConnectionId> {
        let late: Vec<ConnectionId> = self
            .unidentified
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &late {
            self.unidentified.remove(id);
        }
        late
    }

    /// Forgets a closed connection.
    pub(crate) fn closed(&mut self, peer: &PeerId, id: ConnectionId) {
        self.unidentified.remove(&id);
        if let Some(conns) = self.by_peer.get_mut(peer) {
            conns.retain(|(c, _)| *c != id);
            if conns.is_empty() {
                self.by_peer.remove(peer);
            }
        }
    }

    /// The kind of an open connection.
    pub(crate) fn kind(&self, peer: &PeerId, id: ConnectionId) -> Option<ConnectionKind> {
        self.by_peer
            .get(peer)?
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, k)| *k)
    }

    /// Whether `peer` has a connection that does not go through a relay.
    pub(crate) fn has_unrelayed(&self, peer: &PeerId) -> bool {
        self.by_peer
            .get(peer)
            .is_some_and(|c| c.iter().any(|(_, k)| *k != ConnectionKind::Relayed))
    }

    /// Peers reachable without a relay, for which `keep` holds.
    pub(crate) fn unrelayed_peers(&self, keep: impl Fn(&PeerId) -> bool) -> usize {
        self.by_peer
            .keys()
            .filter(|p| keep(p) && self.has_unrelayed(p))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_connection_that_does_not_identify_in_time_is_given_up() {
        let mut c = Connections::default();
        let t0 = CoreInstant::ZERO;
        let deadline = t0 + IDENTIFY_DEADLINE;
        let (slow, quick, gone) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
            ConnectionId::new_unchecked(3),
        );
        let peer = PeerId::random();
        for id in [slow, quick, gone] {
            c.opened(peer, id, ConnectionKind::Direct);
            c.awaiting_identify(id, deadline);
        }
        c.identified(quick);
        c.closed(&peer, gone);
        assert_eq!(c.identify_deadline(), Some(deadline));
        let just_before = t0 + (IDENTIFY_DEADLINE - Duration::from_millis(1));
        assert!(c.take_unidentified(just_before).is_empty());
        assert_eq!(c.take_unidentified(deadline), vec![slow]);
        assert_eq!(c.identify_deadline(), None);
        assert!(c.take_unidentified(deadline + IDENTIFY_DEADLINE).is_empty());
    }

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("test address")
    }

    #[test]
    fn kinds() {
        let relay =
            "/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
        assert_eq!(
            ConnectionKind::of(&addr(&format!("{relay}/p2p-circuit"))),
            ConnectionKind::Relayed
        );
        assert_eq!(
            ConnectionKind::of(&addr(&format!("{relay}/p2p-circuit/webrtc"))),
            ConnectionKind::Direct
        );
        assert_eq!(
            ConnectionKind::of(&addr("/ip4/127.0.0.1/tcp/1")),
            ConnectionKind::Other
        );
    }

    #[test]
    fn a_direct_connection_retires_the_relayed_ones() {
        let peer = PeerId::random();
        let mut c = Connections::default();
        let relayed = ConnectionId::new_unchecked(1);
        assert!(c.opened(peer, relayed, ConnectionKind::Relayed).is_empty());
        assert!(!c.has_unrelayed(&peer));
        let direct = ConnectionId::new_unchecked(2);
        assert_eq!(
            c.opened(peer, direct, ConnectionKind::Direct),
            vec![relayed]
        );
        assert!(c.has_unrelayed(&peer));
        assert_eq!(c.unrelayed_peers(|_| true), 1);
        assert_eq!(c.unrelayed_peers(|p| *p != peer), 0);
        c.closed(&peer, direct);
        assert!(!c.has_unrelayed(&peer));
        c.closed(&peer, relayed);
        assert_eq!(c.kind(&peer, relayed), None);
    }
}
