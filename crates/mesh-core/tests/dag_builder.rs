//! The DAG builder: streaming equals one-shot, balanced shape, sizes, block order.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use mesh_core::Block;
use mesh_core::Cid;
use mesh_core::block::{CHUNK_SIZE, DAG_PB_CODEC, MAX_LINKS, RAW_CODEC};
use mesh_core::dag::{DagBuilder, build_dag, cid_of};
use mesh_core::known::KnownBlocks;
use mesh_core::unixfs::decode_file_node;
use proptest::prelude::*;

/// Feeds `data` in pieces of random sizes (some empty, some spanning chunks).
fn build_in_pieces(data: &[u8], seed: u64) -> (Cid, Vec<Block>) {
    let mut rng = common::Rng::new(seed);
    let mut builder = DagBuilder::new();
    let mut blocks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let max = if rng.below(4) == 0 {
            3 * CHUNK_SIZE
        } else {
            5000
        };
        let take = rng.below(max + 1).min(rest.len());
        let (piece, tail) = rest.split_at(take);
        builder.push(piece, &mut |b| blocks.push(b));
        rest = tail;
    }
    let root = builder.finish(&mut |b| blocks.push(b));
    assert_eq!(root.size, data.len() as u64);
    (root.cid, blocks)
}

/// Encoded bytes of the subtree under `cid`.
fn subtree_bytes(cid: &Cid, blocks: &HashMap<Cid, Block>) -> u64 {
    let block = &blocks[cid];
    let own = block.len() as u64;
    if cid.codec() == RAW_CODEC {
        return own;
    }
    let node = decode_file_node(block.data()).unwrap();
    own + node
        .links
        .iter()
        .map(|l| subtree_bytes(&l.cid, blocks))
        .sum::<u64>()
}

/// Checks every node: sizes, Tsizes and fanout, and returns the file bytes it reassembles.
fn reassemble(cid: &Cid, blocks: &HashMap<Cid, Block>) -> Vec<u8> {
    let block = &blocks[cid];
    if cid.codec() == RAW_CODEC {
        assert!(block.len() <= CHUNK_SIZE);
        return block.data().to_vec();
    }
    assert_eq!(cid.codec(), DAG_PB_CODEC);
    let node = decode_file_node(block.data()).unwrap();
    assert!(!node.links.is_empty() && node.links.len() <= MAX_LINKS);
    let mut out = Vec::new();
    for link in &node.links {
        assert_eq!(link.tsize, subtree_bytes(&link.cid, blocks));
        let child = reassemble(&link.cid, blocks);
        assert_eq!(link.size, child.len() as u64);
        out.extend(child);
    }
    assert_eq!(node.filesize, out.len() as u64);
    out
}

#[test]
fn single_chunk_files_are_one_raw_block() {
    for size in [0, 1, 1000, CHUNK_SIZE] {
        let data = common::xorshift_bytes(size, 7);
        let dag = build_dag(&data);
        assert_eq!(dag.blocks.len(), 1);
        assert_eq!(dag.root.cid.codec(), RAW_CODEC);
        assert_eq!(dag.blocks[0].data().as_ref(), &data[..]);
        assert_eq!(cid_of(&data), dag.root.cid);
    }
}

#[test]
fn one_byte_over_a_chunk_makes_a_node() {
    let data = common::xorshift_bytes(CHUNK_SIZE + 1, 7);
    let dag = build_dag(&data);
    assert_eq!(dag.root.cid.codec(), DAG_PB_CODEC);
    assert_eq!(dag.blocks.len(), 3);
    let root = decode_file_node(dag.blocks[2].data()).unwrap();
    let sizes: Vec<u64> = root.links.iter().map(|l| l.size).collect();
    assert_eq!(sizes, [CHUNK_SIZE as u64, 1]);
}

#[test]
fn balanced_layout_175_leaves() {
    // Zeros: every leaf is the same block, but the tree has the same shape.
    let data = vec![0u8; 175 * CHUNK_SIZE + 10];
    let dag = build_dag(&data);
    let blocks: HashMap<Cid, Block> = dag.blocks.iter().map(|b| (*b.cid(), b.clone())).collect();
    let root = decode_file_node(blocks[&dag.root.cid].data()).unwrap();
    let sizes: Vec<u64> = root.links.iter().map(|l| l.size).collect();
    let chunk = CHUNK_SIZE as u64;
    assert_eq!(sizes, [174 * chunk, chunk + 10]);
    let first = decode_file_node(blocks[&root.links[0].cid].data()).unwrap();
    let second = decode_file_node(blocks[&root.links[1].cid].data()).unwrap();
    assert_eq!(first.links.len(), 174);
    assert_eq!(second.links.len(), 2);
    assert_eq!(reassemble(&dag.root.cid, &blocks), data);
    // Each block once: the zero leaf, the short leaf, two nodes, the root.
    assert_eq!(dag.blocks.len(), 5);
}

#[test]
fn exactly_full_node_has_no_extra_level() {
    let data = vec![1u8; 174 * CHUNK_SIZE];
    let dag = build_dag(&data);
    let root_block = dag.blocks.last().unwrap();
    let root = decode_file_node(root_block.data()).unwrap();
    assert_eq!(root.links.len(), 174);
    assert!(root.links.iter().all(|l| l.cid.codec() == RAW_CODEC));
}

#[test]
fn blocks_stream_out_before_finish_children_first() {
    let data = common::xorshift_bytes(3 * CHUNK_SIZE + 5, 3);
    let mut builder = DagBuilder::new();
    let mut blocks = Vec::new();
    builder.push(&data, &mut |b| blocks.push(b));
    assert_eq!(
        blocks.len(),
        3,
        "full chunks are emitted as soon as they are complete"
    );
    let root = builder.finish(&mut |b| blocks.push(b));
    assert_eq!(blocks.len(), 5);
    assert_eq!(*blocks[4].cid(), root.cid);
    let node = decode_file_node(blocks[4].data()).unwrap();
    let children: Vec<Cid> = node.links.iter().map(|l| l.cid).collect();
    let leaves: Vec<Cid> = blocks[..4].iter().map(|b| *b.cid()).collect();
    assert_eq!(children, leaves);
}

#[test]
fn build_dag_keeps_each_block_once() {
    let data = vec![0u8; 3 * CHUNK_SIZE];
    let dag = build_dag(&data);
    assert_eq!(dag.blocks.len(), 2);
    let mut streamed = 0;
    let mut builder = DagBuilder::new();
    builder.push(&data, &mut |_| streamed += 1);
    builder.finish(&mut |_| streamed += 1);
    assert_eq!(
        streamed, 4,
        "the builder itself emits repeated leaves each time"
    );
}

#[test]
fn push_bytes_slices_whole_chunks_without_copying() {
    let data = Bytes::from(common::xorshift_bytes(4 * CHUNK_SIZE + 77, 9));
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let mut builder = DagBuilder::new();
    let mut blocks = Vec::new();
    // A small unaligned head first: the next chunk is completed by copying, the rest sliced.
    builder.push(&data[..10], &mut |b| blocks.push(b));
    builder.push_bytes(data.slice(10..), &mut |b| blocks.push(b));
    let root = builder.finish(&mut |b| blocks.push(b));
    assert_eq!(root.cid, cid_of(&data));
    let leaves: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.cid().codec() == RAW_CODEC)
        .collect();
    assert_eq!(leaves.len(), 5);
    let shared = leaves
        .iter()
        .filter(|b| range.contains(&(b.data().as_ptr() as usize)))
        .count();
    assert_eq!(
        shared, 4,
        "chunks 2..=4 and the short last leaf are slices of the caller's buffer"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn streaming_in_random_pieces_matches_one_shot(
        size in prop_oneof![0usize..3000, 0usize..4 * CHUNK_SIZE + 3000],
        seed in any::<u64>(),
        content_seed in 1u32..,
    ) {
        let data = common::xorshift_bytes(size, content_seed);
        let dag = build_dag(&data);
        let (streamed, blocks) = build_in_pieces(&data, seed);
        prop_assert_eq!(streamed, dag.root.cid);
        prop_assert_eq!(cid_of(&data), dag.root.cid);
        let mut by_bytes = DagBuilder::new();
        let mut count = 0;
        by_bytes.push_bytes(Bytes::from(data.clone()), &mut |_| count += 1);
        prop_assert_eq!(by_bytes.finish(&mut |_| count += 1).cid, dag.root.cid);
        prop_assert_eq!(count, blocks.len());
        let map: HashMap<Cid, Block> = blocks.into_iter().map(|b| (*b.cid(), b)).collect();
        prop_assert_eq!(reassemble(&dag.root.cid, &map), data);
    }
}

#[test]
fn a_short_last_piece_is_kept_without_copying() {
    let data = Bytes::from(common::xorshift_bytes(CHUNK_SIZE + 500, 11));
    let mut builder = DagBuilder::new();
    let mut blocks = Vec::new();
    builder.push_bytes(data.slice(..CHUNK_SIZE), &mut |b| blocks.push(b));
    builder.push_bytes(data.slice(CHUNK_SIZE..), &mut |b| blocks.push(b));
    let root = builder.finish(&mut |b| blocks.push(b));
    assert_eq!(root.cid, cid_of(&data));
    assert_eq!(root.size, data.len() as u64);
    let last = blocks
        .iter()
        .rfind(|b| b.cid().codec() == RAW_CODEC)
        .unwrap();
    assert_eq!(last.data().as_ptr(), data[CHUNK_SIZE..].as_ptr());

    // A held piece that more bytes follow is copied into the chunk as before.
    let mut builder = DagBuilder::new();
    for piece in [data.slice(..100), data.slice(100..300), data.slice(300..)] {
        builder.push_bytes(piece, &mut |_| {});
    }
    assert_eq!(builder.finish(&mut |_| {}).cid, cid_of(&data));
}

#[test]
fn known_leaves_are_the_held_blocks() {
    let data = Bytes::from(common::xorshift_bytes(2 * CHUNK_SIZE + 9, 12));
    let dag = build_dag(&data);
    let known = KnownBlocks::new(dag.blocks.iter().cloned());
    let mut builder = DagBuilder::with_known(known);
    let mut blocks = Vec::new();
    // Pieces of the held leaves' own bytes, as the simulator's origin sends them.
    for leaf in dag.blocks.iter().filter(|b| b.cid().codec() == RAW_CODEC) {
        builder.push_bytes(leaf.data().clone(), &mut |b| blocks.push(b));
    }
    let root = builder.finish(&mut |b| blocks.push(b));
    assert_eq!(root.cid, dag.root.cid);
    assert_eq!(blocks, dag.blocks);
    for (built, held) in blocks.iter().zip(&dag.blocks) {
        if held.cid().codec() == RAW_CODEC {
            assert_eq!(built.data().as_ptr(), held.data().as_ptr());
        }
    }
}
