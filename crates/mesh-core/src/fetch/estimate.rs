//! Throughput estimates from observed transfers.

use std::time::Duration;

/// Weight of a new sample. High enough that a peer that slows down is noticed within a few
/// blocks, low enough that one scheduling hiccup does not condemn it.
const ALPHA: f64 = 0.3;

/// An exponentially weighted moving average of a rate in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateEstimate {
    bytes_per_sec: Option<f64>,
}

impl RateEstimate {
    pub(crate) const fn unknown() -> Self {
        Self {
            bytes_per_sec: None,
        }
    }

    /// Adds `bytes` moved in `elapsed`. A zero interval (several blocks handed over in one
    /// event) counts as one microsecond, so it reads as fast rather than dividing by zero.
    pub(crate) fn sample(&mut self, bytes: u64, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(1e-6);
        let rate = bytes as f64 / secs;
        self.bytes_per_sec = Some(match self.bytes_per_sec {
            None => rate,
            Some(old) => old + ALPHA * (rate - old),
        });
    }

    pub(crate) fn get(&self) -> Option<f64> {
        self.bytes_per_sec
    }

    /// Time to move `bytes` at the estimated rate, or `fallback` rate if nothing was observed.
    pub(crate) fn time_for(&self, bytes: u64, fallback: f64) -> Duration {
        let rate = self.bytes_per_sec.unwrap_or(fallback).max(1.0);
        Duration::from_secs_f64(bytes as f64 / rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_towards_new_rate() {
        let mut r = RateEstimate::unknown();
        assert_eq!(r.get(), None);
        r.sample(1000, Duration::from_secs(1));
        assert_eq!(r.get(), Some(1000.0));
        for _ in 0..30 {
            r.sample(100, Duration::from_secs(1));
        }
        let now = r.get().unwrap_or_default();
        assert!((now - 100.0).abs() < 1.0, "{now}");
    }

    #[test]
    fn zero_interval_is_fast_not_nan() {
        let mut r = RateEstimate::unknown();
        r.sample(10, Duration::ZERO);
        assert!(r.get().is_some_and(|v| v.is_finite() && v > 1e6));
        assert_eq!(r.time_for(0, 1.0), Duration::ZERO);
    }
}
