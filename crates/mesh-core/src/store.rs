//! Block storage with a byte budget.
//!
//! A browser tab has little memory to spare, so a node keeps at most a fixed number of bytes of
//! verified blocks and forgets the least recently used ones first. Pins protect the blocks the
//! node is using right now (an asset being assembled, a block being served): they are never
//! evicted, and a `put` that could only fit by evicting them is refused instead.
//!
//! [`MemoryStore`] keeps its maps ordered (`BTreeMap`) rather than hashed: every operation stays
//! O(log n), iteration order is the same on every run and platform (the simulator replays runs
//! bit for bit), and no hasher seed or RNG is needed, which a sans-IO wasm crate cannot rely on.

use std::collections::BTreeMap;

use crate::block::Block;
use cid::Cid;

#[cfg(test)]
mod tests;

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

/// Why a block was not stored (or a budget not changed).
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
    /// [`MemoryStore::set_budget`] asked for less than the pinned blocks already hold.
    #[error("cannot shrink the budget to {budget} bytes: {pinned_bytes} bytes are pinned")]
    BudgetBelowPinned {
        /// The budget asked for.
        budget: u64,
        /// Bytes pinned.
        pinned_bytes: u64,
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

/// A held block and when it was last used.
#[derive(Debug)]
struct Held {
    block: Block,
    /// Recency tick of the last `put` or `get`; unique across the store.
    last_used: u64,
}

impl Held {
    fn size(&self) -> u64 {
        self.block.len() as u64
    }
}

/// An in-memory LRU store.
///
/// Invariants (checked by the tests after every operation):
/// * `used_bytes` is the sum of held block sizes and never exceeds `budget_bytes`;
/// * `evictable` holds exactly the held, unpinned blocks, keyed by their `last_used` tick;
/// * `pinned_bytes` is the sum of held, pinned block sizes.
///
/// Pins live in their own map because a CID may be pinned before its block arrives. Pins are
/// set by this node's own logic (never by a peer) and each entry is dropped when its count
/// returns to zero, so that map is as large as the set of things the node is working on.
#[derive(Debug)]
pub struct MemoryStore {
    /// Held blocks.
    blocks: BTreeMap<Cid, Held>,
    /// Held, unpinned blocks by last-use tick, oldest first: the eviction queue.
    evictable: BTreeMap<u64, Cid>,
    /// Pin counts (always > 0), including CIDs not held.
    pins: BTreeMap<Cid, u64>,
    /// Last recency tick handed out. A `u64` bumped once per operation cannot wrap in practice.
    clock: u64,
    used_bytes: u64,
    pinned_bytes: u64,
    budget_bytes: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
    rejected: u64,
    /// Blocks that left the store since the last [`MemoryStore::take_dropped`], oldest first;
    /// `None` unless [`MemoryStore::enable_drop_log`] turned the log on.
    dropped: Option<Vec<Cid>>,
}

impl MemoryStore {
    /// An empty store that holds at most `budget_bytes` of block data.
    pub fn new(budget_bytes: u64) -> Self {
        Self {
            blocks: BTreeMap::new(),
            evictable: BTreeMap::new(),
            pins: BTreeMap::new(),
            clock: 0,
            used_bytes: 0,
            pinned_bytes: 0,
            budget_bytes,
            hits: 0,
            misses: 0,
            evictions: 0,
            rejected: 0,
            dropped: None,
        }
    }

    /// Logs every block that leaves the store (evicted by `put` or `set_budget`, or
    /// `remove`d), for [`MemoryStore::take_dropped`]: a node that announces or persists what
    /// it holds must learn what it no longer holds, however it went. Off by default, because
    /// a store nobody drains (the simulator's) would grow the log without bound.
    pub fn enable_drop_log(&mut self) {
        self.dropped.get_or_insert_with(Vec::new);
    }

    /// The blocks that left the store since the last call, oldest first (empty without
    /// [`MemoryStore::enable_drop_log`]). A CID may have been stored again since it left:
    /// check [`BlockStore::contains`] before acting on it.
    pub fn take_dropped(&mut self) -> Vec<Cid> {
        self.dropped
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The block, if held, without counting a hit or touching its recency: for reading what
    /// the store holds (to persist it) rather than using it.
    pub fn peek(&self, cid: &Cid) -> Option<&Block> {
        self.blocks.get(cid).map(|held| &held.block)
    }

    fn log_dropped(&mut self, cid: Cid) {
        if let Some(log) = &mut self.dropped {
            log.push(cid);
        }
    }

    /// Like [`BlockStore::put`], but says which blocks were evicted to make room, oldest first,
    /// so a node can stop advertising them to peers. Storing a block already held only marks
    /// it recently used and evicts nothing.
    ///
    /// Nothing is evicted unless the block then fits: the check comes first.
    pub fn put_evicting(&mut self, block: Block) -> Result<Vec<Cid>, StoreError> {
        let cid = *block.cid();
        if self.blocks.contains_key(&cid) {
            self.touch(&cid);
            return Ok(Vec::new());
        }
        let size = block.len() as u64;
        if size > self.budget_bytes {
            self.rejected += 1;
            return Err(StoreError::LargerThanBudget {
                cid,
                size,
                budget: self.budget_bytes,
            });
        }
        // Every unpinned block can go, so the block fits iff it fits beside the pinned ones.
        if size > self.budget_bytes.saturating_sub(self.pinned_bytes) {
            self.rejected += 1;
            return Err(StoreError::Full {
                cid,
                size,
                pinned_bytes: self.pinned_bytes,
                budget: self.budget_bytes,
            });
        }
        let evicted = self.evict_until(self.budget_bytes - size);
        let last_used = self.tick();
        if self.pins.contains_key(&cid) {
            self.pinned_bytes += size;
        } else {
            self.evictable.insert(last_used, cid);
        }
        self.used_bytes += size;
        self.blocks.insert(cid, Held { block, last_used });
        Ok(evicted)
    }

    /// Changes the budget, evicting least recently used unpinned blocks down to it; returns
    /// them, oldest first. Refused, changing nothing, if the pinned blocks alone exceed it.
    pub fn set_budget(&mut self, budget_bytes: u64) -> Result<Vec<Cid>, StoreError> {
        if self.pinned_bytes > budget_bytes {
            return Err(StoreError::BudgetBelowPinned {
                budget: budget_bytes,
                pinned_bytes: self.pinned_bytes,
            });
        }
        let evicted = self.evict_until(budget_bytes);
        self.budget_bytes = budget_bytes;
        Ok(evicted)
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// The byte budget.
    pub fn budget_bytes(&self) -> u64 {
        self.budget_bytes
    }

    /// Bytes of held blocks that are pinned; a `put` can use at most the budget minus these.
    pub fn pinned_bytes(&self) -> u64 {
        self.pinned_bytes
    }

    /// How many pins `cid` has, whether held or not.
    pub fn pin_count(&self, cid: &Cid) -> u64 {
        self.pins.get(cid).copied().unwrap_or(0)
    }

    /// The CIDs held, in CID order (deterministic, e.g. for a have-list sent to peers).
    pub fn iter_cids(&self) -> impl Iterator<Item = &Cid> + '_ {
        self.blocks.keys()
    }

    /// A fresh recency tick.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Marks a held block most recently used.
    fn touch(&mut self, cid: &Cid) {
        let now = self.tick();
        let pinned = self.pins.contains_key(cid);
        if let Some(held) = self.blocks.get_mut(cid) {
            if !pinned {
                self.evictable.remove(&held.last_used);
                self.evictable.insert(now, *cid);
            }
            held.last_used = now;
        }
    }

    /// Evicts least recently used unpinned blocks until at most `target` bytes are held.
    /// The loop is bounded by the number of evictable blocks: each turn removes one.
    fn evict_until(&mut self, target: u64) -> Vec<Cid> {
        let mut evicted = Vec::new();
        while self.used_bytes > target {
            let Some((_, cid)) = self.evictable.pop_first() else {
                // Callers check `pinned_bytes <= target` first, so this is unreachable.
                debug_assert!(false, "eviction target below pinned bytes");
                break;
            };
            if let Some(held) = self.blocks.remove(&cid) {
                self.used_bytes -= held.size();
                self.evictions += 1;
                self.log_dropped(cid);
                evicted.push(cid);
            }
        }
        evicted
    }
}

impl BlockStore for MemoryStore {
    fn get(&mut self, cid: &Cid) -> Option<Block> {
        if self.blocks.contains_key(cid) {
            self.hits += 1;
            self.touch(cid);
            self.blocks.get(cid).map(|held| held.block.clone())
        } else {
            self.misses += 1;
            None
        }
    }

    fn contains(&self, cid: &Cid) -> bool {
        self.blocks.contains_key(cid)
    }

    fn put(&mut self, block: Block) -> Result<(), StoreError> {
        self.put_evicting(block).map(drop)
    }

    /// Removes a block regardless of pins. Its pins stay: if it is stored again, it is
    /// protected again.
    fn remove(&mut self, cid: &Cid) -> Option<Block> {
        let held = self.blocks.remove(cid)?;
        if self.pins.contains_key(cid) {
            self.pinned_bytes -= held.size();
        } else {
            self.evictable.remove(&held.last_used);
        }
        self.used_bytes -= held.size();
        self.log_dropped(*cid);
        Some(held.block)
    }

    fn pin(&mut self, cid: &Cid) {
        let count = self.pins.entry(*cid).or_insert(0);
        *count = count.saturating_add(1);
        if *count > 1 {
            return;
        }
        if let Some(held) = self.blocks.get(cid) {
            self.evictable.remove(&held.last_used);
            self.pinned_bytes += held.size();
        }
    }

    /// Drops one pin; a no-op on a CID without pins. A block whose last pin goes takes its
    /// place in the eviction order by when it was last used, not by when it was unpinned.
    fn unpin(&mut self, cid: &Cid) {
        let Some(count) = self.pins.get_mut(cid) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        self.pins.remove(cid);
        if let Some(held) = self.blocks.get(cid) {
            self.evictable.insert(held.last_used, *cid);
            self.pinned_bytes -= held.size();
        }
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
            rejected: self.rejected,
            blocks: self.blocks.len() as u64,
            used_bytes: self.used_bytes,
            budget_bytes: self.budget_bytes,
        }
    }
}
