//! Chunk-and-hash throughput: the DAG builder against plain sha2-256 over the same bytes.
//!
//! Hashing is the floor for building a DAG: every byte must go through sha2-256 once. The
//! builder adds a copy into each leaf, CID encoding and one dag-pb node per 174 leaves; the
//! goal is to stay within 10% of the bare hash (ratio >= 0.9). After the criterion groups,
//! a table compares both rates measured back to back in the same run.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use mesh_core::dag::{DagBuilder, cid_of};
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;
const SIZES: [usize; 2] = [16 * MIB, 64 * MIB];
/// Timed repetitions per figure in the summary table (the best one is kept).
const TABLE_RUNS: usize = 7;

/// Deterministic incompressible bytes (xorshift64, 8 bytes per step).
fn content(size: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The streaming builder as a driver uses it: bytes pushed in, blocks handed out.
fn dag_push(data: &[u8]) -> usize {
    let mut builder = DagBuilder::new();
    let mut blocks = 0usize;
    builder.push(data, &mut |b| blocks += black_box(b).len());
    let root = builder.finish(&mut |b| blocks += black_box(b).len());
    black_box(root);
    blocks
}

/// The builder fed owned bytes: whole chunks are sliced, not copied.
fn dag_push_bytes(data: &Bytes) -> usize {
    let mut builder = DagBuilder::new();
    let mut blocks = 0usize;
    builder.push_bytes(data.clone(), &mut |b| blocks += black_box(b).len());
    let root = builder.finish(&mut |b| blocks += black_box(b).len());
    black_box(root);
    blocks
}

fn bench(c: &mut Criterion, inputs: &[(usize, Vec<u8>, Bytes)]) {
    let mut group = c.benchmark_group("hashing");
    for (size, data, owned) in inputs {
        let label = format!("{}MiB", size / MIB);
        group.throughput(Throughput::Bytes(*size as u64));
        group.bench_with_input(BenchmarkId::new("sha2-256", &label), data, |b, d| {
            b.iter(|| sha256(black_box(d)))
        });
        group.bench_with_input(
            BenchmarkId::new("DagBuilder::push", &label),
            data,
            |b, d| b.iter(|| dag_push(black_box(d))),
        );
        group.bench_with_input(
            BenchmarkId::new("DagBuilder::push_bytes", &label),
            owned,
            |b, d| b.iter(|| dag_push_bytes(black_box(d))),
        );
        group.bench_with_input(BenchmarkId::new("cid_of", &label), data, |b, d| {
            b.iter(|| cid_of(black_box(d)))
        });
    }
    group.finish();
}

/// Best wall time of `f` over [`TABLE_RUNS`] runs.
fn best(mut f: impl FnMut()) -> Duration {
    (0..TABLE_RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn rate(size: usize, t: Duration) -> f64 {
    size as f64 / MIB as f64 / t.as_secs_f64()
}

fn table(inputs: &[(usize, Vec<u8>, Bytes)]) {
    println!();
    println!("chunk-and-hash vs sha2-256, best of {TABLE_RUNS} runs (MiB/s; goal ratio >= 0.90)");
    println!(
        "{:>7} {:>10} {:>10} {:>6} {:>12} {:>6} {:>10} {:>6}",
        "size", "sha2-256", "push", "ratio", "push_bytes", "ratio", "cid_of", "ratio"
    );
    for (size, data, owned) in inputs {
        let hash = rate(
            *size,
            best(|| {
                black_box(sha256(data));
            }),
        );
        let push = rate(
            *size,
            best(|| {
                black_box(dag_push(data));
            }),
        );
        let sliced = rate(
            *size,
            best(|| {
                black_box(dag_push_bytes(owned));
            }),
        );
        let cid = rate(
            *size,
            best(|| {
                black_box(cid_of(data));
            }),
        );
        println!(
            "{:>7} {:>10.0} {:>10.0} {:>6.3} {:>12.0} {:>6.3} {:>10.0} {:>6.3}",
            format!("{}MiB", size / MIB),
            hash,
            push,
            push / hash,
            sliced,
            sliced / hash,
            cid,
            cid / hash
        );
    }
}

fn main() {
    let inputs: Vec<(usize, Vec<u8>, Bytes)> = SIZES
        .iter()
        .map(|&size| {
            let data = content(size);
            let owned = Bytes::from(data.clone());
            (size, data, owned)
        })
        .collect();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c, &inputs);
    c.final_summary();
    // `cargo test --benches` runs this binary without `--bench`: skip the timed table there.
    if std::env::args().any(|a| a == "--bench") {
        table(&inputs);
    }
}
