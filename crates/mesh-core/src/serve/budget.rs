//! A token bucket for the upload budget, in exact integer arithmetic.

use crate::time::Instant;

/// Microseconds per minute: the bucket counts tokens in byte-microseconds-per-minute so that
/// refills never round (a budget of 1 byte per minute still refills exactly).
const MICROS_PER_MINUTE: u128 = 60_000_000;

/// Allows `rate` bytes per minute on average and bursts up to `capacity` bytes.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    /// Bytes per minute.
    rate: u64,
    /// Largest balance, in bytes.
    capacity: u64,
    /// Balance, in bytes × [`MICROS_PER_MINUTE`].
    scaled: u128,
    /// Time of the last refill.
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: u64, capacity: u64) -> Self {
        Self {
            rate,
            capacity,
            scaled: u128::from(capacity) * MICROS_PER_MINUTE,
            last: None,
        }
    }

    /// Takes `bytes` if the balance covers them; otherwise takes nothing.
    pub(crate) fn try_take(&mut self, now: Instant, bytes: u64) -> bool {
        self.refill(now);
        let cost = u128::from(bytes) * MICROS_PER_MINUTE;
        if cost > self.scaled {
            return false;
        }
        self.scaled -= cost;
        true
    }

    /// Whole bytes available now.
    pub(crate) fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        u64::try_from(self.scaled / MICROS_PER_MINUTE).unwrap_or(u64::MAX)
    }

    /// Whether the bucket is full at `now` (then it is the same as a fresh one).
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.scaled >= u128::from(self.capacity) * MICROS_PER_MINUTE
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = match self.last {
            Some(last) => u128::from(now.as_micros().saturating_sub(last.as_micros())),
            None => 0,
        };
        if self.last.is_none_or(|last| now > last) {
            self.last = Some(now);
        }
        let max = u128::from(self.capacity) * MICROS_PER_MINUTE;
        self.scaled = self
            .scaled
            .saturating_add(elapsed.saturating_mul(u128::from(self.rate)))
            .min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_and_refills_exactly() {
        let t0 = Instant::from_millis(1_000);
        let mut bucket = TokenBucket::new(60_000, 10_000); // 1000 bytes per second
        assert!(bucket.try_take(t0, 10_000));
        assert!(!bucket.try_take(t0, 1));
        let t1 = t0 + std::time::Duration::from_millis(500);
        assert_eq!(bucket.available(t1), 500);
        assert!(!bucket.try_take(t1, 501));
        assert!(bucket.try_take(t1, 500));
        // Refills stop at the capacity.
        let later = t1 + std::time::Duration::from_secs(3600);
        assert_eq!(bucket.available(later), 10_000);
    }

    #[test]
    fn time_going_backwards_refills_nothing() {
        let mut bucket = TokenBucket::new(60, 10);
        let t = Instant::from_millis(10_000);
        assert!(bucket.try_take(t, 10));
        assert_eq!(bucket.available(Instant::from_millis(5_000)), 0);
        assert_eq!(bucket.available(t + std::time::Duration::from_secs(1)), 1);
    }
}
