//! Walking DAGs with AssetLayout: honest DAGs in any order, and every way a DAG can lie.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use mesh_core::block::{CHUNK_SIZE, DAG_PB_CODEC, RAW_CODEC, SHA2_256};
use mesh_core::dag::build_dag;
use mesh_core::layout::{AssetLayout, Inserted, LayoutError, MAX_DEPTH};
use mesh_core::unixfs::{DataType, FileLink, PbLink, PbNode, UnixFsData, encode_file_node};
use mesh_core::{Block, Cid, VerifyError};
use multihash::Multihash;
use proptest::prelude::*;

const C: u64 = CHUNK_SIZE as u64;
const MAX: u64 = 1 << 40;

fn blocks_of(data: &[u8]) -> (Cid, HashMap<Cid, Block>) {
    let dag = build_dag(data);
    let map = dag.blocks.into_iter().map(|b| (*b.cid(), b)).collect();
    (dag.root.cid, map)
}

fn raw(data: &[u8]) -> Block {
    Block::from_data(RAW_CODEC, Bytes::copy_from_slice(data))
}

/// A file node over `(child, size)` links, encoded like kubo.
fn node(links: &[(&Block, u64)]) -> Block {
    let links: Vec<FileLink> = links
        .iter()
        .map(|(b, size)| FileLink {
            cid: *b.cid(),
            size: *size,
            tsize: b.len() as u64,
        })
        .collect();
    Block::from_data(DAG_PB_CODEC, Bytes::from(encode_file_node(&links)))
}

/// A dag-pb block from hand-made UnixFS data and links.
fn pb(links: &[Cid], data: UnixFsData) -> Block {
    let pb = PbNode {
        links: links
            .iter()
            .map(|c| PbLink {
                cid: *c,
                name: Some(String::new()),
                tsize: Some(1),
            })
            .collect(),
        data: Some(Bytes::from(prost::Message::encode_to_vec(&data))),
    };
    Block::from_data(DAG_PB_CODEC, Bytes::from(pb.encode()))
}

fn is_malformed(r: Result<Inserted, LayoutError>) -> bool {
    matches!(r, Err(LayoutError::Malformed { .. }))
}

/// Inserts missing blocks until complete, choosing among `missing()` with `pick`.
fn walk(
    layout: &mut AssetLayout,
    blocks: &HashMap<Cid, Block>,
    mut pick: impl FnMut(usize) -> usize,
) -> Vec<Inserted> {
    let mut out = Vec::new();
    for _ in 0..=blocks.len() {
        if layout.is_complete() {
            return out;
        }
        let missing = layout.missing();
        check_missing_order(layout, &missing);
        let cid = missing[pick(missing.len())];
        out.push(layout.insert(&blocks[&cid]).unwrap());
    }
    panic!("layout not complete after inserting every block");
}

/// Checks `missing` against the layout's public view: internal nodes first (each missing), then
/// each missing leaf CID once, at its first position, in file order.
fn check_missing_order(layout: &AssetLayout, missing: &[Cid]) {
    let nodes = missing.iter().take_while(|c| layout.is_node(c)).count();
    assert!(missing[..nodes].iter().all(|c| layout.is_missing(c)));
    let leaves: Vec<Cid> = layout
        .leaves()
        .iter()
        .filter(|l| {
            layout.is_missing(&l.cid) && layout.leaf_indices(&l.cid).first() == Some(&l.index)
        })
        .map(|l| l.cid)
        .collect();
    assert_eq!(
        missing[nodes..],
        leaves[..],
        "missing leaves, in file order"
    );
    // `missing_near` is `missing` without the leaves that have no position in the range.
    let chunk = CHUNK_SIZE as u64;
    for range in [
        0..0,
        0..1,
        chunk..3 * chunk,
        5 * chunk + 1..5 * chunk + 2,
        100 * chunk..u64::MAX,
    ] {
        let near: Vec<Cid> = layout
            .leaves_in_range(range.clone())
            .iter()
            .map(|l| l.cid)
            .collect();
        let expected: Vec<Cid> = missing
            .iter()
            .filter(|c| layout.is_node(c) || near.contains(c))
            .copied()
            .collect();
        assert_eq!(
            layout.missing_near(range.clone()),
            expected,
            "missing near {range:?}"
        );
    }
}

/// Checks the leaves tile the file and returns the bytes they spell.
fn reassemble(layout: &AssetLayout, blocks: &HashMap<Cid, Block>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, leaf) in layout.leaves().iter().enumerate() {
        assert_eq!(leaf.index, i);
        assert_eq!(leaf.offset, out.len() as u64);
        let data = blocks[&leaf.cid].data();
        assert_eq!(leaf.len, Some(data.len() as u64));
        assert!(!layout.is_missing(&leaf.cid));
        out.extend_from_slice(data);
    }
    assert_eq!(layout.total_size(), Some(out.len() as u64));
    out
}

#[test]
fn honest_dags_complete_in_bfs_and_random_orders() {
    let cases = [
        (0, "xorshift32:5"),
        (1, "xorshift32:5"),
        (CHUNK_SIZE, "xorshift32:5"),
        (CHUNK_SIZE + 1, "xorshift32:5"),
        (3 * CHUNK_SIZE, "zeros"),
        (175 * CHUNK_SIZE + 12345, "xorshift32:5"),
    ];
    for (size, pattern) in cases {
        let data = common::content(size, pattern);
        let (root, blocks) = blocks_of(&data);
        let mut bfs = AssetLayout::new(root, MAX).unwrap();
        walk(&mut bfs, &blocks, |_| 0);
        assert_eq!(reassemble(&bfs, &blocks), data, "bfs, {size} bytes");
        for seed in 0..3 {
            let mut rng = common::Rng::new(seed);
            let mut random = AssetLayout::new(root, MAX).unwrap();
            walk(&mut random, &blocks, |n| rng.below(n));
            assert_eq!(random.leaves(), bfs.leaves(), "seed {seed}, {size} bytes");
            assert!(random.missing().is_empty());
        }
    }
}

#[test]
fn two_level_dag_reveals_leaves_out_of_order() {
    let data = common::content(175 * CHUNK_SIZE + 12345, "xorshift32:11");
    let (root, blocks) = blocks_of(&data);
    let mut layout = AssetLayout::new(root, MAX).unwrap();
    assert!(layout.is_node(&root));
    assert_eq!(layout.missing(), [root]);
    let Inserted::Node { new_children } = layout.insert(&blocks[&root]).unwrap() else {
        panic!("root is a node");
    };
    assert_eq!(new_children.len(), 2);
    assert_eq!(layout.total_size(), Some(data.len() as u64));
    assert_eq!(layout.missing(), new_children);
    assert!(layout.leaves().is_empty());
    // The second subtree first: its leaves get their final indices at once.
    layout.insert(&blocks[&new_children[1]]).unwrap();
    assert_eq!(layout.leaves().len(), 2);
    assert_eq!(layout.leaves()[0].index, 174);
    assert_eq!(layout.leaves()[0].offset, 174 * C);
    assert_eq!(layout.leaf(175).unwrap().len, Some(12345));
    assert!(layout.leaf(0).is_none());
    let missing = layout.missing();
    assert_eq!(missing[0], new_children[0], "nodes before leaves");
    assert_eq!(missing.len(), 3);
    layout.insert(&blocks[&new_children[0]]).unwrap();
    let missing = layout.missing();
    let in_file_order: Vec<Cid> = layout.leaves().iter().map(|l| l.cid).collect();
    assert_eq!(missing, in_file_order);
    assert_eq!(missing.len(), 176);
    // Leaves in reverse order.
    for cid in missing.iter().rev() {
        let Inserted::Leaf { indices } = layout.insert(&blocks[cid]).unwrap() else {
            panic!("leaf");
        };
        assert_eq!(indices.len(), 1);
    }
    assert!(layout.is_complete());
    assert_eq!(reassemble(&layout, &blocks), data);
}

#[test]
fn identical_chunks_fill_every_position() {
    let data = vec![0u8; 3 * CHUNK_SIZE];
    let (root, blocks) = blocks_of(&data);
    let mut layout = AssetLayout::new(root, MAX).unwrap();
    let Inserted::Node { new_children } = layout.insert(&blocks[&root]).unwrap() else {
        panic!("node");
    };
    assert_eq!(new_children.len(), 1, "one CID, listed once");
    assert_eq!(layout.missing(), new_children);
    assert_eq!(layout.leaf_indices(&new_children[0]), [0, 1, 2]);
    assert!(layout.is_leaf(&new_children[0]));
    assert_eq!(
        layout.insert(&blocks[&new_children[0]]).unwrap(),
        Inserted::Leaf {
            indices: vec![0, 1, 2]
        }
    );
    assert!(layout.is_complete());
}

/// root = [X, Y], X = [Z, Z], Y = [X, S]: subtree X stands at two depths.
fn repeated_subtree() -> (Block, Block, Block, Block, Block) {
    let z = raw(&vec![0u8; CHUNK_SIZE]);
    let s = raw(b"tail!");
    let x = node(&[(&z, C), (&z, C)]);
    let y = node(&[(&x, 2 * C), (&s, 5)]);
    let root = node(&[(&x, 2 * C), (&y, 2 * C + 5)]);
    (root, x, y, z, s)
}

#[test]
fn repeated_subtree_arriving_before_its_second_parent_is_expanded_again() {
    let (root, x, y, z, s) = repeated_subtree();
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    layout.insert(&root).unwrap();
    assert_eq!(
        layout.insert(&x).unwrap(),
        Inserted::Node {
            new_children: vec![*z.cid()]
        }
    );
    // Y reveals X again, already in: its leaves appear without fetching X twice.
    assert_eq!(
        layout.insert(&y).unwrap(),
        Inserted::Node {
            new_children: vec![*s.cid()]
        }
    );
    assert_eq!(layout.leaf_indices(z.cid()), [0, 1, 2, 3]);
    assert_eq!(layout.missing(), [*z.cid(), *s.cid()]);
    layout.insert(&z).unwrap();
    layout.insert(&s).unwrap();
    assert!(layout.is_complete());
    assert_eq!(layout.leaves().len(), 5);
    assert_eq!(layout.leaf(4).unwrap().offset, 4 * C);
}

#[test]
fn repeated_subtree_arriving_last_fills_both_positions() {
    let (root, x, y, z, s) = repeated_subtree();
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    layout.insert(&root).unwrap();
    layout.insert(&y).unwrap();
    assert_eq!(layout.missing(), [*x.cid(), *s.cid()]);
    layout.insert(&x).unwrap();
    assert_eq!(layout.leaf_indices(z.cid()), [0, 1, 2, 3]);
    layout.insert(&s).unwrap();
    layout.insert(&z).unwrap();
    assert!(layout.is_complete());
}

#[test]
fn raw_root_learns_its_size_on_arrival() {
    let block = raw(b"hello world");
    let mut layout = AssetLayout::new(*block.cid(), MAX).unwrap();
    assert!(!layout.is_node(block.cid()));
    assert_eq!(layout.total_size(), None);
    assert_eq!(layout.leaves()[0].len, None);
    assert_eq!(
        layout.leaves_in_range(5..6).len(),
        1,
        "unknown size covers any range"
    );
    assert_eq!(layout.leaves_in_range(1 << 50..(1 << 50) + 1).len(), 1);
    assert_eq!(
        layout.insert(&block).unwrap(),
        Inserted::Leaf { indices: vec![0] }
    );
    assert_eq!(layout.total_size(), Some(11));
    assert_eq!(layout.leaves()[0].len, Some(11));
    assert!(layout.leaves_in_range(11..20).is_empty());
    assert!(layout.is_complete());
}

#[test]
fn empty_file_has_no_bytes_to_serve() {
    let block = raw(b"");
    let mut layout = AssetLayout::new(*block.cid(), 0).unwrap();
    layout.insert(&block).unwrap();
    assert_eq!(layout.total_size(), Some(0));
    assert!(layout.leaves_in_range(0..1).is_empty());
    assert!(layout.is_complete());
}

#[test]
fn leaves_in_range_at_boundaries() {
    let data = common::content(3 * CHUNK_SIZE + 100, "xorshift32:3");
    let (root, blocks) = blocks_of(&data);
    let mut layout = AssetLayout::new(root, MAX).unwrap();
    walk(&mut layout, &blocks, |_| 0);
    let idx = |r: std::ops::Range<u64>| -> Vec<usize> {
        layout.leaves_in_range(r).iter().map(|l| l.index).collect()
    };
    let total = 3 * C + 100;
    assert_eq!(idx(0..1), [0]);
    assert_eq!(idx(0..C), [0]);
    assert_eq!(idx(C - 1..C + 1), [0, 1]);
    assert_eq!(idx(C..2 * C), [1]);
    assert_eq!(idx(C..2 * C + 1), [1, 2]);
    assert_eq!(idx(0..total), [0, 1, 2, 3]);
    assert_eq!(idx(0..u64::MAX), [0, 1, 2, 3]);
    assert_eq!(idx(total - 1..total), [3]);
    assert_eq!(idx(total..total + 10), Vec::<usize>::new());
    assert_eq!(idx(5..5), Vec::<usize>::new());
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = idx(10..5);
    assert!(backwards.is_empty());
}

#[test]
fn leaves_in_range_skips_unrevealed_subtrees() {
    let data = common::content(175 * CHUNK_SIZE + 12345, "xorshift32:11");
    let (root, blocks) = blocks_of(&data);
    let mut layout = AssetLayout::new(root, MAX).unwrap();
    let Inserted::Node { new_children } = layout.insert(&blocks[&root]).unwrap() else {
        panic!("node");
    };
    layout.insert(&blocks[&new_children[1]]).unwrap();
    assert!(layout.leaves_in_range(0..174 * C).is_empty());
    let got: Vec<usize> = layout
        .leaves_in_range(0..174 * C + 1)
        .iter()
        .map(|l| l.index)
        .collect();
    assert_eq!(got, [174]);
}

#[test]
fn unsupported_roots_are_refused() {
    let digest = [7u8; 32];
    let cbor = Cid::new_v1(0x71, Multihash::wrap(SHA2_256, &digest).unwrap());
    let sha512 = Cid::new_v1(RAW_CODEC, Multihash::wrap(0x13, &[7u8; 64]).unwrap());
    let identity = Cid::new_v1(RAW_CODEC, Multihash::wrap(0x00, b"hi").unwrap());
    for cid in [cbor, sha512, identity] {
        assert_eq!(
            AssetLayout::new(cid, MAX).unwrap_err(),
            LayoutError::UnsupportedRoot(cid)
        );
    }
}

#[test]
fn unexpected_and_repeated_blocks_are_refused() {
    let data = common::content(2 * CHUNK_SIZE, "xorshift32:1");
    let (root, blocks) = blocks_of(&data);
    let mut layout = AssetLayout::new(root, MAX).unwrap();
    let stranger = raw(b"not part of it");
    assert_eq!(
        layout.insert(&stranger),
        Err(LayoutError::Unexpected(*stranger.cid()))
    );
    // A real leaf, before its parent revealed it.
    let leaf = blocks
        .values()
        .find(|b| b.cid().codec() == RAW_CODEC)
        .unwrap();
    assert_eq!(
        layout.insert(leaf),
        Err(LayoutError::Unexpected(*leaf.cid()))
    );
    layout.insert(&blocks[&root]).unwrap();
    assert_eq!(
        layout.insert(&blocks[&root]),
        Err(LayoutError::Unexpected(root))
    );
    layout.insert(leaf).unwrap();
    assert_eq!(
        layout.insert(leaf),
        Err(LayoutError::Unexpected(*leaf.cid()))
    );
    assert!(!layout.is_complete());
}

#[test]
fn insert_data_verifies_first() {
    let data = common::content(2 * CHUNK_SIZE, "xorshift32:1");
    let (root, blocks) = blocks_of(&data);
    let mut layout = AssetLayout::new(root, MAX).unwrap();
    let err = layout
        .insert_data(root, Bytes::from_static(b"forged"))
        .unwrap_err();
    assert!(matches!(
        err,
        LayoutError::Verify(VerifyError::HashMismatch { .. })
    ));
    assert!(layout.is_missing(&root));
    layout
        .insert_data(root, blocks[&root].data().clone())
        .unwrap();
    let stranger = raw(b"x");
    assert_eq!(
        layout.insert_data(*stranger.cid(), Bytes::from_static(b"x")),
        Err(LayoutError::Unexpected(*stranger.cid()))
    );
}

#[test]
fn corrupted_node_bytes_are_malformed_and_change_nothing() {
    let garbage = Block::from_data(DAG_PB_CODEC, Bytes::from_static(b"\x12\xff\xff\x01junk"));
    let mut layout = AssetLayout::new(*garbage.cid(), MAX).unwrap();
    assert!(is_malformed(layout.insert(&garbage)));
    assert_eq!(layout.missing(), [*garbage.cid()]);
    assert_eq!(layout.total_size(), None);
    // A raw leaf's bytes under a dag-pb CID: not protobuf at all.
    let leafy = Block::from_data(DAG_PB_CODEC, Bytes::from(vec![0xffu8; 1000]));
    let mut layout = AssetLayout::new(*leafy.cid(), MAX).unwrap();
    assert!(is_malformed(layout.insert(&leafy)));
}

#[test]
fn leaf_shorter_than_its_parent_claims_is_malformed() {
    let short = raw(&[1u8; 100]);
    let last = raw(b"end");
    // The parent claims a full chunk for a 100-byte leaf.
    let root = node(&[(&short, C), (&last, 3)]);
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    layout.insert(&root).unwrap();
    assert!(is_malformed(layout.insert(&short)));
    assert!(layout.is_missing(short.cid()), "still wanted, unchanged");
    layout.insert(&last).unwrap();
    // The last leaf claimed longer than it is.
    let root = node(&[(&raw(&vec![2u8; CHUNK_SIZE]), C), (&last, 10)]);
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    layout.insert(&root).unwrap();
    assert!(is_malformed(layout.insert(&last)));
}

#[test]
fn lying_filesize_and_blocksizes_are_malformed() {
    let a = raw(&vec![1u8; CHUNK_SIZE]);
    let b = raw(b"tail");
    let file = |filesize: Option<u64>, blocksizes: Vec<u64>| UnixFsData {
        data_type: DataType::File as i32,
        filesize,
        blocksizes,
        ..Default::default()
    };
    let cids = [*a.cid(), *b.cid()];
    for bad in [
        pb(&cids, file(Some(C + 5), vec![C, 4])),  // filesize != sum
        pb(&cids, file(Some(C + 4), vec![C + 4])), // one blocksize for two links
        pb(&cids, file(None, vec![C, 4])),         // no filesize
        pb(&cids, file(Some(C + 4), vec![C + 4, 0])), // empty child
        pb(&cids, file(Some(C + 4), vec![4, C])),  // short leaf first
        pb(&cids, file(Some(2 * C + 1), vec![C, C + 1])), // leaf over a chunk
        pb(
            &cids,
            UnixFsData {
                data_type: DataType::Directory as i32,
                ..file(Some(C + 4), vec![C, 4])
            },
        ),
        pb(
            &cids,
            UnixFsData {
                data: Some(Bytes::from_static(b"inline")),
                ..file(Some(C + 4), vec![C, 4])
            },
        ),
    ] {
        let mut layout = AssetLayout::new(*bad.cid(), MAX).unwrap();
        assert!(
            is_malformed(layout.insert(&bad)),
            "{:?}",
            layout.insert(&bad)
        );
        assert_eq!(layout.missing(), [*bad.cid()]);
    }
    // The honest version of the same node is fine.
    let good = pb(&cids, file(Some(C + 4), vec![C, 4]));
    let mut layout = AssetLayout::new(*good.cid(), MAX).unwrap();
    layout.insert(&good).unwrap();
    layout.insert(&a).unwrap();
    layout.insert(&b).unwrap();
    assert!(layout.is_complete());
}

#[test]
fn child_node_contradicting_its_parent_is_malformed() {
    let a = raw(&vec![1u8; CHUNK_SIZE]);
    let inner = node(&[(&a, C), (&a, C)]);
    let tail = raw(b"x");
    // The parent says the inner node holds 3 chunks; it holds 2.
    let root = node(&[(&inner, 3 * C), (&tail, 1)]);
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    layout.insert(&root).unwrap();
    assert!(is_malformed(layout.insert(&inner)));
    // A node in the middle of the file whose size is not whole chunks.
    let root = node(&[(&inner, 2 * C - 1), (&tail, 1)]);
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    assert!(is_malformed(layout.insert(&root)));
    // The same leaf CID claimed with two different sizes.
    let root = node(&[(&tail, C), (&tail, 1)]);
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    assert!(is_malformed(layout.insert(&root)));
}

#[test]
fn children_of_foreign_codecs_are_malformed() {
    let cbor = Cid::new_v1(0x71, Multihash::wrap(SHA2_256, &[3u8; 32]).unwrap());
    let data = UnixFsData {
        data_type: DataType::File as i32,
        filesize: Some(10),
        blocksizes: vec![10],
        ..Default::default()
    };
    let root = pb(&[cbor], data);
    let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
    assert!(is_malformed(layout.insert(&root)));
}

#[test]
fn huge_claimed_sizes_are_too_large() {
    let leaf = raw(&vec![1u8; CHUNK_SIZE]);
    let links = vec![(&leaf, C); 4];
    let root = node(&links);
    let mut layout = AssetLayout::new(*root.cid(), 3 * C).unwrap();
    assert_eq!(
        layout.insert(&root),
        Err(LayoutError::TooLarge {
            root: *root.cid(),
            size: 4 * C,
            max: 3 * C
        })
    );
    assert_eq!(layout.total_size(), None);
    // Near u64::MAX: refused on size, no overflow.
    let data = UnixFsData {
        data_type: DataType::File as i32,
        filesize: Some(u64::MAX - 1),
        blocksizes: vec![u64::MAX / 2, u64::MAX / 2],
        ..Default::default()
    };
    let liar = pb(&[*leaf.cid(), *leaf.cid()], data);
    let mut layout = AssetLayout::new(*liar.cid(), MAX).unwrap();
    assert!(matches!(
        layout.insert(&liar),
        Err(LayoutError::TooLarge { .. })
    ));
    // A raw root over the limit.
    let mut layout = AssetLayout::new(*leaf.cid(), 1000).unwrap();
    assert!(matches!(
        layout.insert(&leaf),
        Err(LayoutError::TooLarge { size, .. }) if size == C
    ));
    // Many repeats of a small subtree claiming more than the limit in total.
    let wide = node(&vec![(&leaf, C); 100]);
    let wider = node(&vec![(&wide, 100 * C); 100]);
    let mut layout = AssetLayout::new(*wider.cid(), 1000 * C).unwrap();
    assert!(matches!(
        layout.insert(&wider),
        Err(LayoutError::TooLarge { .. })
    ));
}

#[test]
fn depth_is_bounded() {
    let leaf = raw(b"deep");
    // A chain of single-child nodes: MAX_DEPTH levels are fine, one more is not.
    let mut chain = vec![node(&[(&leaf, 4)])];
    for _ in 1..=MAX_DEPTH {
        let top = node(&[(chain.last().unwrap(), 4)]);
        chain.push(top);
    }
    let walk_chain = |levels: &[Block]| -> Result<(), LayoutError> {
        let root = levels.last().unwrap();
        let mut layout = AssetLayout::new(*root.cid(), MAX).unwrap();
        for block in levels.iter().rev() {
            layout.insert(block)?;
        }
        layout.insert(&leaf)?;
        assert!(layout.is_complete());
        Ok(())
    };
    walk_chain(&chain[..MAX_DEPTH]).unwrap();
    assert!(matches!(
        walk_chain(&chain[..=MAX_DEPTH]),
        Err(LayoutError::Malformed { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn build_walk_reassemble(
        size in prop_oneof![0usize..2000, 0usize..5 * CHUNK_SIZE],
        zeros in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let data = if zeros { vec![0; size] } else { common::xorshift_bytes(size, 77) };
        let (root, blocks) = blocks_of(&data);
        let mut layout = AssetLayout::new(root, MAX).unwrap();
        let mut rng = common::Rng::new(seed);
        walk(&mut layout, &blocks, |n| rng.below(n));
        prop_assert_eq!(reassemble(&layout, &blocks), data);
        prop_assert_eq!(layout.leaves().len(), size.div_ceil(CHUNK_SIZE).max(1));
        for leaf in layout.leaves() {
            let len = leaf.len.unwrap();
            if len > 0 {
                let hit = layout.leaves_in_range(leaf.offset + len - 1..leaf.offset + len);
                prop_assert_eq!(hit, std::slice::from_ref(leaf));
            }
        }
    }
}
