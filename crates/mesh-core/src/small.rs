//! Ordered maps and sets for state with few entries: a node's peers, its requests in flight,
//! the blocks one peer is sending. Sorted vectors ([`litemap`]) rather than B-trees.
//!
//! Why: every distinct `BTreeMap<K, V>` in the browser node is its own copy of the B-tree's
//! insert, remove, rebalance and drop, ~7.7 KB of wasm each, and the node had ~35 of them
//! (docs/BENCHMARKS-WEBRTC.md, "The floor"). A sorted vector's code is a binary search and a
//! `Vec` insert or remove, a fraction of that per type, and for the few entries these hold it
//! is as fast or faster. Iteration stays in key order, so everything that iterates stays
//! deterministic, as the simulator and the tests need.
//!
//! Not for state that grows with the content: blocks held, assets provided, announcements
//! queued. Inserting into the middle of a sorted vector moves what follows, so those keep
//! `BTreeMap`.

use std::borrow::Borrow;
use std::fmt;

/// An ordered map on a sorted vector, for few entries (see the module's doc): a
/// [`LiteMap`](litemap::LiteMap), which it dereferences to, with the few `BTreeMap` methods
/// litemap does not have.
#[derive(Clone, PartialEq, Eq)]
pub struct SmallMap<K, V>(litemap::LiteMap<K, V>);

impl<K, V> SmallMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self(litemap::LiteMap::new())
    }

    /// The values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl<K, V> std::ops::Deref for SmallMap<K, V> {
    type Target = litemap::LiteMap<K, V>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<K, V> std::ops::DerefMut for SmallMap<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<K: Ord, V> Extend<(K, V)> for SmallMap<K, V> {
    /// One insert per entry, later entries replacing earlier ones as in `BTreeMap` (litemap's
    /// own `extend` sorts, which is another sort instance per type in the wasm).
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, entries: I) {
        for (k, v) in entries {
            self.0.insert(k, v);
        }
    }
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = <&'a litemap::LiteMap<K, V> as IntoIterator>::IntoIter;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut SmallMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = <&'a mut litemap::LiteMap<K, V> as IntoIterator>::IntoIter;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl<K, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_tuple_vec().into_iter()
    }
}

/// An ordered set on a sorted vector, for few entries (see the module's doc).
#[derive(Clone, PartialEq, Eq)]
pub struct SmallSet<K>(litemap::LiteMap<K, ()>);

impl<K> SmallSet<K> {
    /// An empty set.
    pub const fn new() -> Self {
        Self(litemap::LiteMap::new())
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.0.as_slice().iter().map(|(k, ())| k)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl<K: Ord> SmallSet<K> {
    /// Adds `key`; false if it was there already.
    pub fn insert(&mut self, key: K) -> bool {
        self.0.try_insert(key, ()).is_none()
    }

    /// Removes `key`; false if it was not there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.remove(key).is_some()
    }

    /// Whether `key` is in the set.
    pub fn contains<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(key)
    }

    /// Keeps the keys `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.0.retain(|k, ()| keep(k));
    }
}

impl<K> Default for SmallSet<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: fmt::Debug> fmt::Debug for SmallSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<K: Ord> FromIterator<K> for SmallSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> Self {
        let mut set = Self::new();
        set.extend(keys);
        set
    }
}

impl<K: Ord> Extend<K> for SmallSet<K> {
    fn extend<I: IntoIterator<Item = K>>(&mut self, keys: I) {
        for key in keys {
            self.insert(key);
        }
    }
}

impl<'a, K> IntoIterator for &'a SmallSet<K> {
    type Item = &'a K;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, ())>, fn(&'a (K, ())) -> &'a K>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.as_slice().iter().map(|(k, ())| k)
    }
}

impl<K> IntoIterator for SmallSet<K> {
    type Item = K;
    type IntoIter = std::iter::Map<std::vec::IntoIter<(K, ())>, fn((K, ())) -> K>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_tuple_vec().into_iter().map(|(k, ())| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_keeps_its_keys_sorted_and_unique() {
        let mut set: SmallSet<u32> = [5, 1, 3].into_iter().collect();
        assert!(set.insert(2));
        assert!(!set.insert(3));
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [1, 2, 3, 5]);
        assert_eq!(set.iter().next(), Some(&1));
        assert!(set.remove(&1));
        assert!(!set.remove(&1));
        assert!(set.contains(&5) && !set.contains(&4));
        set.retain(|k| k % 2 == 1);
        assert_eq!(set.into_iter().collect::<Vec<_>>(), [3, 5]);
    }

    #[test]
    fn a_map_iterates_in_key_order_whatever_the_insertion_order() {
        let mut map = SmallMap::new();
        for k in [9u8, 2, 7, 4] {
            map.insert(k, u32::from(k) * 10);
        }
        assert_eq!(map.insert(7, 1), Some(70));
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [2, 4, 7, 9]);
        assert_eq!(map.remove(&2), Some(20));
        assert_eq!(map.get(&7), Some(&1));
    }

    /// One step of a map's or set's life, applied to ours and to std's B-tree alike.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        EntryAdd(u8, u32),
        Retain(u8),
        Extend(Vec<(u8, u32)>),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k % 32, v)),
            any::<u8>().prop_map(|k| Op::Remove(k % 32)),
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::EntryAdd(k % 32, v % 1000)),
            (1u8..5).prop_map(Op::Retain),
            proptest::collection::vec((any::<u8>(), any::<u32>()), 0..6)
                .prop_map(|kv| Op::Extend(kv.into_iter().map(|(k, v)| (k % 32, v)).collect())),
        ]
    }

    proptest::proptest! {
        /// The planner's decisions follow these maps' iteration: any sequence of operations
        /// must leave them as it leaves a `BTreeMap`/`BTreeSet`, in the same order, with the
        /// same answers on the way.
        #[test]
        fn behaves_as_the_btree_it_replaces(ops in proptest::collection::vec(op(), 0..64)) {
            use std::collections::{BTreeMap, BTreeSet};
            let (mut ours, mut std_map) = (SmallMap::new(), BTreeMap::new());
            let (mut our_set, mut std_set) = (SmallSet::new(), BTreeSet::new());
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        proptest::prop_assert_eq!(ours.insert(k, v), std_map.insert(k, v));
                        proptest::prop_assert_eq!(our_set.insert(k), std_set.insert(k));
                    }
                    Op::Remove(k) => {
                        proptest::prop_assert_eq!(ours.remove(&k), std_map.remove(&k));
                        proptest::prop_assert_eq!(our_set.remove(&k), std_set.remove(&k));
                    }
                    Op::EntryAdd(k, v) => {
                        *ours.entry(k).or_insert(0) += v;
                        *std_map.entry(k).or_insert(0) += v;
                    }
                    Op::Retain(m) => {
                        ours.retain(|k, _| k % m == 0);
                        std_map.retain(|k, _| k % m == 0);
                        our_set.retain(|k| k % m != 0);
                        std_set.retain(|k| k % m != 0);
                    }
                    Op::Extend(kv) => {
                        ours.extend(kv.iter().copied());
                        std_map.extend(kv.iter().copied());
                        our_set.extend(kv.iter().map(|(k, _)| *k));
                        std_set.extend(kv.iter().map(|(k, _)| *k));
                    }
                }
                for v in ours.values_mut() {
                    *v = v.wrapping_add(1);
                }
                for v in std_map.values_mut() {
                    *v = v.wrapping_add(1);
                }
                let ours_now: Vec<(u8, u32)> = ours.iter().map(|(k, v)| (*k, *v)).collect();
                let std_now: Vec<(u8, u32)> = std_map.iter().map(|(k, v)| (*k, *v)).collect();
                proptest::prop_assert_eq!(ours_now, std_now);
                proptest::prop_assert_eq!(
                    our_set.iter().copied().collect::<Vec<_>>(),
                    std_set.iter().copied().collect::<Vec<_>>()
                );
                proptest::prop_assert_eq!(our_set.iter().next(), std_set.first());
                proptest::prop_assert_eq!(our_set.len(), std_set.len());
            }
        }
    }
}
