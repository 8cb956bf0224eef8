//! Block storage with a byte budget.
//!
//! INTERFACE SKELETON: bodies to be implemented (owner: store helper).

use crate::block::Block;
use cid::Cid;

/// Counters of a store, for stats and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// `get` calls that found the block.
    pub hits: u64,
    /// `get` calls that did not.
    pub misses: u64,
    /// Blocks evicted to make room.
    pub evictions: u64,
    /// `put` calls refused for lack of room.
    pub rejected: u64,
    /// Blocks held.
    pub blocks: u64,
    /// Bytes held (block data).
    pub used_bytes: u64,
    /// The byte budget.
    pub budget_bytes: u64,
}

/// Why a block was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Larger than the whole budget.
    #[error("block {cid} of {size} bytes exceeds the store budget of {budget} bytes")]
    LargerThanBudget {
        /// The block.
        cid: Cid,
        /// Its size.
        size: u64,
        /// The budget.
        budget: u64,
    },
    /// Everything that could be evicted is pinned.
    #[error("no room for {cid} ({size} bytes): {pinned_bytes} of {budget} budget bytes are pinned")]
    Full {
        /// The block.
        cid: Cid,
        /// Its size.
        size: u64,
        /// Bytes pinned.
        pinned_bytes: u64,
        /// The budget.
        budget: u64,
    },
}

/// A store of verified blocks. Implementations never hold more than their budget.
pub trait BlockStore {
    /// The block, counting a hit or miss and marking it recently used.
    fn get(&mut self, cid: &Cid) -> Option<Block>;
    /// Whether the block is held, without counting or touching.
    fn contains(&self, cid: &Cid) -> bool;
    /// Stores a block, evicting least recently used unpinned blocks if needed.
    fn put(&mut self, block: Block) -> Result<(), StoreError>;
    /// Removes a block regardless of pins.
    fn remove(&mut self, cid: &Cid) -> Option<Block>;
    /// Protects `cid` from eviction; pins count, so each `pin` needs an `unpin`. Pinning a CID
    /// not (yet) held is allowed and protects it once stored.
    fn pin(&mut self, cid: &Cid);
    /// Drops one pin.
    fn unpin(&mut self, cid: &Cid);
    /// Counters.
    fn stats(&self) -> StoreStats;
}

/// An in-memory LRU store.
#[derive(Debug)]
pub struct MemoryStore {}

impl MemoryStore {
    /// An empty store that holds at most `budget_bytes` of block data.
    pub fn new(_budget_bytes: u64) -> Self {
        todo!()
    }
}

impl BlockStore for MemoryStore {
    fn get(&mut self, _cid: &Cid) -> Option<Block> {
        todo!()
    }
    fn contains(&self, _cid: &Cid) -> bool {
        todo!()
    }
    fn put(&mut self, _block: Block) -> Result<(), StoreError> {
        todo!()
    }
    fn remove(&mut self, _cid: &Cid) -> Option<Block> {
        todo!()
    }
    fn pin(&mut self, _cid: &Cid) {
        todo!()
    }
    fn unpin(&mut self, _cid: &Cid) {
        todo!()
    }
    fn stats(&self) -> StoreStats {
        todo!()
    }
}
