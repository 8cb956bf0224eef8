//! What the node's cache holds, by asset: the blocks of every asset it announced, so that a
//! block leaving the store withdraws each asset it belonged to, and a shell can persist
//! complete assets and bring them back on the next visit.
//!
//! A provider record must name only assets this node can serve whole: a peer sent here for a
//! root whose leaves were evicted would wait for blocks that never come. So the engine keeps
//! an index from each block to the announced roots that use it, and when the store reports
//! a block gone, every such root stops being provided (`stop_providing`: the node stops
//! republishing it; records already held by DHT servers expire with their TTL, and a peer
//! asking meanwhile gets "don't have" and moves on).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use cid::Cid;
use mesh_core::block::VerifyError;
use mesh_core::layout::AssetLayout;
use mesh_core::store::{BlockStore, MemoryStore, StoreError};
use mesh_core::time::Instant as CoreInstant;
use mesh_core::{Block, Sha256Digest};
use mesh_protocol::Extra;

use crate::announce::When;
use crate::{Engine, Output};

/// Announced roots and the blocks of each, both ways round.
#[derive(Debug, Default)]
pub(crate) struct CacheIndex {
    blocks_of: BTreeMap<Cid, Vec<Cid>>,
    roots_of: BTreeMap<Cid, BTreeSet<Cid>>,
}

impl CacheIndex {
    fn insert(&mut self, root: Cid, blocks: &[Cid]) {
        for cid in blocks {
            self.roots_of.entry(*cid).or_default().insert(root);
        }
        self.blocks_of.insert(root, blocks.to_vec());
    }

    /// The roots indexed.
    pub(crate) fn roots(&self) -> impl Iterator<Item = &Cid> {
        self.blocks_of.keys()
    }

    /// Forgets every root that used `block`; returns them.
    fn remove_block(&mut self, block: &Cid) -> Vec<Cid> {
        let roots: Vec<Cid> = self
            .roots_of
            .remove(block)
            .map(|r| r.into_iter().collect())
            .unwrap_or_default();
        for root in &roots {
            for cid in self.blocks_of.remove(root).unwrap_or_default() {
                if let Some(set) = self.roots_of.get_mut(&cid) {
                    set.remove(root);
                    if set.is_empty() {
                        self.roots_of.remove(&cid);
                    }
                }
            }
        }
        roots
    }
}

/// Every block of the asset rooted at `root`, root first, each once; `None` unless the store
/// holds the whole DAG and it is one mesh-core would build (checked as a fetch checks it).
fn dag_blocks(store: &MemoryStore, root: Cid) -> Option<Vec<Cid>> {
    let mut layout = AssetLayout::new(root, u64::MAX).ok()?;
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    // Each round inserts every block known but missing, so each round goes one level deeper;
    // the layout refuses DAGs deeper than its MAX_DEPTH, which bounds the rounds.
    while !layout.is_complete() {
        for cid in layout.missing() {
            let block = store.peek(&cid)?;
            layout.insert(block).ok()?;
            if seen.insert(cid) {
                order.push(cid);
            }
        }
    }
    Some(order)
}

/// A block of a persisted cache, handed back with [`Engine::restore`].
#[derive(Debug, Clone)]
pub struct PersistedBlock {
    /// The CID it was stored under.
    pub cid: Cid,
    /// Its bytes as read back (they may have changed on disk).
    pub data: Bytes,
    /// Its SHA-256, if the shell computed it (as for [`Output::Digest`]): the block is then
    /// verified by comparing it with the CID instead of hashing here.
    pub digest: Option<Sha256Digest>,
}

impl PersistedBlock {
    /// A block for the engine to hash.
    pub fn new(cid: Cid, data: Bytes) -> Self {
        Self {
            cid,
            data,
            digest: None,
        }
    }

    /// The same block with the SHA-256 of `data` the shell computed.
    pub fn with_digest(self, digest: Sha256Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self
        }
    }
}

/// What [`Engine::restore`] made of a persisted cache.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Restored {
    /// Blocks verified and stored.
    pub blocks: usize,
    /// Blocks whose bytes no longer match their CID: not stored, never served.
    pub corrupt: Vec<(Cid, VerifyError)>,
    /// Blocks the store refused (larger than its whole budget).
    pub refused: Vec<(Cid, StoreError)>,
    /// Roots whose whole DAG is in the store: provided again.
    pub provided: Vec<Cid>,
    /// Roots whose DAG is not whole (a block was corrupt, refused or evicted for the budget):
    /// not provided; their blocks that remain are still cached.
    pub incomplete: Vec<Cid>,
}

impl<X: Extra> Engine<X> {
    /// Takes back a cache persisted by an earlier run: `blocks` oldest first (the store's
    /// budget keeps the newest), `roots` the assets that were complete. Every block is
    /// verified against its CID first (by the shell's digest where it brings one); a block
    /// that fails is dropped, never stored or served. Roots whose whole DAG is then held are
    /// provided again (announced in the node's idle time, see `announce.rs`, and again when
    /// a bootstrap node connects). Blocks the budget had no room for come back as
    /// [`Output::Uncached`], so the shell can delete them from its copy. A restore may come
    /// in slices: `roots` with the last.
    pub fn restore(
        &mut self,
        now: CoreInstant,
        blocks: Vec<PersistedBlock>,
        roots: Vec<Cid>,
    ) -> Restored {
        self.tick(now);
        let mut restored = Restored::default();
        for PersistedBlock { cid, data, digest } in blocks {
            let verified = match digest {
                Some(digest) => {
                    self.stats.shell_digests += 1;
                    Block::verify_digested(cid, data, &digest)
                }
                None => Block::verify(cid, data),
            };
            let block = match verified {
                Ok(block) => block,
                Err(e) => {
                    tracing::warn!(%cid, error = %e, "persisted block fails verification: dropped");
                    restored.corrupt.push((cid, e));
                    continue;
                }
            };
            match self.planner.store_mut().put(block) {
                Ok(()) => restored.blocks += 1,
                Err(e) => restored.refused.push((cid, e)),
            }
        }
        self.collect_dropped();
        for root in roots {
            match dag_blocks(self.planner.store(), root) {
                Some(blocks) => {
                    self.cache.insert(root, &blocks);
                    self.provide(root, When::Idle);
                    restored.provided.push(root);
                }
                None => restored.incomplete.push(root),
            }
        }
        self.site_update();
        restored
    }

    /// An asset the planner completed and stored: index its blocks, announce it, and hand
    /// the blocks to the shell to persist.
    pub(crate) fn cached(&mut self, root: Cid) {
        self.provide(root, When::Promptly);
        let store = self.planner.store();
        let Some(cids) = dag_blocks(store, root) else {
            // The planner announces only assets it stored whole; a gap here is a bug.
            tracing::warn!(%root, "announced asset not whole in the store");
            return;
        };
        let blocks = cids
            .iter()
            .filter_map(|cid| store.peek(cid).cloned())
            .collect();
        self.cache.insert(root, &cids);
        self.site_update();
        self.outputs.push_back(Output::Cached { root, blocks });
    }

    /// Provides `root`: connected peers know at once, the DHT when the announcement queue
    /// reaches it (`announce.rs`). False on a node that does not serve, which tells no one
    /// what it holds.
    pub(crate) fn provide(&mut self, root: Cid, when: When) -> bool {
        if !self.config.serve {
            return false;
        }
        if self.provided.insert(root) {
            self.announce_to_peers(root);
        }
        self.announce(root, when);
        true
    }

    /// Reads the store's log of blocks that left it: every root that used one is no longer
    /// provided, and the shell learns both as [`Output::Uncached`].
    pub(crate) fn collect_dropped(&mut self) {
        let store = self.planner.store_mut();
        let mut blocks = store.take_dropped();
        blocks.retain(|cid| !store.contains(cid));
        if blocks.is_empty() {
            return;
        }
        // The cached assets that used a dropped block, and roots provided without being cached
        // (added with `Engine::add`) that were dropped themselves.
        let mut roots: Vec<Cid> = blocks
            .iter()
            .flat_map(|cid| self.cache.remove_block(cid))
            .collect();
        roots.extend(blocks.iter().filter(|cid| self.provided.contains(cid)));
        roots.sort_unstable();
        roots.dedup();
        tracing::debug!(?roots, "assets left the cache: no longer provided");
        self.withdraw(&roots);
        self.site_update();
        self.outputs.push_back(Output::Uncached { blocks, roots });
    }
}
