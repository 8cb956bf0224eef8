//! Addresses of providers named by routing servers, kept for the dial that follows.
//!
//! A delegated lookup answers with peers and their addresses; the engine then dials the peer
//! by id alone, and the swarm asks every behaviour for addresses. Kademlia kept them in its
//! query; here they live in a bounded book, oldest entry out first.

use std::collections::{HashMap, VecDeque};

use libp2p::{Multiaddr, PeerId};

/// Peers whose addresses are kept: a page dials a handful of providers, and a flash crowd's
/// lookups name at most [`super::wire::MAX_PROVIDERS`] each.
pub(crate) const BOOK_PEERS: usize = 512;

#[derive(Debug, Default)]
pub(crate) struct AddressBook {
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
    order: VecDeque<PeerId>,
}

impl AddressBook {
    /// Replaces what is known of `peer` (the latest answer is the freshest). Each address is
    /// kept ending in `/p2p/<peer>`: two browsers behind one relay listen on the same
    /// `/p2p-circuit/webrtc` address, and the swarm drops dial addresses equal to one of its own
    /// listen addresses. One that names another peer is dropped.
    pub(crate) fn insert(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let addrs: Vec<Multiaddr> = addrs
            .into_iter()
            .filter_map(|a| a.with_p2p(peer).ok())
            .collect();
        if addrs.is_empty() {
            return;
        }
        if self.addrs.insert(peer, addrs).is_none() {
            self.order.push_back(peer);
            if self.order.len() > BOOK_PEERS
                && let Some(oldest) = self.order.pop_front()
            {
                self.addrs.remove(&oldest);
            }
        }
    }

    pub(crate) fn get(&self, peer: &PeerId) -> &[Multiaddr] {
        self.addrs.get(peer).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn clear(&mut self) {
        self.addrs.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_end_in_their_peer_and_others_are_dropped() {
        let (peer, other) = (PeerId::random(), PeerId::random());
        let relayed: Multiaddr = "/ip4/10.0.0.1/tcp/1/p2p-circuit/webrtc"
            .parse()
            .expect("valid");
        let mut book = AddressBook::default();
        book.insert(
            peer,
            vec![
                relayed.clone(),
                relayed.clone().with_p2p(peer).expect("no peer yet"),
                relayed.clone().with_p2p(other).expect("no peer yet"),
            ],
        );
        let with_peer = relayed.with_p2p(peer).expect("no peer yet");
        assert_eq!(book.get(&peer), [with_peer.clone(), with_peer]);
    }

    #[test]
    fn bounded_oldest_out_first_and_updates_in_place() {
        let peers: Vec<PeerId> = (0..=BOOK_PEERS).map(|_| PeerId::random()).collect();
        let at = |i: usize, host: u8| -> Multiaddr {
            format!("/ip4/10.0.0.{host}/tcp/1/p2p/{}", peers[i])
                .parse()
                .expect("valid")
        };
        let mut book = AddressBook::default();
        book.insert(peers[0], Vec::new());
        assert!(book.get(&peers[0]).is_empty(), "no addresses, no entry");
        for (i, peer) in peers[..BOOK_PEERS].iter().enumerate() {
            book.insert(*peer, vec![at(i, 1)]);
        }
        book.insert(peers[0], vec![at(0, 2)]);
        assert_eq!(book.get(&peers[0]), [at(0, 2)]);
        book.insert(peers[BOOK_PEERS], vec![at(BOOK_PEERS, 1)]);
        assert!(book.get(&peers[0]).is_empty(), "the oldest went");
        assert_eq!(book.get(&peers[1]), [at(1, 1)]);
        assert_eq!(book.get(&peers[BOOK_PEERS]), [at(BOOK_PEERS, 1)]);
        book.clear();
        assert!(book.get(&peers[1]).is_empty());
    }
}
