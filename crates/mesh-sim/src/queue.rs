//! The future: events ordered by time, then by insertion.
//!
//! The insertion sequence number breaks ties, so events due at the same microsecond run in the
//! order they were scheduled, on every run. That, seeded draws and ordered maps inside
//! mesh-core are all determinism needs.
//!
//! A radix heap: virtual time never goes back, so every key pushed is at least the last one
//! popped, and an entry can be filed by the highest bit in which its key differs from that
//! one. Pushing appends to a bucket; popping takes the lowest non-empty bucket and re-files
//! its entries into lower ones. Each entry moves only downwards, a few times in practice, and
//! always through sequential appends: with hundreds of thousands of events waiting, that is
//! far kinder to the caches than a binary heap's sift through a heap of that size, which was
//! 5–8 % of a run's time (docs/SIMULATION.md, "Performance").

/// Buckets: 0 for keys equal to the last popped one, `b` (1..=128) for keys whose highest bit
/// differing from it is bit `b - 1`.
const BUCKETS: usize = 129;

/// A waiting event: small, so that re-filing moves little; the event itself waits in a slab
/// slot.
#[derive(Clone, Copy)]
struct Entry {
    at: u64,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// Time, then insertion order: unique, since every push gets a new sequence number.
    fn key(self) -> u128 {
        (u128::from(self.at) << 64) | u128::from(self.seq)
    }
}

/// Events of type `E` by due time, in microseconds.
pub(crate) struct Queue<E> {
    buckets: Vec<Vec<Entry>>,
    /// Bit `b - 1` set when bucket `b` (1..=128) holds entries.
    filled: u128,
    /// The key of the last popped entry (0 before the first pop).
    last: u128,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
    len: usize,
    peak: usize,
}

impl<E> Queue<E> {
    pub(crate) fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            filled: 0,
            last: 0,
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            len: 0,
            peak: 0,
        }
    }

    /// Schedules `event` at `at`, which must not be before the last popped event's time (the
    /// simulation never schedules into the past).
    pub(crate) fn push(&mut self, at: u64, event: E) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        let entry = Entry {
            at,
            seq: self.seq,
            slot,
        };
        assert!(
            entry.key() > self.last,
            "event scheduled at {at} µs, before the current time"
        );
        self.file(entry);
        self.len += 1;
        self.peak = self.peak.max(self.len);
    }

    fn file(&mut self, entry: Entry) {
        let b = (128 - (entry.key() ^ self.last).leading_zeros()) as usize;
        if b > 0 {
            self.filled |= 1 << (b - 1);
        }
        self.buckets[b].push(entry);
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, E)> {
        if self.buckets[0].is_empty() {
            if self.filled == 0 {
                return None;
            }
            let b = self.filled.trailing_zeros() as usize + 1;
            self.filled &= !(1 << (b - 1));
            let mut bucket = std::mem::take(&mut self.buckets[b]);
            self.last = bucket.iter().map(|e| e.key()).min()?;
            // Every entry now differs from `last` below bit `b - 1`: it lands in a lower bucket,
            // the minimum in bucket 0.
            for entry in bucket.drain(..) {
                self.file(entry);
            }
            self.buckets[b] = bucket; // Keeps its capacity for later.
        }
        let entry = self.buckets[0].pop()?;
        self.len -= 1;
        let event = self.slots.get_mut(entry.slot as usize)?.take()?;
        self.free.push(entry.slot);
        Some((entry.at, event))
    }

    /// Most events ever waiting at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Stream};

    #[test]
    fn earliest_first_then_fifo() {
        let mut q = Queue::new();
        q.push(5, 'a');
        q.push(1, 'b');
        q.push(5, 'c');
        q.push(1, 'd');
        let order: Vec<(u64, char)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, 'b'), (1, 'd'), (5, 'a'), (5, 'c')]);
        assert_eq!(q.peak(), 4);
    }

    /// Pushes interleaved with pops, as a simulation does (never into the past): the order is
    /// exactly that of sorting by (time, insertion).
    #[test]
    fn matches_sorting_by_time_then_insertion() {
        let mut rng = Stream::new(7, Purpose::Network, 0);
        let mut q = Queue::new();
        let mut expected: Vec<(u64, u64, u32)> = Vec::new();
        let mut popped = Vec::new();
        let (mut now, mut seq) = (0u64, 0u64);
        for step in 0..20_000u32 {
            if rng.unit() < 0.55 {
                // Same instant, soon, or far ahead (up to an hour).
                let delay = match (rng.unit() * 3.0) as u32 {
                    0 => 0,
                    1 => (rng.unit() * 1e3) as u64,
                    _ => (rng.unit() * 3.6e9) as u64,
                };
                seq += 1;
                q.push(now + delay, step);
                expected.push((now + delay, seq, step));
            } else if let Some((at, step)) = q.pop() {
                now = at;
                popped.push((at, step));
            }
        }
        popped.extend(std::iter::from_fn(|| q.pop()));
        expected.sort_unstable();
        let expected: Vec<(u64, u32)> = expected.into_iter().map(|(t, _, s)| (t, s)).collect();
        assert_eq!(popped, expected);
    }
}
