//! The future: a binary heap of events ordered by time, then by insertion.
//!
//! The insertion sequence number breaks ties, so events due at the same microsecond run in the
//! order they were scheduled, on every run. That, seeded draws and ordered maps inside
//! mesh-core are all determinism needs.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A heap entry: small (24 bytes) so that sifting moves little; the event itself waits in a
/// slab slot.
#[derive(PartialEq, Eq)]
struct Entry {
    at: u64,
    seq: u64,
    slot: u32,
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events of type `E` by due time, in microseconds.
pub(crate) struct Queue<E> {
    heap: BinaryHeap<Entry>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
    peak: usize,
}

impl<E> Queue<E> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            peak: 0,
        }
    }

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
        self.heap.push(Entry {
            at,
            seq: self.seq,
            slot,
        });
        self.peak = self.peak.max(self.heap.len());
    }

    pub(crate) fn pop(&mut self) -> Option<(u64, E)> {
        let entry = self.heap.pop()?;
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
}
