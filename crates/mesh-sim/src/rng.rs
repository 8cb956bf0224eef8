//! Seeded randomness.
//!
//! The simulator must give the same output for the same seed on every machine and every
//! toolchain, so it carries its own small generator instead of depending on a crate whose
//! streams may change between versions. SplitMix64 passes BigCrush, needs eight bytes of state
//! and is fast enough that drawing numbers never shows up in a profile.
//!
//! Every purpose (arrivals, one peer's attributes and behaviour, network jitter, …) gets its own
//! [`Stream`] derived from the scenario seed. Variants of a scenario that only change, say, the
//! fallback deadline therefore see the same peers arriving at the same times and asking for the
//! same assets: their differences come from the policy, not from different dice.

/// Independent random streams, one per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Session arrival times.
    Arrivals,
    /// One peer's attributes and behaviour (indexed by peer).
    Peer,
    /// Per-message network draws: latencies of lookups, origin requests.
    Network,
    /// Which peers the registry hands out.
    Registry,
    /// Who leaves in a mass departure.
    Departures,
    /// Asset sizes and contents.
    Content,
}

impl Purpose {
    const fn tag(self) -> u64 {
        match self {
            Purpose::Arrivals => 1,
            Purpose::Peer => 2,
            Purpose::Network => 3,
            Purpose::Registry => 4,
            Purpose::Departures => 5,
            Purpose::Content => 6,
        }
    }
}

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    state: u64,
}

/// One SplitMix64 output step; also used to mix seeds.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Stream {
    /// The stream for `purpose` (and `index`, e.g. a peer number) under scenario `seed`.
    pub(crate) fn new(seed: u64, purpose: Purpose, index: u64) -> Self {
        let state = mix(seed ^ mix(purpose.tag().wrapping_mul(GOLDEN) ^ mix(index)));
        Self { state }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in `[0, 1)`, 53 bits of precision.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`: safe to take the logarithm of.
    pub(crate) fn unit_open(&mut self) -> f64 {
        1.0 - self.unit()
    }

    /// Uniform integer in `[0, n)`; 0 when `n` is 0. Lemire's multiply-shift: the bias is below
    /// 2^-32 for every `n` the simulator uses, far under any statistical effect we measure.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal draw (Box–Muller; the second value is dropped to keep streams simple).
    pub(crate) fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.unit_open().ln()).sqrt();
        r * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// Exponential with the given mean.
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit_open().ln()
    }

    /// Fills `buf` with random bytes.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Zipf popularity over ranks `0..n` (rank 0 the most popular): `P(k) ∝ 1 / (k + 1)^s`.
/// Sampling is a binary search in the precomputed cumulative distribution.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s` (`n` at least 1).
    pub(crate) fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n.max(1));
        let mut total = 0.0;
        for k in 0..n.max(1) {
            total += 1.0 / ((k + 1) as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    /// A rank.
    pub(crate) fn sample(&self, rng: &mut Stream) -> usize {
        let u = rng.unit();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, Purpose::Peer, 3);
                move |_| s.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut s = Stream::new(7, Purpose::Peer, 3);
                move |_| s.next_u64()
            })
            .collect();
        let c = Stream::new(7, Purpose::Peer, 4).next_u64();
        let d = Stream::new(7, Purpose::Network, 3).next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
        assert_ne!(a[0], d);
    }

    #[test]
    fn moments_are_right() {
        let mut s = Stream::new(1, Purpose::Network, 0);
        let n = 200_000;
        let mean_exp: f64 = (0..n).map(|_| s.exponential(3.0)).sum::<f64>() / n as f64;
        assert!((mean_exp - 3.0).abs() < 0.05, "{mean_exp}");
        let normals: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let m = normals.iter().sum::<f64>() / n as f64;
        let v = normals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "{m} {v}");
        let below: Vec<u64> = (0..n).map(|_| s.below(10)).collect();
        assert!(below.iter().all(|&x| x < 10));
        let threes = below.iter().filter(|&&x| x == 3).count() as f64 / n as f64;
        assert!((threes - 0.1).abs() < 0.005, "{threes}");
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let z = Zipf::new(100, 1.0);
        let mut s = Stream::new(2, Purpose::Peer, 0);
        let mut counts = [0usize; 100];
        for _ in 0..100_000 {
            counts[z.sample(&mut s)] += 1;
        }
        // P(0) = 1 / H(100) ≈ 0.193; P(1) half of it.
        let p0 = counts[0] as f64 / 100_000.0;
        assert!((p0 - 0.193).abs() < 0.01, "{p0}");
        assert!(counts[0] > counts[1] && counts[1] > counts[9] && counts[9] > counts[99]);
    }

    #[test]
    fn fill_covers_odd_lengths() {
        let mut s = Stream::new(3, Purpose::Content, 0);
        let mut buf = vec![0u8; 13];
        s.fill(&mut buf);
        assert!(buf.iter().any(|&b| b != 0));
    }
}
