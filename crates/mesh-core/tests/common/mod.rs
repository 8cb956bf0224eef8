//! Helpers shared by the integration tests: deterministic content and a seeded RNG.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

/// Bytes of a test vector, exactly as tests/kubo-vectors/gen.mjs makes them:
/// `"zeros"`, or `"xorshift32:SEED"` (byte i = low byte of the (i+1)-th xorshift32 output).
pub fn content(size: usize, pattern: &str) -> Vec<u8> {
    if pattern == "zeros" {
        return vec![0; size];
    }
    let seed: u32 = pattern
        .strip_prefix("xorshift32:")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unknown pattern {pattern}"));
    xorshift_bytes(size, seed)
}

/// `size` bytes of the xorshift32 stream started at `seed` (nonzero).
pub fn xorshift_bytes(size: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A small seeded generator (splitmix64) for shuffles and piece sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The bytes of `cid`'s block in `dag`.
pub fn block_data(dag: &mesh_core::dag::Dag, cid: &mesh_core::Cid) -> bytes::Bytes {
    dag.blocks
        .iter()
        .find(|b| b.cid() == cid)
        .expect("block of the DAG")
        .data()
        .clone()
}
