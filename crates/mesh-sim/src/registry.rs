//! The bootstrap service's view of the swarm: who is online, and who provides what.
//!
//! It stands in for the DHT and the bootstrap/relay nodes: browsers announce the assets they
//! hold and look up providers there, and a browser's records go when it disconnects. Sets are
//! vectors with a position index so that adding, removing and drawing a random member are all
//! O(1); the index is only ever looked up, never iterated, so hashing order cannot leak into
//! results.

use rustc_hash::FxHashMap;

use crate::rng::Stream;

/// Most draws spent looking for one acceptable random member before giving up.
const MAX_DRAWS_PER_PICK: usize = 16;

/// A set of peers with O(1) insert, remove and random draw.
#[derive(Debug, Default)]
struct PeerSet {
    items: Vec<u32>,
}

/// Providers of every asset plus the online set, sharing one position index.
#[derive(Debug)]
pub(crate) struct Registry {
    online: PeerSet,
    providers: Vec<PeerSet>,
    /// Position of a peer in a set: key `(set << 32) | peer`, set 0 the online set and
    /// `asset + 1` the providers of `asset`.
    positions: FxHashMap<u64, u32>,
}

fn key(set: u32, peer: u32) -> u64 {
    (u64::from(set) << 32) | u64::from(peer)
}

impl Registry {
    pub(crate) fn new(assets: usize) -> Self {
        Self {
            online: PeerSet::default(),
            providers: (0..assets).map(|_| PeerSet::default()).collect(),
            positions: FxHashMap::default(),
        }
    }

    fn set_mut(&mut self, set: u32) -> &mut PeerSet {
        if set == 0 {
            &mut self.online
        } else {
            &mut self.providers[set as usize - 1]
        }
    }

    fn insert(&mut self, set: u32, peer: u32) -> bool {
        if self.positions.contains_key(&key(set, peer)) {
            return false;
        }
        let s = self.set_mut(set);
        let pos = s.items.len() as u32;
        s.items.push(peer);
        self.positions.insert(key(set, peer), pos);
        true
    }

    fn remove(&mut self, set: u32, peer: u32) -> bool {
        let Some(pos) = self.positions.remove(&key(set, peer)) else {
            return false;
        };
        let s = self.set_mut(set);
        s.items.swap_remove(pos as usize);
        if let Some(&moved) = s.items.get(pos as usize) {
            self.positions.insert(key(set, moved), pos);
        }
        true
    }

    /// A peer came online.
    pub(crate) fn join(&mut self, peer: u32) {
        self.insert(0, peer);
    }

    /// A peer left: it is no longer online and its records of `announced` assets go.
    pub(crate) fn leave(&mut self, peer: u32, announced: &[u32]) {
        self.remove(0, peer);
        for &asset in announced {
            self.remove(asset + 1, peer);
        }
    }

    /// Peers online.
    pub(crate) fn online(&self) -> usize {
        self.online.items.len()
    }

    /// Records `peer` as a provider of `asset`; false if it already was.
    pub(crate) fn announce(&mut self, asset: u32, peer: u32) -> bool {
        self.insert(asset + 1, peer)
    }

    /// Drops `peer`'s record for `asset`; false if there was none.
    pub(crate) fn withdraw(&mut self, asset: u32, peer: u32) -> bool {
        self.remove(asset + 1, peer)
    }

    /// Number of providers of `asset`.
    #[cfg(test)]
    pub(crate) fn provider_count(&self, asset: u32) -> usize {
        self.providers[asset as usize].items.len()
    }

    /// Up to `n` distinct providers of `asset` for `asker`, drawn at random among those `ok`
    /// accepts (the asker itself is never returned).
    pub(crate) fn providers(
        &self,
        asset: u32,
        asker: u32,
        n: usize,
        rng: &mut Stream,
        ok: impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        draw(&self.providers[asset as usize].items, asker, n, rng, ok)
    }

    /// Up to `n` distinct online peers other than `asker` that `ok` accepts.
    pub(crate) fn random_online(
        &self,
        asker: u32,
        n: usize,
        rng: &mut Stream,
        ok: impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        draw(&self.online.items, asker, n, rng, ok)
    }

    /// `n` distinct random online peers (for mass departures); all if fewer.
    pub(crate) fn sample_online(&self, n: usize, rng: &mut Stream) -> Vec<u32> {
        let mut pool = self.online.items.clone();
        let n = n.min(pool.len());
        // Partial Fisher–Yates.
        for i in 0..n {
            let j = i + rng.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(n);
        pool
    }
}

/// Up to `n` distinct members of `items`, not `asker`, accepted by `ok`.
fn draw(
    items: &[u32],
    asker: u32,
    n: usize,
    rng: &mut Stream,
    ok: impl Fn(u32) -> bool,
) -> Vec<u32> {
    if n == 0 || items.is_empty() {
        return Vec::new();
    }
    if items.len() <= 2 * n + 1 {
        // Few enough to take them all in a random rotation (no quadratic dedup needed).
        let start = rng.below(items.len() as u64) as usize;
        return items[start..]
            .iter()
            .chain(&items[..start])
            .copied()
            .filter(|&p| p != asker && ok(p))
            .take(n)
            .collect();
    }
    let mut out: Vec<u32> = Vec::with_capacity(n);
    for _ in 0..n * MAX_DRAWS_PER_PICK {
        if out.len() == n {
            break;
        }
        let p = items[rng.below(items.len() as u64) as usize];
        if p != asker && !out.contains(&p) && ok(p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn membership_survives_swap_removes() {
        let mut r = Registry::new(2);
        for p in 0..10 {
            r.join(p);
            r.announce(1, p);
        }
        r.leave(3, &[1]);
        r.leave(0, &[1]);
        r.leave(9, &[]);
        assert_eq!(r.online(), 7);
        assert_eq!(r.provider_count(1), 8);
        assert!(!r.announce(1, 5));
        assert!(r.withdraw(1, 5));
        assert!(!r.withdraw(1, 5));
        let mut rng = Stream::new(1, Purpose::Registry, 0);
        let got = r.providers(1, 2, 100, &mut rng, |_| true);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, vec![1, 4, 6, 7, 8, 9]);
        assert_eq!(r.provider_count(0), 0);
    }

    #[test]
    fn draws_are_bounded_distinct_and_filtered() {
        let mut r = Registry::new(1);
        for p in 0..1000 {
            r.join(p);
            r.announce(0, p);
        }
        let mut rng = Stream::new(2, Purpose::Registry, 0);
        let got = r.providers(0, 5, 20, &mut rng, |p| p % 2 == 0);
        assert_eq!(got.len(), 20);
        assert!(got.iter().all(|p| p % 2 == 0 && *p != 5));
        let mut d = got.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 20);
        let gone = r.sample_online(300, &mut rng);
        let mut d = gone.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 300);
    }
}
