//! When to redial a bootstrap node: exponential backoff with jitter.
//!
//! A tab that lost its bootstrap node must come back quickly after a blip, without thousands
//! of tabs redialling in lockstep after an outage (jitter), and without hammering a node that
//! is down for long (the cap). Pure: the caller passes the time, and the randomness comes from
//! a [`Jitter`] seeded by the caller (a test's fixed seed, `Math.random()` in a tab).

use std::time::Duration;

/// First retry delay.
pub const INITIAL_DELAY: Duration = Duration::from_millis(250);

/// Longest delay between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Retry schedule of one bootstrap node.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// A fresh schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consecutive failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The connection is up: the next loss starts from the shortest delay again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// An attempt failed (or the connection dropped). Returns how long to wait before the
    /// next one: `INITIAL_DELAY * 2^failures`, capped at [`MAX_DELAY`], scaled by a factor
    /// in `[0.5, 1.0)` from `random` (a number in `[0, 1)`, e.g. `Math.random()`).
    pub fn failed(&mut self, random: f64) -> Duration {
        let exp = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let base = INITIAL_DELAY.saturating_mul(1u32 << exp).min(MAX_DELAY);
        let factor = 0.5 + 0.5 * random.clamp(0.0, 1.0 - f64::EPSILON);
        base.mul_f64(factor)
    }
}

/// A small seeded random source for jitter (splitmix64): deterministic for a given seed, so
/// engine tests replay exactly; not for anything secret.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // The top 53 bits, as a fraction: exactly representable, below 1.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new();
        // With random = 1 - eps the factor is just under 1: the base schedule.
        let delays: Vec<u128> = (0..10).map(|_| b.failed(0.999_999).as_millis()).collect();
        assert_eq!(delays[0], 249);
        assert_eq!(delays[1], 499);
        assert_eq!(delays[2], 999);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap_or(&0), 29_999);
    }

    #[test]
    fn jitter_spreads_between_half_and_full() {
        let mut low = Backoff::new();
        let mut high = Backoff::new();
        for _ in 0..5 {
            let l = low.failed(0.0);
            let h = high.failed(0.999_999);
            assert!(l * 2 >= h - Duration::from_millis(1), "{l:?} vs {h:?}");
            assert!(l < h);
        }
    }

    #[test]
    fn success_resets() {
        let mut b = Backoff::new();
        for _ in 0..6 {
            b.failed(0.5);
        }
        b.succeeded();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.failed(0.0), INITIAL_DELAY / 2);
    }

    #[test]
    fn jitter_is_in_range_and_replays() {
        let mut a = Jitter::new(7);
        let mut b = Jitter::new(7);
        for _ in 0..1000 {
            let x = a.next_unit();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_unit().to_bits());
        }
        assert_ne!(Jitter::new(1).next_unit(), Jitter::new(2).next_unit());
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new();
        for _ in 0..10_000 {
            assert!(b.failed(0.7) <= MAX_DELAY);
        }
    }
}
