//! A fixed, log-bucketed histogram of microsecond latencies.
//!
//! A node records a time-to-first-byte for every block for as long as the page lives, so keeping
//! samples is out; a fixed set of buckets gives quantiles in constant memory, merges across
//! nodes by adding counts, and answers the same on every run (no sampling, no randomness).
//!
//! Layout (the idea of HDR histograms, sized for our range): values below
//! `2 * SUB_BUCKETS` µs get one bucket each; above that, every power of two is split into
//! `SUB_BUCKETS` equal buckets. A bucket starting at `low` is at most `low / SUB_BUCKETS` wide,
//! and a quantile is reported as the middle of its bucket, so it is within half a width,
//! `1 / (2 * SUB_BUCKETS)` = [`RELATIVE_ERROR`], of the true sample.

/// log2 of the buckets per power of two.
const SUB_BUCKET_BITS: u32 = 4;
/// Buckets per power of two.
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Bound on `|estimate - sample| / sample` for a quantile, for samples up to [`MAX_MICROS`].
pub(crate) const RELATIVE_ERROR: f64 = 1.0 / (2 * SUB_BUCKETS) as f64;
/// Largest value tracked, in µs (about 71.6 minutes); larger values are recorded as this.
pub(crate) const MAX_MICROS: u64 = (1 << 32) - 1;
/// Number of buckets: enough for [`MAX_MICROS`] (464 of them, under 4 KiB).
const BUCKETS: usize = bucket_of(MAX_MICROS) + 1;

/// The bucket holding `micros` (at most [`MAX_MICROS`]).
const fn bucket_of(micros: u64) -> usize {
    if micros < 2 * SUB_BUCKETS {
        return micros as usize;
    }
    let log2 = 63 - micros.leading_zeros();
    let shift = log2 - SUB_BUCKET_BITS;
    // `micros >> shift` lies in [SUB_BUCKETS, 2 * SUB_BUCKETS): the leading bit plus the
    // sub-bucket, so consecutive powers of two get consecutive runs of buckets.
    (shift as u64 * SUB_BUCKETS + (micros >> shift)) as usize
}

/// The first value of bucket `index` and the bucket's width.
const fn bucket_range(index: usize) -> (u64, u64) {
    let index = index as u64;
    let shift = (index / SUB_BUCKETS).saturating_sub(1);
    ((index - shift * SUB_BUCKETS) << shift, 1 << shift)
}

/// Counts of latencies per bucket, plus the exact extremes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Histogram {
    /// Empty until the first sample (most nodes never see some sources), then `BUCKETS` long.
    counts: Vec<u64>,
    /// Samples recorded.
    total: u64,
    /// Smallest sample, µs; meaningful when `total > 0`.
    min: u64,
    /// Largest sample, µs (after capping at [`MAX_MICROS`]).
    max: u64,
}

impl Histogram {
    /// Records one latency of `micros` µs.
    pub(crate) fn record(&mut self, micros: u64) {
        let micros = micros.min(MAX_MICROS);
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
            self.min = micros;
            self.max = micros;
        }
        if let Some(count) = self.counts.get_mut(bucket_of(micros)) {
            *count = count.saturating_add(1);
        }
        self.total = self.total.saturating_add(1);
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
    }

    /// Number of samples.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The nearest-rank `q`-quantile in µs (the `ceil(q * n)`-th smallest sample, the smallest
    /// for `q = 0`), within [`RELATIVE_ERROR`]; `q` is clamped to `[0, 1]`. `None` with no
    /// samples or a NaN `q`. The smallest and largest samples are exact, and every estimate is
    /// clamped between them.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 || q.is_nan() {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        // The extremes are known exactly; the buckets only narrow down the ranks in between.
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.total {
            return Some(self.max);
        }
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(count);
            if seen >= rank {
                let (low, width) = bucket_range(index);
                return Some((low + width / 2).clamp(self.min, self.max));
            }
        }
        // Unreachable while the counts sum to `total`; the largest sample is a safe answer.
        Some(self.max)
    }

    /// Adds `other`'s samples to these.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.total == 0 {
            *self = other.clone();
            return;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total = self.total.saturating_add(other.total);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn buckets_tile_the_range_in_order() {
        // Every bucket starts where the previous one ended, the first at 0, the last at MAX.
        let mut next = 0;
        for index in 0..BUCKETS {
            let (low, width) = bucket_range(index);
            assert_eq!(low, next, "bucket {index}");
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(low + width - 1), index);
            next = low + width;
        }
        assert_eq!(next, MAX_MICROS + 1);
        assert_eq!(BUCKETS, 464);
    }

    #[test]
    fn buckets_are_narrow_relative_to_their_start() {
        for index in 0..BUCKETS {
            let (low, width) = bucket_range(index);
            if width > 1 {
                assert!(
                    low >= SUB_BUCKETS * width,
                    "bucket {index}: {low} + {width}"
                );
            }
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for micros in [3, 17, 31] {
            h.record(micros);
        }
        assert_eq!(h.quantile(0.5), Some(17));
        assert_eq!(h.quantile(0.0), Some(3));
        assert_eq!(h.quantile(1.0), Some(31));
    }

    #[test]
    fn values_over_the_cap_are_capped() {
        let mut h = Histogram::default();
        h.record(u64::MAX);
        assert_eq!(h.quantile(0.5), Some(MAX_MICROS));
        assert_eq!(h.count(), 1);
    }

    #[test]
    fn nan_and_out_of_range_q() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        h.record(100);
        h.record(200);
        assert_eq!(h.quantile(f64::NAN), None);
        assert_eq!(h.quantile(-1.0), Some(100));
        assert_eq!(h.quantile(7.0), Some(200));
    }
}
