//! The addresses a node publishes: what it prints on start and serves on `/addrs`.
//!
//! Operator-given external addresses win: they are the operator's statement of what is reachable
//! from outside. Without them the node publishes its listen addresses. Every published address
//! ends in `/p2p/<peer id>`, and `/webrtc-direct` ones carry the `/certhash` a browser needs.

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol, multihash::Multihash};

/// Most addresses published, so a host with many interfaces cannot make /addrs unbounded.
pub const MAX_PUBLISHED_ADDRS: usize = 64;

/// Why an external address was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The address names another peer.
    #[error("external address {addr} names peer {named}, but this node is {local}")]
    OtherPeer {
        /// The address.
        addr: Multiaddr,
        /// The peer it names.
        named: PeerId,
        /// This node.
        local: PeerId,
    },
}

/// Appends `/certhash/<hash>` to a `/webrtc-direct` address that lacks it, and strips a trailing
/// `/p2p/<local>`; the result is what the swarm wants as an external address.
pub(crate) fn normalise_external(
    addr: &Multiaddr,
    local: PeerId,
    certhash: &Multihash<64>,
) -> Result<Multiaddr, AddressError> {
    let mut addr = addr.clone();
    if let Some(Protocol::P2p(named)) = addr.iter().last() {
        if named != local {
            return Err(AddressError::OtherPeer { addr, named, local });
        }
        addr.pop();
    }
    let is_webrtc = addr.iter().any(|p| p == Protocol::WebRTCDirect);
    let has_certhash = addr.iter().any(|p| matches!(p, Protocol::Certhash(_)));
    if is_webrtc && !has_certhash {
        addr.push(Protocol::Certhash(*certhash));
    }
    Ok(addr)
}

/// `addr` ending in `/p2p/<peer>`.
pub(crate) fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr.clone(),
        _ => addr.clone().with(Protocol::P2p(peer)),
    }
}

/// The listen and external addresses of a node, kept in the order they appeared.
#[derive(Debug, Clone)]
pub(crate) struct AddressBook {
    local: PeerId,
    listen: Vec<Multiaddr>,
    external: Vec<Multiaddr>,
}

impl AddressBook {
    /// An empty book for `local`.
    pub(crate) fn new(local: PeerId) -> Self {
        Self {
            local,
            listen: Vec::new(),
            external: Vec::new(),
        }
    }

    /// A listener reported a new address.
    pub(crate) fn add_listen(&mut self, addr: Multiaddr) {
        push_unique(&mut self.listen, addr);
    }

    /// A listen address went away.
    pub(crate) fn remove_listen(&mut self, addr: &Multiaddr) {
        self.listen.retain(|a| a != addr);
    }

    /// An external address was added.
    pub(crate) fn add_external(&mut self, addr: Multiaddr) {
        push_unique(&mut self.external, addr);
    }

    /// The addresses to publish, each ending in `/p2p/<local>`.
    pub(crate) fn published(&self) -> Vec<Multiaddr> {
        let source = if self.external.is_empty() {
            &self.listen
        } else {
            &self.external
        };
        source
            .iter()
            .take(MAX_PUBLISHED_ADDRS)
            .map(|a| with_peer(a, self.local))
            .collect()
    }
}

fn push_unique(list: &mut Vec<Multiaddr>, addr: Multiaddr) {
    if !list.contains(&addr) && list.len() < MAX_PUBLISHED_ADDRS {
        list.push(addr);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hash() -> Multihash<64> {
        Multihash::wrap(0x12, &[7; 32]).unwrap()
    }

    #[test]
    fn webrtc_externals_get_the_certhash() {
        let local = PeerId::random();
        let addr: Multiaddr = "/ip4/203.0.113.5/udp/4001/webrtc-direct".parse().unwrap();
        let out = normalise_external(&addr, local, &hash()).unwrap();
        assert_eq!(out, addr.clone().with(Protocol::Certhash(hash())));
        // Idempotent, and a trailing /p2p of our own is dropped.
        let again = normalise_external(&with_peer(&out, local), local, &hash()).unwrap();
        assert_eq!(again, out);
        let tcp: Multiaddr = "/ip4/203.0.113.5/tcp/4001".parse().unwrap();
        assert_eq!(normalise_external(&tcp, local, &hash()).unwrap(), tcp);
        let other = with_peer(&tcp, PeerId::random());
        assert!(normalise_external(&other, local, &hash()).is_err());
    }

    #[test]
    fn externals_win_over_listen_addresses() {
        let local = PeerId::random();
        let mut book = AddressBook::new(local);
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        book.add_listen(listen.clone());
        book.add_listen(listen.clone());
        assert_eq!(book.published(), vec![with_peer(&listen, local)]);
        let external: Multiaddr = "/dns4/boot.example/tcp/443/wss".parse().unwrap();
        book.add_external(external.clone());
        assert_eq!(book.published(), vec![with_peer(&external, local)]);
        book.remove_listen(&listen);
        assert_eq!(book.published().len(), 1);
    }
}
