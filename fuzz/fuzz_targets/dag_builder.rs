//! The DAG builder (`mesh_core::dag`) that turns origin bytes into the CIDs every node checks,
//! cross-checked against the layout walker that fetchers use (`mesh_core::layout`).
//!
//! Input: a file made of runs of repeated bytes (so that files span several chunks and repeat
//! chunks, which then share a CID), and how it is fed to the streaming builder.
//!
//! Properties: streaming in any pieces, through `push` or `push_bytes`, gives the root and
//! blocks of `build_dag` and of `cid_of`; the root's size is the file's; an `AssetLayout` fed
//! those blocks in its own `missing()` order completes and maps every byte of every leaf to the
//! very file bytes at its offset; a limit one byte short refuses the asset.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use bytes::Bytes;
use cid::Cid;
use libfuzzer_sys::fuzz_target;
use mesh_core::block::{Block, CHUNK_SIZE};
use mesh_core::dag::{DagBuilder, build_dag, cid_of};
use mesh_core::layout::{AssetLayout, LayoutError};

/// Largest file built, so that one run stays fast: six chunks.
const MAX_FILE: usize = 6 * CHUNK_SIZE;

#[derive(Debug, Arbitrary)]
struct Input {
    /// `(byte, length in 64-byte units)`.
    runs: Vec<(u8, u16)>,
    /// `(piece length, through push_bytes)`; the rest of the file goes in one last push.
    pieces: Vec<(u32, bool)>,
}

fuzz_target!(|input: Input| {
    let mut file = Vec::new();
    for (byte, units) in input.runs {
        let len = (usize::from(units) * 64).min(MAX_FILE - file.len());
        file.resize(file.len() + len, byte);
    }
    let dag = build_dag(&file);
    assert_eq!(dag.root.size, file.len() as u64);
    assert_eq!(dag.root.cid, cid_of(&file));

    let (root, streamed) = stream(&file, &input.pieces);
    assert_eq!(root, dag.root);
    let expected: BTreeSet<Cid> = dag.blocks.iter().map(|b| *b.cid()).collect();
    assert_eq!(streamed.keys().copied().collect::<BTreeSet<_>>(), expected);

    walk(&file, root.cid, &streamed);
    if !file.is_empty() {
        refuse_over_limit(&file, root.cid, &streamed);
    }
});

/// Feeds `file` to a streaming builder in `pieces`; returns the root and the blocks by CID.
fn stream(file: &[u8], pieces: &[(u32, bool)]) -> (mesh_core::dag::DagRoot, BTreeMap<Cid, Block>) {
    let mut blocks = BTreeMap::new();
    let mut sink = |block: Block| {
        if let Some(seen) = blocks.get(block.cid()) {
            assert_eq!(seen, &block, "one CID, two contents");
        }
        blocks.insert(*block.cid(), block);
    };
    let mut builder = DagBuilder::new();
    let mut rest = file;
    for &(len, as_bytes) in pieces {
        let (piece, tail) = rest.split_at((len as usize).min(rest.len()));
        if as_bytes {
            builder.push_bytes(Bytes::copy_from_slice(piece), &mut sink);
        } else {
            builder.push(piece, &mut sink);
        }
        rest = tail;
    }
    builder.push(rest, &mut sink);
    let root = builder.finish(&mut sink);
    (root, blocks)
}

/// Fetches the asset through a layout, in the order it asks, and checks every leaf's bytes.
fn walk(file: &[u8], root: Cid, blocks: &BTreeMap<Cid, Block>) {
    let mut layout = AssetLayout::new(root, file.len() as u64).expect("our root is supported");
    // Every insert completes one known CID, and the DAG has `blocks.len()` of them.
    for _ in 0..=blocks.len() {
        let Some(&cid) = layout.missing().first() else {
            break;
        };
        let block = blocks
            .get(&cid)
            .expect("the layout only asks for blocks of the DAG");
        layout.insert(block).expect("our DAG is accepted");
    }
    assert!(layout.is_complete());
    assert_eq!(layout.total_size(), Some(file.len() as u64));
    let mut offset = 0u64;
    for leaf in layout.leaves() {
        assert_eq!(leaf.offset, offset);
        let data = blocks[&leaf.cid].data();
        assert_eq!(leaf.len, Some(data.len() as u64));
        let start = usize::try_from(offset).expect("small file");
        assert_eq!(&file[start..start + data.len()], &data[..]);
        offset += data.len() as u64;
    }
    assert_eq!(offset, file.len() as u64);
}

/// A layout limited to one byte less than the file refuses its root.
fn refuse_over_limit(file: &[u8], root: Cid, blocks: &BTreeMap<Cid, Block>) {
    let mut layout = AssetLayout::new(root, file.len() as u64 - 1).expect("supported root");
    let result = layout.insert(&blocks[&root]);
    assert!(
        matches!(result, Err(LayoutError::TooLarge { .. })),
        "{result:?}"
    );
}
