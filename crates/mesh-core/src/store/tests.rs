#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use cid::Cid;
use proptest::prelude::*;

use super::{BlockStore, MemoryStore, StoreError, StoreStats};
use crate::block::{Block, RAW_CODEC};

/// A block of `size` bytes whose content (and so CID) is distinct per `tag`.
fn block(tag: u8, size: usize) -> Block {
    let mut data = vec![tag; size];
    if let Some(first) = data.first_mut() {
        *first = tag.wrapping_add(1);
    }
    Block::from_data(RAW_CODEC, Bytes::from(data))
}

/// Checks every internal invariant of the store against a recomputation from scratch.
fn check_invariants(store: &MemoryStore) {
    let used: u64 = store.blocks.values().map(|h| h.size()).sum();
    assert_eq!(
        store.used_bytes, used,
        "used_bytes is the sum of held sizes"
    );
    assert!(
        store.used_bytes <= store.budget_bytes,
        "used {} over budget {}",
        store.used_bytes,
        store.budget_bytes
    );
    let pinned: u64 = store
        .blocks
        .iter()
        .filter(|(cid, _)| store.pins.contains_key(cid))
        .map(|(_, h)| h.size())
        .sum();
    assert_eq!(store.pinned_bytes, pinned, "pinned_bytes");
    assert!(
        store.pins.values().all(|&n| n > 0),
        "no zero pin counts kept"
    );
    let expected_queue: BTreeMap<u64, Cid> = store
        .blocks
        .iter()
        .filter(|(cid, _)| !store.pins.contains_key(cid))
        .map(|(cid, h)| (h.last_used, *cid))
        .collect();
    assert_eq!(store.evictable, expected_queue, "eviction queue");
    let mut ticks: Vec<u64> = store.blocks.values().map(|h| h.last_used).collect();
    ticks.sort_unstable();
    ticks.dedup();
    assert_eq!(ticks.len(), store.blocks.len(), "recency ticks are unique");
    assert!(ticks.iter().all(|&t| t <= store.clock));
    for (cid, held) in &store.blocks {
        assert_eq!(held.block.cid(), cid);
    }
}

#[test]
fn empty_store() {
    let store = MemoryStore::new(100);
    assert_eq!(
        store.stats(),
        StoreStats {
            budget_bytes: 100,
            ..StoreStats::default()
        }
    );
    assert!(store.is_empty());
    assert_eq!(store.iter_cids().count(), 0);
    check_invariants(&store);
}

#[test]
fn get_counts_hits_and_misses() {
    let mut store = MemoryStore::new(100);
    let a = block(1, 10);
    assert_eq!(store.get(a.cid()), None);
    store.put(a.clone()).unwrap();
    assert_eq!(store.get(a.cid()), Some(a.clone()));
    assert_eq!(store.get(a.cid()), Some(a));
    let stats = store.stats();
    assert_eq!((stats.hits, stats.misses), (2, 1));
    assert_eq!((stats.blocks, stats.used_bytes), (1, 10));
    check_invariants(&store);
}

#[test]
fn evicts_least_recently_used() {
    let mut store = MemoryStore::new(30);
    let (a, b, c, d) = (block(1, 10), block(2, 10), block(3, 10), block(4, 10));
    for blk in [&a, &b, &c] {
        store.put(blk.clone()).unwrap();
    }
    // `a` is now the most recently used; `b` the least.
    store.get(a.cid()).unwrap();
    assert_eq!(store.put_evicting(d.clone()).unwrap(), vec![*b.cid()]);
    assert!(store.contains(a.cid()) && store.contains(c.cid()) && store.contains(d.cid()));
    assert!(!store.contains(b.cid()));
    assert_eq!(store.stats().evictions, 1);
    check_invariants(&store);
}

#[test]
fn evicts_several_oldest_first_for_a_big_block() {
    let mut store = MemoryStore::new(30);
    let small: Vec<Block> = (0..3).map(|i| block(i, 10)).collect();
    for blk in &small {
        store.put(blk.clone()).unwrap();
    }
    let big = block(9, 25);
    let evicted = store.put_evicting(big).unwrap();
    assert_eq!(
        evicted,
        vec![*small[0].cid(), *small[1].cid(), *small[2].cid()]
    );
    assert_eq!(store.used_bytes(), 25);
    check_invariants(&store);
}

#[test]
fn contains_neither_counts_nor_touches() {
    let mut store = MemoryStore::new(20);
    let (a, b, c) = (block(1, 10), block(2, 10), block(3, 10));
    store.put(a.clone()).unwrap();
    store.put(b.clone()).unwrap();
    assert!(store.contains(a.cid()));
    store.put(c).unwrap();
    assert!(!store.contains(a.cid()), "contains must not refresh a");
    assert!(store.contains(b.cid()));
    let stats = store.stats();
    assert_eq!((stats.hits, stats.misses), (0, 0));
}

#[test]
fn put_of_held_block_only_touches() {
    let mut store = MemoryStore::new(20);
    let (a, b, c) = (block(1, 10), block(2, 10), block(3, 10));
    store.put(a.clone()).unwrap();
    store.put(b.clone()).unwrap();
    assert_eq!(store.put_evicting(a.clone()).unwrap(), Vec::<Cid>::new());
    assert_eq!(store.used_bytes(), 20);
    assert_eq!(store.len(), 2);
    store.put(c).unwrap();
    assert!(store.contains(a.cid()), "re-put refreshed a");
    assert!(!store.contains(b.cid()));
    check_invariants(&store);
}

#[test]
fn refuses_block_larger_than_budget_without_evicting() {
    let mut store = MemoryStore::new(30);
    let a = block(1, 10);
    store.put(a.clone()).unwrap();
    let big = block(2, 31);
    assert_eq!(
        store.put(big.clone()),
        Err(StoreError::LargerThanBudget {
            cid: *big.cid(),
            size: 31,
            budget: 30
        })
    );
    assert!(store.contains(a.cid()));
    let stats = store.stats();
    assert_eq!((stats.rejected, stats.evictions, stats.blocks), (1, 0, 1));
    check_invariants(&store);
}

#[test]
fn refuses_when_pinned_blocks_leave_no_room_and_evicts_nothing() {
    let mut store = MemoryStore::new(30);
    let (a, b, c) = (block(1, 10), block(2, 10), block(3, 10));
    for blk in [&a, &b, &c] {
        store.put(blk.clone()).unwrap();
    }
    store.pin(a.cid());
    store.pin(b.cid());
    assert_eq!(store.pinned_bytes(), 20);
    // Evicting c alone would free 10 bytes, not enough for 11: nothing may be evicted.
    let d = block(4, 11);
    assert_eq!(
        store.put(d.clone()),
        Err(StoreError::Full {
            cid: *d.cid(),
            size: 11,
            pinned_bytes: 20,
            budget: 30
        })
    );
    assert!(store.contains(c.cid()));
    assert_eq!(store.stats().evictions, 0);
    assert_eq!(store.stats().rejected, 1);
    // Exactly 10 bytes fit, by evicting c (a is older but pinned).
    let e = block(5, 10);
    assert_eq!(store.put_evicting(e).unwrap(), vec![*c.cid()]);
    check_invariants(&store);
}

#[test]
fn pin_before_put_protects_once_stored() {
    let mut store = MemoryStore::new(20);
    let (a, b, c) = (block(1, 10), block(2, 10), block(3, 10));
    store.pin(a.cid());
    assert_eq!(store.pin_count(a.cid()), 1);
    assert_eq!(store.pinned_bytes(), 0, "absent blocks pin no bytes");
    store.put(a.clone()).unwrap();
    assert_eq!(store.pinned_bytes(), 10);
    store.put(b.clone()).unwrap();
    store.put(c).unwrap();
    assert!(store.contains(a.cid()), "pinned a survived although oldest");
    assert!(!store.contains(b.cid()));
    check_invariants(&store);
}

#[test]
fn pins_are_counted() {
    let mut store = MemoryStore::new(10);
    let (a, b) = (block(1, 10), block(2, 10));
    store.put(a.clone()).unwrap();
    store.pin(a.cid());
    store.pin(a.cid());
    store.unpin(a.cid());
    assert_eq!(store.pin_count(a.cid()), 1);
    assert!(matches!(store.put(b.clone()), Err(StoreError::Full { .. })));
    store.unpin(a.cid());
    assert_eq!(store.pin_count(a.cid()), 0);
    store.put(b.clone()).unwrap();
    assert!(!store.contains(a.cid()) && store.contains(b.cid()));
    check_invariants(&store);
}

#[test]
fn unpin_below_zero_is_a_no_op() {
    let mut store = MemoryStore::new(10);
    let a = block(1, 10);
    store.unpin(a.cid());
    store.put(a.clone()).unwrap();
    store.unpin(a.cid());
    assert_eq!(store.pin_count(a.cid()), 0);
    // A later pin still protects: the earlier unpins did not bank a negative count.
    store.pin(a.cid());
    assert!(store.put(block(2, 10)).is_err());
    check_invariants(&store);
}

#[test]
fn unpinned_block_rejoins_by_last_use() {
    let mut store = MemoryStore::new(30);
    let (a, b, c) = (block(1, 10), block(2, 10), block(3, 10));
    store.put(a.clone()).unwrap();
    store.pin(a.cid());
    store.put(b.clone()).unwrap();
    store.put(c.clone()).unwrap();
    store.unpin(a.cid());
    // a was used before b and c, so it goes first although it was unpinned last.
    assert_eq!(store.put_evicting(block(4, 10)).unwrap(), vec![*a.cid()]);
    // A get while pinned still counts as use.
    store.pin(b.cid());
    store.get(b.cid()).unwrap();
    store.unpin(b.cid());
    assert_eq!(store.put_evicting(block(5, 10)).unwrap(), vec![*c.cid()]);
    check_invariants(&store);
}

#[test]
fn remove_ignores_pins_but_keeps_them() {
    let mut store = MemoryStore::new(20);
    let (a, b, c) = (block(1, 10), block(2, 10), block(3, 10));
    store.put(a.clone()).unwrap();
    store.pin(a.cid());
    assert_eq!(store.remove(a.cid()), Some(a.clone()));
    assert_eq!(store.remove(a.cid()), None);
    assert_eq!((store.used_bytes(), store.pinned_bytes()), (0, 0));
    assert_eq!(store.pin_count(a.cid()), 1);
    check_invariants(&store);
    // Stored again, it is protected again.
    store.put(a.clone()).unwrap();
    store.put(b).unwrap();
    store.put(c).unwrap();
    assert!(store.contains(a.cid()));
    check_invariants(&store);
}

#[test]
fn set_budget_evicts_down_or_refuses() {
    let mut store = MemoryStore::new(40);
    let blocks: Vec<Block> = (0..4).map(|i| block(i, 10)).collect();
    for blk in &blocks {
        store.put(blk.clone()).unwrap();
    }
    store.pin(blocks[0].cid());
    assert_eq!(
        store.set_budget(20).unwrap(),
        vec![*blocks[1].cid(), *blocks[2].cid()]
    );
    assert_eq!(store.stats().budget_bytes, 20);
    check_invariants(&store);
    assert_eq!(
        store.set_budget(9),
        Err(StoreError::BudgetBelowPinned {
            budget: 9,
            pinned_bytes: 10
        })
    );
    assert_eq!(
        (store.budget_bytes(), store.len()),
        (20, 2),
        "nothing changed"
    );
    assert_eq!(store.set_budget(10).unwrap(), vec![*blocks[3].cid()]);
    assert_eq!(store.set_budget(1000).unwrap(), Vec::<Cid>::new());
    check_invariants(&store);
}

#[test]
fn zero_budget_holds_only_empty_blocks() {
    let mut store = MemoryStore::new(0);
    let empty = Block::from_data(RAW_CODEC, Bytes::new());
    store.put(empty.clone()).unwrap();
    assert!(store.contains(empty.cid()));
    assert!(matches!(
        store.put(block(1, 1)),
        Err(StoreError::LargerThanBudget { .. })
    ));
    check_invariants(&store);
}

#[test]
fn drop_log_reports_evictions_and_removals_in_order() {
    let mut store = MemoryStore::new(300);
    store.enable_drop_log();
    let (a, b, c, d) = (block(1, 100), block(2, 100), block(3, 100), block(4, 100));
    for blk in [&a, &b, &c] {
        store.put(blk.clone()).unwrap();
    }
    assert!(store.take_dropped().is_empty());
    store.put(d.clone()).unwrap();
    store.remove(c.cid());
    store.set_budget(100).unwrap();
    assert_eq!(
        store.take_dropped(),
        vec![*a.cid(), *c.cid(), *b.cid()],
        "evicted a, removed c, evicted b for the smaller budget"
    );
    assert!(store.take_dropped().is_empty(), "taking empties the log");
    // A removal of something not held logs nothing.
    store.remove(a.cid());
    assert!(store.take_dropped().is_empty());
    check_invariants(&store);
}

#[test]
fn without_the_drop_log_nothing_is_kept() {
    let mut store = MemoryStore::new(100);
    store.put(block(1, 100)).unwrap();
    store.put(block(2, 100)).unwrap();
    assert_eq!(store.stats().evictions, 1);
    assert!(store.take_dropped().is_empty());
    assert!(store.dropped.is_none());
}

#[test]
fn peek_neither_counts_nor_touches() {
    let mut store = MemoryStore::new(200);
    let (a, b) = (block(1, 100), block(2, 100));
    store.put(a.clone()).unwrap();
    store.put(b.clone()).unwrap();
    assert_eq!(store.peek(a.cid()).map(Block::data), Some(a.data()));
    assert!(store.peek(block(3, 1).cid()).is_none());
    assert_eq!(store.stats().hits + store.stats().misses, 0);
    // `a` is still the oldest: a new block evicts it, not `b`.
    store.put(block(3, 100)).unwrap();
    assert!(!store.contains(a.cid()) && store.contains(b.cid()));
}

#[test]
fn iter_cids_is_in_cid_order() {
    let mut store = MemoryStore::new(1000);
    for i in 0..20 {
        store.put(block(i, 5)).unwrap();
    }
    let cids: Vec<&Cid> = store.iter_cids().collect();
    assert_eq!(cids.len(), 20);
    assert!(cids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn trait_is_object_safe() {
    let mut store: Box<dyn BlockStore> = Box::new(MemoryStore::new(10));
    let a = block(1, 4);
    store.put(a.clone()).unwrap();
    assert_eq!(store.get(a.cid()), Some(a));
    assert_eq!(store.stats().blocks, 1);
}

#[test]
fn errors_read_well() {
    let a = block(1, 31);
    let msg = StoreError::LargerThanBudget {
        cid: *a.cid(),
        size: 31,
        budget: 30,
    }
    .to_string();
    assert!(
        msg.contains("31 bytes") && msg.contains("budget of 30"),
        "{msg}"
    );
}

// ---- Model-based property test -------------------------------------------------------------

/// The obvious, slow LRU: a list from least to most recently used.
#[derive(Debug, Default)]
struct Model {
    budget: u64,
    order: Vec<(Cid, u64)>,
    pins: BTreeMap<Cid, u64>,
    stats: StoreStats,
}

impl Model {
    fn used(&self) -> u64 {
        self.order.iter().map(|&(_, size)| size).sum()
    }

    fn pinned(&self) -> u64 {
        self.order
            .iter()
            .filter(|(cid, _)| self.pins.contains_key(cid))
            .map(|&(_, size)| size)
            .sum()
    }

    fn position(&self, cid: &Cid) -> Option<usize> {
        self.order.iter().position(|(c, _)| c == cid)
    }

    fn touch(&mut self, cid: &Cid) -> bool {
        match self.position(cid) {
            Some(i) => {
                let entry = self.order.remove(i);
                self.order.push(entry);
                true
            }
            None => false,
        }
    }

    fn evict_until(&mut self, target: u64) -> Vec<Cid> {
        let mut evicted = Vec::new();
        while self.used() > target {
            let i = self
                .order
                .iter()
                .position(|(cid, _)| !self.pins.contains_key(cid))
                .unwrap();
            evicted.push(self.order.remove(i).0);
            self.stats.evictions += 1;
        }
        evicted
    }

    fn get(&mut self, cid: &Cid) -> bool {
        let hit = self.touch(cid);
        if hit {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        hit
    }

    fn put(&mut self, cid: Cid, size: u64) -> Result<Vec<Cid>, &'static str> {
        if self.touch(&cid) {
            return Ok(Vec::new());
        }
        if size > self.budget {
            self.stats.rejected += 1;
            return Err("larger");
        }
        if self.pinned() + size > self.budget {
            self.stats.rejected += 1;
            return Err("full");
        }
        let evicted = self.evict_until(self.budget - size);
        self.order.push((cid, size));
        Ok(evicted)
    }

    fn remove(&mut self, cid: &Cid) -> bool {
        self.position(cid).map(|i| self.order.remove(i)).is_some()
    }

    fn pin(&mut self, cid: Cid) {
        *self.pins.entry(cid).or_insert(0) += 1;
    }

    fn unpin(&mut self, cid: &Cid) {
        if let Some(n) = self.pins.get_mut(cid) {
            *n -= 1;
            if *n == 0 {
                self.pins.remove(cid);
            }
        }
    }

    fn set_budget(&mut self, budget: u64) -> Result<Vec<Cid>, &'static str> {
        if self.pinned() > budget {
            return Err("below pinned");
        }
        let evicted = self.evict_until(budget);
        self.budget = budget;
        Ok(evicted)
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            blocks: self.order.len() as u64,
            used_bytes: self.used(),
            budget_bytes: self.budget,
            ..self.stats
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Get(usize),
    Put(usize),
    Remove(usize),
    Pin(usize),
    Unpin(usize),
    SetBudget(u64),
}

/// Pool of candidate blocks the ops index into; sizes include 0 and ones over the budget.
const POOL: usize = 12;
const MAX_TEST_BUDGET: u64 = 100;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..POOL).prop_map(Op::Get),
        6 => (0..POOL).prop_map(Op::Put),
        1 => (0..POOL).prop_map(Op::Remove),
        2 => (0..POOL).prop_map(Op::Pin),
        2 => (0..POOL).prop_map(Op::Unpin),
        1 => (0..=MAX_TEST_BUDGET).prop_map(Op::SetBudget),
    ]
}

fn error_kind(err: &StoreError) -> &'static str {
    match err {
        StoreError::LargerThanBudget { .. } => "larger",
        StoreError::Full { .. } => "full",
        StoreError::BudgetBelowPinned { .. } => "below pinned",
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn behaves_like_the_model(
        budget in 0..=MAX_TEST_BUDGET,
        sizes in proptest::collection::vec(0usize..=60, POOL),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let pool: Vec<Block> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| block(i as u8, size))
            .collect();
        let mut store = MemoryStore::new(budget);
        let mut model = Model { budget, ..Model::default() };
        for op in ops {
            match op {
                Op::Get(i) => {
                    let got = store.get(pool[i].cid());
                    prop_assert_eq!(got.is_some(), model.get(pool[i].cid()));
                    if let Some(got) = got {
                        prop_assert_eq!(&got, &pool[i]);
                    }
                }
                Op::Put(i) => {
                    let got = store.put_evicting(pool[i].clone()).map_err(|e| error_kind(&e));
                    prop_assert_eq!(got, model.put(*pool[i].cid(), pool[i].len() as u64));
                }
                Op::Remove(i) => {
                    let got = store.remove(pool[i].cid());
                    prop_assert_eq!(got.is_some(), model.remove(pool[i].cid()));
                }
                Op::Pin(i) => {
                    store.pin(pool[i].cid());
                    model.pin(*pool[i].cid());
                }
                Op::Unpin(i) => {
                    store.unpin(pool[i].cid());
                    model.unpin(pool[i].cid());
                }
                Op::SetBudget(b) => {
                    let got = store.set_budget(b).map_err(|e| error_kind(&e));
                    prop_assert_eq!(got, model.set_budget(b));
                }
            }
            check_invariants(&store);
            prop_assert_eq!(store.stats(), model.stats());
            prop_assert_eq!(store.pinned_bytes(), model.pinned());
            for blk in &pool {
                prop_assert_eq!(store.contains(blk.cid()), model.position(blk.cid()).is_some());
                prop_assert_eq!(
                    store.pin_count(blk.cid()),
                    model.pins.get(blk.cid()).copied().unwrap_or(0)
                );
            }
        }
    }
}
