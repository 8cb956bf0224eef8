//! Received blocks hashed by the shell: a browser's WebCrypto hashes about 7× faster than sha2
//! compiled to wasm (docs/BENCHMARKS-WEBRTC.md, "SHA-256 by WebCrypto"), but only
//! asynchronously. With [`EngineConfig::shell_digest_min_bytes`](crate::EngineConfig) set, a
//! block a peer sends waits here while the shell hashes it ([`Output::Digest`]), and goes to
//! the planner with its digest once [`Engine::handle_digest`] brings it back.
//!
//! What the wait changes: the planner sees the block when its digest is ready, later than the
//! swarm event by the time the shell took. Events that came meanwhile (the peer's other
//! blocks, a disconnect, the same block from the origin) reach the planner first, as if the
//! block had arrived after them, an order the network could have produced as well.

use std::collections::VecDeque;

use bytes::Bytes;
use cid::Cid;
use libp2p::PeerId;
use mesh_core::Sha256Digest;
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::Extra;

use crate::{Engine, Output};

/// Names one [`Output::Digest`] for [`Engine::handle_digest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigestId(u64);

/// A received block waiting for the shell's digest.
#[derive(Debug)]
struct Waiting {
    id: DigestId,
    peer: PeerId,
    /// The CIDs it was asked for under (one per want-block).
    cids: Vec<Cid>,
    data: Bytes,
}

/// The blocks waiting, oldest first: shells answer in about the order asked, so the one
/// answered is found near the front.
#[derive(Debug, Default)]
pub(crate) struct Digests {
    waiting: VecDeque<Waiting>,
    next: u64,
}

impl Digests {
    fn wait(&mut self, peer: PeerId, cids: Vec<Cid>, data: Bytes) -> DigestId {
        let id = DigestId(self.next);
        self.next += 1;
        self.waiting.push_back(Waiting {
            id,
            peer,
            cids,
            data,
        });
        id
    }

    fn take(&mut self, id: DigestId) -> Option<Waiting> {
        let at = self.waiting.iter().position(|w| w.id == id)?;
        self.waiting.remove(at)
    }

    /// Blocks waiting for their digest.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

impl<X: Extra> Engine<X> {
    /// Hands a block `peer` sent for `cids` to the planner, or to the shell to hash first when
    /// it is large enough for that to pay.
    pub(crate) fn received_block(
        &mut self,
        now: CoreInstant,
        peer: PeerId,
        cids: Vec<Cid>,
        data: Bytes,
    ) {
        if self
            .config
            .shell_digest_min_bytes
            .is_some_and(|min| data.len() >= min)
        {
            let id = self.digests.wait(peer, cids, data.clone());
            self.outputs.push_back(Output::Digest { id, data });
            return;
        }
        for cid in cids {
            self.planner.handle_block(now, peer, cid, data.clone());
        }
    }

    /// The shell's SHA-256 of the bytes of [`Output::Digest`] `id`, computed from exactly
    /// those bytes with a correct SHA-256 (a shell that cannot use its own hashes them with
    /// [`Sha256Digest::of`]). The block is then verified against the digest, and used or
    /// refused as any other. An unknown `id` (answered twice) is ignored.
    pub fn handle_digest(&mut self, now: CoreInstant, id: DigestId, digest: Sha256Digest) {
        self.tick(now);
        let Some(block) = self.digests.take(id) else {
            return;
        };
        self.stats.shell_digests += 1;
        for cid in block.cids {
            self.planner
                .handle_digested_block(now, block.peer, cid, block.data.clone(), digest);
        }
    }

    /// Blocks handed to the shell to hash and not answered yet.
    pub fn digests_waiting(&self) -> usize {
        self.digests.len()
    }
}
