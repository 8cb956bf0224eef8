//! `AssetLayout` (`mesh_core::layout`), the walker that maps an untrusted DAG onto byte ranges,
//! fed a fuzzer-built DAG in a fuzzer-chosen, hostile order.
//!
//! Input: a tree shape whose leaves follow our chunking (every leaf a full chunk but the last;
//! identical chunks and subtrees share CIDs), optional lies in any node (a resized, redirected,
//! repeated, dropped or re-codec'd link), a size limit, and a delivery script: which missing
//! or known block to hand in next, tampered bytes, blocks of another asset.
//!
//! Properties: never a panic; a block not waited for is `Unexpected`; bytes that do not hash to
//! the CID are `Verify`; a refused block leaves the layout as it was; what an insert reports
//! matches the layout; leaves stay sorted, chunk-aligned, disjoint, within the file and within
//! the limit; `missing()` is exactly the known, not-inserted CIDs. A tree without lies within
//! the limit always completes whatever the order. A completed layout, lies or not, never maps
//! a byte the DAG does not hold at that offset: its leaves are exactly the DAG's leaves in
//! order, contiguous, with their real lengths.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use cid::Cid;
use libfuzzer_sys::fuzz_target;
use mesh_core::block::{Block, CHUNK_SIZE, DAG_PB_CODEC, RAW_CODEC, cid_from_digest};
use mesh_core::layout::{AssetLayout, Inserted, LayoutError, MAX_DEPTH};
use mesh_core::unixfs::{FileLink, decode_file_node, encode_file_node};

const CHUNK: u64 = CHUNK_SIZE as u64;
/// Leaves per tree: enough for repeated subtrees and several levels, fast to run.
const MAX_LEAVES: usize = 48;
/// Levels of nodes a lie-free tree may have (the layout accepts up to `MAX_DEPTH`).
const MAX_TREE_DEPTH: usize = 6;
/// Distinct full-chunk contents: few, so that leaves and subtrees repeat.
const FULL_CHUNKS: usize = 3;

#[derive(Debug, Arbitrary)]
enum Shape {
    Leaf,
    Node {
        children: Vec<Shape>,
        lie: Option<Lie>,
    },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Lie {
    /// One link's blocksize changes (the node's filesize follows, so the node still parses).
    Resize { link: u8, delta: i32 },
    /// One link points at another block built so far, with that block's real size.
    Redirect { link: u8, target: u8 },
    /// One link appears twice.
    Repeat { link: u8 },
    /// One link is left out.
    Drop { link: u8 },
    /// One link's codec flips between raw and dag-pb (same digest).
    Recodec { link: u8 },
}

#[derive(Debug, Arbitrary)]
enum Step {
    /// Hand in the n-th block of `missing()`.
    Missing(u8),
    /// Hand in the n-th block of the DAG, wanted or not.
    Known(u8),
    /// Hand in another block's bytes under the n-th missing CID.
    Tampered(u8),
    /// Hand in a block of another asset.
    Foreign(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    shape: Shape,
    /// Content of each full leaf, in file order (modulo `FULL_CHUNKS`).
    seeds: Vec<u8>,
    /// Length of the last leaf, `1 + last_len % CHUNK`.
    last_len: u32,
    /// The size limit, in quarter chunks.
    limit: u16,
    steps: Vec<Step>,
    /// Whether the final drain takes `missing()` from its end.
    drain_from_end: bool,
    /// A byte range to look up after each step.
    range: (u32, u32),
}

/// The shape normalised: leaves numbered in file order, nodes never empty.
enum Tree {
    Leaf(usize),
    Node(Vec<Tree>, Option<Lie>),
}

/// What building the DAG produced.
#[derive(Default)]
struct Built {
    blocks: BTreeMap<Cid, Block>,
    /// Built blocks in order, for redirects.
    order: Vec<FileLink>,
    /// Leaf CIDs in file order, as the builder meant them.
    leaf_cids: Vec<Cid>,
    lies: bool,
}

fn full_chunks() -> &'static [Block] {
    static CHUNKS: OnceLock<Vec<Block>> = OnceLock::new();
    CHUNKS.get_or_init(|| {
        (0..FULL_CHUNKS)
            .map(|i| Block::from_data(RAW_CODEC, Bytes::from(vec![i as u8; CHUNK_SIZE])))
            .collect()
    })
}

fn normalise(shape: &Shape, depth: usize, leaves: &mut usize) -> Option<Tree> {
    match shape {
        Shape::Node { children, lie } if depth < MAX_TREE_DEPTH => {
            let children: Vec<Tree> = children
                .iter()
                .filter_map(|c| normalise(c, depth + 1, leaves))
                .collect();
            (!children.is_empty()).then_some(Tree::Node(children, *lie))
        }
        _ if *leaves < MAX_LEAVES => {
            *leaves += 1;
            Some(Tree::Leaf(*leaves - 1))
        }
        _ => None,
    }
}

fn build(tree: &Tree, input: &Input, leaves: usize, out: &mut Built) -> FileLink {
    let link = match tree {
        Tree::Leaf(i) => {
            let seed = usize::from(input.seeds.get(*i).copied().unwrap_or(0)) % FULL_CHUNKS;
            let block = if *i + 1 < leaves {
                full_chunks()[seed].clone()
            } else {
                let len = 1 + (u64::from(input.last_len) % CHUNK) as usize;
                Block::from_data(RAW_CODEC, Bytes::from(vec![seed as u8; len]))
            };
            out.leaf_cids.push(*block.cid());
            let size = block.len() as u64;
            out.blocks.insert(*block.cid(), block.clone());
            FileLink {
                cid: *block.cid(),
                size,
                tsize: size,
            }
        }
        Tree::Node(children, lie) => {
            let mut links: Vec<FileLink> = children
                .iter()
                .map(|c| build(c, input, leaves, out))
                .collect();
            if let Some(lie) = lie {
                out.lies = true;
                tell(*lie, &mut links, &out.order);
            }
            let block = Block::from_data(DAG_PB_CODEC, Bytes::from(encode_file_node(&links)));
            let link = FileLink {
                cid: *block.cid(),
                size: links.iter().map(|l| l.size).sum(),
                tsize: links.iter().map(|l| l.tsize).sum::<u64>() + block.len() as u64,
            };
            out.blocks.insert(*block.cid(), block);
            link
        }
    };
    out.order.push(link);
    link
}

fn tell(lie: Lie, links: &mut Vec<FileLink>, built: &[FileLink]) {
    let count = links.len();
    let pick = |link: u8| usize::from(link) % count;
    match lie {
        Lie::Resize { link, delta } => {
            let l = &mut links[pick(link)];
            l.size = l.size.saturating_add_signed(i64::from(delta));
        }
        Lie::Redirect { link, target } => {
            if !built.is_empty() {
                let i = pick(link);
                links[i] = built[usize::from(target) % built.len()];
            }
        }
        Lie::Repeat { link } => {
            let l = links[pick(link)];
            links.insert(pick(link), l);
        }
        Lie::Drop { link } => {
            links.remove(pick(link));
        }
        Lie::Recodec { link } => {
            let l = &mut links[pick(link)];
            let codec = if l.cid.codec() == RAW_CODEC {
                DAG_PB_CODEC
            } else {
                RAW_CODEC
            };
            l.cid = cid_from_digest(codec, l.cid.hash().digest());
        }
    }
}

/// Every block's bytes by digest: a CID whose codec a lie flipped is served the same bytes.
fn by_digest(blocks: &BTreeMap<Cid, Block>) -> BTreeMap<Vec<u8>, Bytes> {
    blocks
        .values()
        .map(|b| (b.cid().hash().digest().to_vec(), b.data().clone()))
        .collect()
}

struct Run {
    layout: AssetLayout,
    built: Built,
    bytes: BTreeMap<Vec<u8>, Bytes>,
    /// A lie-free tree within the limit: every block must be accepted.
    must_complete: bool,
    range: std::ops::Range<u64>,
}

fuzz_target!(|input: Input| {
    let mut leaves = 0;
    let Some(tree) = normalise(&input.shape, 0, &mut leaves) else {
        return;
    };
    let mut built = Built::default();
    let root = build(&tree, &input, leaves, &mut built);
    let max_size = u64::from(input.limit) * (CHUNK / 4);
    let layout = AssetLayout::new(root.cid, max_size).expect("sha2-256 raw or dag-pb root");
    let (a, b) = (u64::from(input.range.0), u64::from(input.range.1));
    let mut run = Run {
        layout,
        bytes: by_digest(&built.blocks),
        must_complete: !built.lies && root.size <= max_size,
        built,
        range: a.min(b) * 64..a.max(b) * 64,
    };
    run.check_invariants();
    for step in &input.steps {
        run.step(step);
    }
    run.drain(input.drain_from_end);
    if run.must_complete {
        assert!(
            run.layout.is_complete(),
            "a lie-free DAG within the limit did not complete"
        );
        let cids: Vec<Cid> = run.layout.leaves().iter().map(|l| l.cid).collect();
        assert_eq!(cids, run.built.leaf_cids);
        assert_eq!(run.layout.total_size(), Some(root.size));
    }
    if run.layout.is_complete() {
        run.check_against_dag(root.cid);
    }
});

impl Run {
    fn step(&mut self, step: &Step) {
        let missing = self.layout.missing();
        match *step {
            Step::Missing(n) => {
                if let Some(&cid) = missing.get(usize::from(n) % missing.len().max(1)) {
                    let ok = self.deliver(cid);
                    assert!(ok || !self.must_complete, "a lie-free block was refused");
                }
            }
            Step::Known(n) => {
                let cids: Vec<Cid> = self.built.blocks.keys().copied().collect();
                let cid = cids[usize::from(n) % cids.len()];
                let ok = self.deliver(cid);
                assert!(ok || !self.must_complete || !missing.contains(&cid));
            }
            Step::Tampered(n) => {
                let Some(&cid) = missing.get(usize::from(n) % missing.len().max(1)) else {
                    return;
                };
                let others: Vec<&Block> = self
                    .built
                    .blocks
                    .values()
                    .filter(|b| b.cid().hash().digest() != cid.hash().digest())
                    .collect();
                let Some(other) = others.get(usize::from(n) % others.len().max(1)) else {
                    return;
                };
                let before = self.layout.clone();
                let result = self.layout.insert_data(cid, other.data().clone());
                assert!(matches!(result, Err(LayoutError::Verify(_))), "{result:?}");
                assert_same(&before, &self.layout);
            }
            Step::Foreign(n) => {
                let block = Block::from_data(RAW_CODEC, Bytes::from(vec![n; 1 + usize::from(n)]));
                if self.built.blocks.contains_key(block.cid()) {
                    return;
                }
                let before = self.layout.clone();
                let result = self.layout.insert(&block);
                assert_eq!(result, Err(LayoutError::Unexpected(*block.cid())));
                assert_same(&before, &self.layout);
            }
        }
        self.check_invariants();
    }

    /// Hands in the real bytes of `cid`; whether they were accepted.
    fn deliver(&mut self, cid: Cid) -> bool {
        let Some(data) = self.bytes.get(cid.hash().digest()).cloned() else {
            return false;
        };
        let before = self.layout.clone();
        let was_missing = before.is_missing(&cid);
        let result = self.layout.insert_data(cid, data.clone());
        if !was_missing {
            assert_eq!(result, Err(LayoutError::Unexpected(cid)));
        }
        let accepted = match result {
            Err(_) => {
                assert_same(&before, &self.layout);
                false
            }
            Ok(Inserted::Leaf { indices }) => {
                assert_eq!(indices, self.layout.leaf_indices(&cid));
                for i in indices {
                    let leaf = self.layout.leaf(i).expect("reported leaf exists");
                    assert_eq!(leaf.cid, cid);
                    assert_eq!(leaf.len, Some(data.len() as u64));
                }
                true
            }
            Ok(Inserted::Node { new_children }) => {
                for child in new_children {
                    assert!(!before.is_node(&child) && !before.is_leaf(&child));
                    assert!(self.layout.is_missing(&child));
                }
                assert!(self.layout.is_node(&cid));
                true
            }
            Ok(other) => panic!("unknown outcome {other:?}"),
        };
        assert!(!self.layout.is_missing(&cid) || !accepted);
        self.check_invariants();
        accepted
    }

    /// Hands in whatever is missing until nothing is, or a block is refused.
    fn drain(&mut self, from_end: bool) {
        // Each accepted block is one of the DAG's CIDs (in at most two codecs), inserted once.
        for _ in 0..=2 * self.built.blocks.len() {
            let missing = self.layout.missing();
            let next = if from_end {
                missing.last()
            } else {
                missing.first()
            };
            let Some(&cid) = next else {
                return;
            };
            if !self.deliver(cid) {
                assert!(!self.must_complete, "a lie-free block was refused");
                return;
            }
        }
        panic!("the layout kept asking for more blocks than the DAG has");
    }

    fn check_invariants(&self) {
        let layout = &self.layout;
        let leaves = layout.leaves();
        for pair in leaves.windows(2) {
            assert!(pair[0].index < pair[1].index, "leaves out of order");
            let end = pair[0].offset + pair[0].len.expect("only a lone raw root has no length");
            assert!(end <= pair[1].offset, "leaves overlap");
        }
        for leaf in leaves {
            assert_eq!(leaf.offset, leaf.index as u64 * CHUNK);
            if let (Some(total), Some(len)) = (layout.total_size(), leaf.len) {
                assert!(leaf.offset + len <= total, "leaf past the end of the file");
            }
        }
        assert!(leaves.len() as u64 <= layout.max_size() / CHUNK + 1);
        if let Some(total) = layout.total_size() {
            assert!(total <= layout.max_size());
        }
        let missing = layout.missing();
        for (i, cid) in missing.iter().enumerate() {
            assert!(layout.is_missing(cid));
            assert!(!missing[..i].contains(cid), "missing() repeats a CID");
        }
        for leaf in leaves {
            assert_eq!(layout.is_missing(&leaf.cid), missing.contains(&leaf.cid));
        }
        assert_eq!(layout.is_complete(), missing.is_empty());
        let range = self.range.clone();
        let found = layout.leaves_in_range(range.clone());
        let overlapping: Vec<_> = leaves
            .iter()
            .filter(|l| {
                let end = l.len.map_or(u64::MAX, |len| l.offset + len);
                range.start < range.end && l.offset < range.end && range.start < end
            })
            .copied()
            .collect();
        assert_eq!(found, &overlapping[..]);
    }

    /// A complete layout's leaves are the DAG's own leaves, in order, with their real lengths.
    fn check_against_dag(&self, root: Cid) {
        let layout = &self.layout;
        let mut dag_leaves = Vec::new();
        self.collect_leaves(root, 0, layout.leaves().len(), &mut dag_leaves);
        assert_eq!(dag_leaves.len(), layout.leaves().len());
        let mut offset = 0;
        for (leaf, (cid, len)) in layout.leaves().iter().zip(dag_leaves) {
            assert_eq!(leaf.cid, cid);
            assert_eq!(leaf.offset, offset);
            assert_eq!(leaf.len, Some(len));
            offset += len;
        }
        assert_eq!(layout.total_size(), Some(offset));
    }

    fn collect_leaves(&self, cid: Cid, depth: usize, max: usize, out: &mut Vec<(Cid, u64)>) {
        assert!(
            out.len() <= max,
            "the DAG holds more leaves than the complete layout"
        );
        let data = &self.bytes[cid.hash().digest()];
        if cid.codec() == RAW_CODEC {
            out.push((cid, data.len() as u64));
            return;
        }
        assert!(
            depth < MAX_DEPTH,
            "a complete layout accepted a DAG too deep"
        );
        let node = decode_file_node(data).expect("a complete layout accepted this node");
        for link in node.links {
            self.collect_leaves(link.cid, depth + 1, max, out);
        }
    }
}

/// A refused block must leave the layout exactly as it was.
fn assert_same(before: &AssetLayout, after: &AssetLayout) {
    assert_eq!(before.leaves(), after.leaves());
    assert_eq!(before.missing(), after.missing());
    assert_eq!(before.total_size(), after.total_size());
    assert_eq!(before.is_complete(), after.is_complete());
}
