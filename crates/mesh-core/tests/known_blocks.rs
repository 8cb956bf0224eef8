//! Known blocks (`Config::with_known_blocks`): the very bytes of a held block are taken without
//! hashing; anything else, however similar, is still verified and a liar still penalised.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use bytes::Bytes;
use mesh_core::block::CHUNK_SIZE;
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{Config, Planner};
use mesh_core::known::KnownBlocks;
use mesh_core::store::{BlockStore, MemoryStore};
use mesh_core::time::Instant;

fn dag(len: usize, seed: u32) -> Dag {
    build_dag(&common::xorshift_bytes(len, seed))
}

fn planner(known: &Dag) -> Planner<u32, MemoryStore> {
    let config = Config::new().with_known_blocks(KnownBlocks::new(known.blocks.iter().cloned()));
    Planner::new(config, MemoryStore::new(64 << 20))
}

#[test]
fn the_known_bytes_are_taken_as_they_are() {
    let d = dag(1000, 1);
    let root = d.blocks[0].clone();
    let mut p = planner(&d);
    p.start(Instant::from_millis(0), *root.cid(), true);
    p.handle_block(Instant::from_millis(1), 7, *root.cid(), root.data().clone());
    let stored = p.store_mut().get(root.cid()).unwrap();
    assert_eq!(
        stored.data().as_ptr(),
        root.data().as_ptr(),
        "no copy was made"
    );
    assert_eq!(
        p.peer_score(&7),
        Some(1),
        "rewarded like any verified block"
    );
}

#[test]
fn a_copy_is_verified_and_a_tampered_copy_rejected() {
    let d = dag(1000, 2);
    let root = *d.blocks[0].cid();
    let mut evil = d.blocks[0].data().to_vec();
    evil[3] ^= 1;
    let mut p = planner(&d);
    p.start(Instant::from_millis(0), root, true);
    p.handle_block(Instant::from_millis(1), 7, root, Bytes::from(evil));
    assert!(!p.store().contains(&root), "a tampered copy is not stored");
    assert!(p.peer_score(&7).unwrap() < 0, "and its sender is penalised");

    let copy = Bytes::copy_from_slice(d.blocks[0].data());
    p.handle_block(Instant::from_millis(2), 8, root, copy);
    assert!(
        p.store().contains(&root),
        "an honest copy is verified and stored"
    );
}

#[test]
fn known_bytes_under_another_cid_are_a_lie() {
    let d = dag(3 * CHUNK_SIZE, 3);
    let other = dag(1000, 4);
    let mut p = planner(&d);
    let wanted = *other.blocks[0].cid();
    p.start(Instant::from_millis(0), wanted, true);
    // A block the set holds, sent as the answer for a different CID.
    let leaf = d.blocks[0].data().clone();
    p.handle_block(Instant::from_millis(1), 7, wanted, leaf);
    assert!(!p.store().contains(&wanted));
    assert!(p.peer_score(&7).unwrap() < 0);
}
