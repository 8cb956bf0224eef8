//! Have-summaries and the other notices of the block exchange.
//!
//! When a mesh peer connects, this node tells it which asset roots it holds and serves (at
//! most [`EngineConfig::summary_roots`](crate::EngineConfig::summary_roots)), so the peer's
//! planner asks this node for those assets directly: one request, no want-have round trip, no
//! DHT lookup. Roots fetched since are announced to every connected mesh peer as they come;
//! a root found evicted from the store (a peer asked for it and it was gone) is withdrawn from
//! the peers and the DHT. The planner's cancels of want-blocks that another source answered
//! first travel as notices too.

use cid::Cid;
use libp2p::PeerId;
use mesh_core::store::BlockStore;
use mesh_core::time::Instant as CoreInstant;
use mesh_core::wire::RequestId;
use mesh_protocol::Extra;
use mesh_protocol::blocks::{BlockRequest, MAX_NOTICE_CIDS};

use crate::Engine;

/// Cancelled blocks remembered at most (`Engine::cancelled`).
const MAX_CANCELLED: usize = 4096;

impl<X: Extra> Engine<X> {
    /// Sends `peer` the have-summary: the provided roots the store still holds.
    pub(crate) fn send_summary(&mut self, peer: PeerId) {
        let store = self.planner.store();
        let roots: Vec<Cid> = self
            .provided
            .iter()
            .filter(|root| store.contains(root))
            .take(self.config.summary_roots)
            .copied()
            .collect();
        for chunk in roots.chunks(MAX_NOTICE_CIDS) {
            self.send_notice(
                peer,
                BlockRequest::Announce {
                    id: RequestId(0),
                    roots: chunk.to_vec(),
                },
            );
        }
    }

    /// Announces a newly provided root to every connected mesh peer but those known to hold
    /// it (it came from them, or they announced it): a notice costs a stream.
    pub(crate) fn announce_to_peers(&mut self, root: Cid) {
        if self.config.summary_roots == 0 {
            return;
        }
        let peers: Vec<PeerId> = self
            .mesh_peers
            .iter()
            .filter(|peer| !self.planner.peer_holds(peer, &root))
            .copied()
            .collect();
        for peer in peers {
            self.send_notice(
                peer,
                BlockRequest::Announce {
                    id: RequestId(0),
                    roots: vec![root],
                },
            );
        }
    }

    /// Stops providing those of `roots` it provides: in the DHT and in the connected mesh peers'
    /// view. Others are not named to anyone (a node that does not serve announced nothing).
    pub(crate) fn withdraw(&mut self, roots: &[Cid]) {
        let roots: Vec<Cid> = roots
            .iter()
            .copied()
            .filter(|root| self.provided.remove(root))
            .collect();
        if roots.is_empty() {
            return;
        }
        for root in &roots {
            self.swarm.behaviour_mut().routing.stop_providing(root);
        }
        let peers: Vec<PeerId> = self.mesh_peers.iter().copied().collect();
        for peer in peers {
            for chunk in roots.chunks(MAX_NOTICE_CIDS) {
                self.send_notice(
                    peer,
                    BlockRequest::Withdraw {
                        id: RequestId(0),
                        roots: chunk.to_vec(),
                    },
                );
            }
        }
    }

    /// Tells `peer` that these blocks are no longer wanted.
    pub(crate) fn send_cancel(&mut self, peer: PeerId, cids: &[Cid]) {
        if !self.mesh_peers.contains(&peer) {
            return;
        }
        self.sent += 1;
        if self.cancelled.len() >= MAX_CANCELLED {
            self.cancelled.clear(); // bounded; at worst one don't-have counts again
        }
        for cid in cids {
            self.cancelled.insert((peer, *cid), self.sent);
        }
        for chunk in cids.chunks(MAX_NOTICE_CIDS) {
            self.send_notice(
                peer,
                BlockRequest::Cancel {
                    id: RequestId(0),
                    cids: chunk.to_vec(),
                },
            );
        }
    }

    /// Acts on a notice received from `peer` (its acknowledgement is the server's answer).
    pub(crate) fn on_notice(&mut self, now: CoreInstant, peer: PeerId, request: &BlockRequest) {
        match request {
            BlockRequest::Announce { roots, .. } => {
                self.planner.handle_announced(now, peer, roots);
            }
            BlockRequest::Withdraw { roots, .. } => {
                self.planner.handle_withdrawn(now, peer, roots);
            }
            BlockRequest::Cancel { cids, .. } => self.cancel_kept(peer, cids),
            BlockRequest::WantHave { .. } | BlockRequest::WantBlock { .. } => {}
        }
    }

    /// Sends a notice. Notices get no answer, and are not remembered as outbound requests: a
    /// failure to send one is dropped.
    fn send_notice(&mut self, peer: PeerId, request: BlockRequest) {
        self.swarm
            .behaviour_mut()
            .blocks
            .send_request(&peer, request);
    }
}
