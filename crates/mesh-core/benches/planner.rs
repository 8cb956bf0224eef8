//! Planner cost per input event.
//!
//! Two workloads, printed side by side as nanoseconds per event:
//! * `control`: 64 small fetches against 32 peers: want-have answers, provider lists,
//!   deadlines — no block bytes, so this is pure planning.
//! * `transfer`: one 16 MiB asset pulled from 4 peers, leaf by leaf; each block event includes
//!   verifying 256 KiB, so the row also shows what planning adds to hashing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant as Wall};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use mesh_core::block::{CHUNK_SIZE, RAW_CODEC, cid_for};
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{Action, Config, Event, Output, Planner};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

fn content(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Runs the control-plane workload; returns the number of inputs fed.
fn control() -> u64 {
    let mut p: Planner<u32, MemoryStore> = Planner::new(Config::new(), MemoryStore::new(1 << 20));
    let mut inputs = 0;
    for peer in 0..32 {
        p.handle_peer_connected(Instant::ZERO, peer);
        inputs += 1;
    }
    let roots: Vec<_> = (0..64u32)
        .map(|i| cid_for(RAW_CODEC, &i.to_le_bytes()))
        .collect();
    for (i, root) in roots.iter().enumerate() {
        p.start(Instant::from_micros(i as u64), *root, true);
        inputs += 1;
    }
    for root in &roots {
        for peer in 0..32 {
            p.handle_dont_have(Instant::from_millis(5), peer, *root);
            inputs += 1;
        }
        p.handle_providers(Instant::from_millis(30), *root, vec![], true);
        inputs += 1;
    }
    p.handle_timeout(Instant::from_millis(200));
    inputs += 1;
    while let Some(output) = p.poll_output() {
        black_box(output);
    }
    inputs
}

/// Pulls `dag` from 4 peers; returns the number of inputs fed.
fn transfer(dag: &Dag) -> u64 {
    let root = dag.root.cid;
    let mut p: Planner<u32, MemoryStore> = Planner::new(Config::new(), MemoryStore::new(64 << 20));
    let mut inputs = 0;
    for peer in 0..4 {
        p.handle_peer_connected(Instant::ZERO, peer);
        inputs += 1;
    }
    p.start(Instant::ZERO, root, true);
    inputs += 1;
    for peer in 0..4 {
        p.handle_have(Instant::from_millis(1), peer, root);
        inputs += 1;
    }
    let mut t = 2;
    let mut pending = Vec::new();
    let mut done = false;
    for _ in 0..10_000 {
        while let Some(output) = p.poll_output() {
            match output {
                Output::Action(Action::SendWantBlock { peer, cids, .. }) => {
                    pending.extend(cids.into_iter().map(|c| (peer, c)));
                }
                Output::Event(Event::Completed { .. }) => done = true,
                _ => {}
            }
        }
        let Some((peer, cid)) = pending.pop() else {
            break;
        };
        let data = dag
            .blocks
            .iter()
            .find(|b| *b.cid() == cid)
            .expect("block")
            .data()
            .clone();
        t += 1;
        p.handle_block(Instant::from_millis(t), peer, cid, Bytes::clone(&data));
        inputs += 1;
    }
    assert!(done, "transfer completes");
    inputs
}

fn per_event(f: impl Fn() -> u64, rounds: u32) -> Duration {
    let start = Wall::now();
    let mut events = 0;
    for _ in 0..rounds {
        events += f();
    }
    start.elapsed() / u32::try_from(events).unwrap_or(u32::MAX)
}

fn bench(c: &mut Criterion) {
    let dag = build_dag(&content(64 * CHUNK_SIZE));
    let mut g = c.benchmark_group("planner");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("control_64_fetches_32_peers", |b| b.iter(control));
    g.bench_function("transfer_16MiB_4_peers", |b| b.iter(|| transfer(&dag)));
    g.finish();
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches` runs each benchmark once; the table is for real runs.
    }

    let control_ns = per_event(control, 20);
    let transfer_ns = per_event(|| transfer(&dag), 3);
    let hash_only = {
        let start = Wall::now();
        for b in &dag.blocks {
            black_box(cid_for(RAW_CODEC, b.data()));
        }
        start.elapsed() / u32::try_from(dag.blocks.len()).unwrap_or(1)
    };
    println!();
    println!("| workload                      | per event  |");
    println!("|-------------------------------|------------|");
    println!(
        "| control (no block bytes)      | {:>7.2} µs |",
        control_ns.as_secs_f64() * 1e6
    );
    println!(
        "| transfer (256 KiB blocks)     | {:>7.2} µs |",
        transfer_ns.as_secs_f64() * 1e6
    );
    println!(
        "| sha2-256 of one 256 KiB block | {:>7.2} µs |",
        hash_only.as_secs_f64() * 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
