//! Counters that bound what remote peers can make a tab hold: handshakes in progress,
//! `RTCPeerConnection`s, inbound streams per connection, and received-but-unread bytes per
//! connection. Each is shared (the transport, a connection and its channels hold clones) and
//! gives back what was taken when the holder is dropped, so an error path cannot leak a slot.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// At most `capacity` holders of a [`Slot`] at a time: a [`ReceiveBudget`] counted in ones.
#[derive(Debug, Clone)]
pub(crate) struct Slots(ReceiveBudget);

/// One place in [`Slots`], released on drop.
#[derive(Debug)]
pub(crate) struct Slot(ReceiveBudget);

impl Slots {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(ReceiveBudget::new(capacity))
    }

    /// A slot, or `None` when all are taken.
    pub(crate) fn try_acquire(&self) -> Option<Slot> {
        self.0.try_reserve(1).then(|| Slot(self.0.clone()))
    }

    /// Slots in use.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.0.used()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release(1);
    }
}

/// Bytes a connection has received and its streams' readers not yet read, across all its
/// channels.
#[derive(Debug, Clone)]
pub(crate) struct ReceiveBudget {
    used: Arc<AtomicUsize>,
    capacity: usize,
}

impl ReceiveBudget {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            capacity,
        }
    }

    /// Takes `n` bytes of the budget; `false` (and nothing taken) if they do not fit.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.capacity)
            })
            .is_ok()
    }

    /// Gives `n` reserved bytes back.
    pub(crate) fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes reserved now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_refuse_past_capacity_and_come_back_on_drop() {
        let slots = Slots::new(2);
        let a = slots.try_acquire().expect("first");
        let b = slots.try_acquire().expect("second");
        assert!(slots.try_acquire().is_none(), "third refused");
        assert_eq!(slots.in_use(), 2);
        drop(a);
        let c = slots.try_acquire().expect("a dropped slot is free again");
        assert!(slots.try_acquire().is_none());
        drop((b, c));
        assert_eq!(slots.in_use(), 0);
        assert!(
            Slots::new(0).try_acquire().is_none(),
            "zero capacity admits nothing"
        );
    }

    #[test]
    fn receive_budget_takes_only_what_fits() {
        let budget = ReceiveBudget::new(100);
        let clone = budget.clone();
        assert!(budget.try_reserve(60));
        assert!(!clone.try_reserve(41), "shared across clones");
        assert!(clone.try_reserve(40));
        assert!(!budget.try_reserve(1));
        assert!(!budget.try_reserve(usize::MAX), "no overflow");
        budget.release(60);
        assert_eq!(clone.used(), 40);
        assert!(budget.try_reserve(60));
    }
}
