//! A log-linear histogram of durations in microseconds, for quantiles in bounded memory.
//!
//! 32 sub-buckets per power of two give about 3 % relative precision, plenty to tell 80 ms
//! from 200 ms. mesh-core's `TransferStats` keeps a similar histogram but only per
//! [`Source`](mesh_core::stats::Source); the simulator also classifies fetches as mixed, so it
//! keeps its own.

/// Sub-bucket bits: 2^5 = 32 per octave.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Largest value told apart: 2^37 µs, about 38 hours.
const MAX_EXP: u32 = 37;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) << SUB_BITS;

/// Counts of microsecond values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    /// Allocated on the first sample.
    counts: Vec<u64>,
    total: u64,
}

fn index(v: u64) -> usize {
    let v = v.min((1 << MAX_EXP) - 1);
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let m = v >> (e - SUB_BITS);
    (((e - SUB_BITS + 1) as usize) << SUB_BITS) + (m - SUB) as usize
}

/// A representative value (the middle) of bucket `i`.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let octave = (i >> SUB_BITS) as u32; // >= 1
    let m = SUB + (i & (SUB - 1));
    let shift = octave - 1;
    (m << shift) + ((1u64 << shift) >> 1)
}

impl Histogram {
    pub(crate) fn record(&mut self, micros: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[index(micros)] += 1;
        self.total += 1;
    }

    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Nearest-rank quantile `q` in `[0, 1]`, in microseconds; `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(value(i));
            }
        }
        None
    }

    /// Quantile in milliseconds, NaN when empty (written as an empty CSV cell).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        self.quantile(q).map_or(f64::NAN, |us| us as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_precision() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        for q in [0.01, 0.5, 0.9, 0.99] {
            let got = h.quantile(q).unwrap_or(0) as f64;
            let want = q * 1_000_000.0;
            assert!((got - want).abs() / want < 0.035, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn index_and_value_agree() {
        for v in [0u64, 1, 31, 32, 33, 63, 64, 1000, 123_456, 1 << 36] {
            let back = value(index(v)) as f64;
            assert!(
                (back - v as f64).abs() <= (v as f64 / 32.0).max(1.0),
                "{v} -> {back}"
            );
        }
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(5);
        b.record(500);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(1.0), Some(value(index(500))));
    }
}
