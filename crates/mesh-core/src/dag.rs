//! Chunking files into kubo-identical DAGs.
//!
//! An asset's CID must be the one `ipfs add --cid-version 1` prints, so that anyone can check
//! it with stock tools and existing IPFS content is addressable as is. That fixes every
//! choice below (they are kubo's defaults):
//!
//! * the file is cut into [`CHUNK_SIZE`] pieces, each a raw block (codec `raw`, sha2-256,
//!   CIDv1);
//! * a file of at most one chunk (the empty file included) is that single raw block;
//! * otherwise leaves are grouped under dag-pb UnixFS file nodes of at most [`MAX_LINKS`]
//!   links, in kubo's *balanced* layout: every subtree is full except the last one at each
//!   level, so 175 leaves give a root over a node of 174 leaves and a node of 1 leaf.
//!
//! [`DagBuilder`] is streaming: it holds one partial chunk and, per tree level, the links of
//! the node still open there, so memory is bounded by the height of the tree, never by the
//! file size. Bytes are copied at most once, into the leaf that owns them; [`DagBuilder::push_bytes`]
//! copies none when the pieces it is given fall on chunk boundaries (an HTTP body delivered as
//! one piece, the simulator's leaf-sized pieces).

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use cid::Cid;

use crate::block::{Block, CHUNK_SIZE, DAG_PB_CODEC, MAX_LINKS, RAW_CODEC, Sha256Digest, cid_for};
use crate::known::KnownBlocks;
use crate::unixfs::{FileLink, encode_file_node};

/// Most tree levels the builder can need: with [`MAX_LINKS`] ≥ 2 and [`CHUNK_SIZE`]-byte
/// leaves, a file of `u64::MAX` bytes has under 2^46 leaves, hence at most 46 levels of
/// nodes above them (8 with kubo's 174 links).
const MAX_LEVELS: usize = 64;

/// The root of a finished DAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DagRoot {
    /// CID of the whole file.
    pub cid: Cid,
    /// File size in bytes.
    pub size: u64,
}

/// A whole DAG in memory: every block, leaves and internal nodes.
#[derive(Debug, Clone)]
pub struct Dag {
    /// The root.
    pub root: DagRoot,
    /// All blocks, each once, in the order the builder emitted them.
    pub blocks: Vec<Block>,
}

/// Streaming builder: feed file bytes, receive finished blocks as they complete.
///
/// Blocks come out in post-order (children before their parent, the root last). Identical
/// chunks are emitted each time they occur, under the same CID; stores deduplicate.
#[derive(Debug, Default)]
pub struct DagBuilder {
    /// Bytes of the chunk being filled (fewer than [`CHUNK_SIZE`]).
    chunk: BytesMut,
    /// A short piece given by [`Self::push_bytes`] while `chunk` was empty, kept as is: if
    /// the file ends there it becomes the last leaf without a copy. Not yet in `size`.
    held: Option<Bytes>,
    /// The SHA-256 of `held`, when [`Self::push_digested`] gave it.
    held_digest: Option<Sha256Digest>,
    /// Leaves already held elsewhere, made into blocks without hashing them again.
    known: KnownBlocks,
    /// Links not yet under a node.
    tree: Tree,
    /// Bytes pushed so far.
    size: u64,
}

impl DagBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that recognises the leaves of `known` instead of hashing them (see
    /// [`crate::known`]).
    pub fn with_known(known: KnownBlocks) -> Self {
        Self {
            known,
            ..Self::default()
        }
    }

    /// Moves a held short piece into the chunk being filled (its digest, if any, is of no
    /// use there).
    fn unhold(&mut self, sink: &mut impl FnMut(Block)) {
        self.held_digest = None;
        if let Some(held) = self.held.take() {
            self.push(&held, sink);
        }
    }

    /// Feeds the next bytes of the file; finished blocks go to `sink`.
    pub fn push(&mut self, data: &[u8], sink: &mut impl FnMut(Block)) {
        self.unhold(sink);
        self.size += data.len() as u64;
        let mut rest = data;
        // Each pass consumes at least one byte, and completes a chunk unless `rest` runs out.
        while !rest.is_empty() {
            if self.chunk.is_empty() && rest.len() >= CHUNK_SIZE {
                // A whole chunk in the caller's buffer: hash it there while it is hot in cache,
                // then copy. Hashing the copy instead re-reads it from memory (~10 % slower).
                let (head, tail) = rest.split_at(CHUNK_SIZE);
                let cid = cid_for(RAW_CODEC, head);
                self.push_block(Block::from_hashed(cid, Bytes::copy_from_slice(head)), sink);
                rest = tail;
                continue;
            }
            if self.chunk.capacity() == 0 {
                self.chunk.reserve(CHUNK_SIZE);
            }
            let take = (CHUNK_SIZE - self.chunk.len()).min(rest.len());
            let (head, tail) = rest.split_at(take);
            self.chunk.extend_from_slice(head);
            rest = tail;
            if self.chunk.len() == CHUNK_SIZE {
                let leaf = self.chunk.split().freeze();
                self.push_leaf(leaf, sink);
            }
        }
    }

    /// Like [`Self::push`] for bytes the caller already owns: whole chunks are sliced out of
    /// `data` without copying when no partial chunk is pending.
    pub fn push_bytes(&mut self, mut data: Bytes, sink: &mut impl FnMut(Block)) {
        self.unhold(sink);
        if !self.chunk.is_empty() {
            let fill = (CHUNK_SIZE - self.chunk.len()).min(data.len());
            let head = data.split_to(fill);
            self.push(&head, sink);
        }
        // The pending chunk is now empty, or `data` is.
        while data.len() >= CHUNK_SIZE {
            self.size += CHUNK_SIZE as u64;
            let leaf = data.split_to(CHUNK_SIZE);
            self.push_leaf(leaf, sink);
        }
        if !data.is_empty() {
            self.held = Some(data);
        }
    }

    /// Like [`Self::push_bytes`] for a piece that is one leaf, with its SHA-256 computed by
    /// the caller (see [`Sha256Digest`]): a whole chunk where a chunk starts becomes a leaf
    /// named by the digest, without hashing; a shorter piece there is held as the file's last
    /// leaf, to be named by the digest if the file ends with it. A piece that is not a leaf
    /// of this file (it does not start a chunk, or more bytes follow a short one) is hashed
    /// as [`Self::push_bytes`] would, its digest unused.
    pub fn push_digested(
        &mut self,
        data: Bytes,
        digest: Sha256Digest,
        sink: &mut impl FnMut(Block),
    ) {
        if !self.chunk.is_empty() || self.held.is_some() || data.len() > CHUNK_SIZE {
            self.push_bytes(data, sink);
        } else if data.len() == CHUNK_SIZE {
            self.size += CHUNK_SIZE as u64;
            self.push_block(digested_leaf(data, &digest), sink);
        } else if !data.is_empty() {
            self.held = Some(data);
            self.held_digest = Some(digest);
        }
    }

    /// Flushes the last leaf and the open nodes; returns the root.
    pub fn finish(mut self, sink: &mut impl FnMut(Block)) -> DagRoot {
        // The empty file is one empty leaf; otherwise only a partial chunk (or a held piece,
        // which leaves the chunk empty) is left to flush.
        if let Some(held) = self.held.take() {
            self.size += held.len() as u64;
            match self.held_digest.take() {
                Some(digest) => {
                    let leaf = digested_leaf(held, &digest);
                    self.push_block(leaf, sink);
                }
                None => self.push_leaf(held, sink),
            }
        } else if !self.chunk.is_empty() || self.tree.is_empty() {
            let leaf = self.chunk.split().freeze();
            self.push_leaf(leaf, sink);
        }
        let root = self.tree.finish(sink);
        DagRoot {
            cid: root.cid,
            size: self.size,
        }
    }

    fn push_leaf(&mut self, data: Bytes, sink: &mut impl FnMut(Block)) {
        let leaf = self.known.raw_leaf(data);
        self.push_block(leaf, sink);
    }

    fn push_block(&mut self, block: Block, sink: &mut impl FnMut(Block)) {
        let len = block.len() as u64;
        let link = FileLink {
            cid: *block.cid(),
            size: len,
            tsize: len,
        };
        sink(block);
        self.tree.push_leaf(link, sink);
    }
}

/// Cuts a file's bytes, given in pieces of any size, into its leaves: [`CHUNK_SIZE`] bytes
/// each from the start, the last one what is left. For a shell that hashes leaves itself and
/// hands them over with their digests ([`crate::fetch::Planner::handle_origin_leaf`]), so that
/// its cuts are the builder's.
#[derive(Debug, Default)]
pub struct LeafCutter {
    /// The leaf being filled (fewer than [`CHUNK_SIZE`] bytes).
    leaf: BytesMut,
}

impl LeafCutter {
    /// Takes the next piece; every leaf it completes goes to `sink`, in order. A leaf that
    /// lies whole inside `piece` is a slice of it, not a copy.
    pub fn push(&mut self, mut piece: Bytes, sink: &mut impl FnMut(Bytes)) {
        while !piece.is_empty() {
            if self.leaf.is_empty() && piece.len() >= CHUNK_SIZE {
                sink(piece.split_to(CHUNK_SIZE));
                continue;
            }
            let take = (CHUNK_SIZE - self.leaf.len()).min(piece.len());
            self.leaf.extend_from_slice(&piece.split_to(take));
            if self.leaf.len() == CHUNK_SIZE {
                sink(self.leaf.split().freeze());
            }
        }
    }

    /// The file ended: its last, shorter leaf, if any bytes are left.
    pub fn finish(mut self) -> Option<Bytes> {
        (!self.leaf.is_empty()).then(|| self.leaf.split().freeze())
    }
}

/// A raw leaf named by the SHA-256 its caller computed from `data`.
fn digested_leaf(data: Bytes, digest: &Sha256Digest) -> Block {
    Block::from_digest(RAW_CODEC, data, digest)
}

/// The open nodes of a balanced tree being built bottom-up, leaf by leaf.
///
/// `levels[0]` holds links to leaves not yet under a node, `levels[k]` links to nodes of
/// height `k`. A level reaching [`MAX_LINKS`] links is sealed into a node at once: that node
/// is final whatever follows (kubo fills every subtree before starting the next).
#[derive(Debug, Default)]
struct Tree {
    levels: Vec<Vec<FileLink>>,
}

impl Tree {
    fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    fn push_leaf(&mut self, leaf: FileLink, sink: &mut dyn FnMut(Block)) {
        let mut link = leaf;
        for level in 0..MAX_LEVELS {
            if self.levels.len() == level {
                self.levels.push(Vec::with_capacity(MAX_LINKS));
            }
            let open = &mut self.levels[level];
            open.push(link);
            if open.len() < MAX_LINKS {
                return;
            }
            link = self.seal(level, sink);
        }
        unreachable!("a file of at most u64::MAX bytes never needs {MAX_LEVELS} levels");
    }

    /// Turns the open links of `level` into a node; returns the link to it.
    fn seal(&mut self, level: usize, sink: &mut dyn FnMut(Block)) -> FileLink {
        let links = &mut self.levels[level];
        let bytes = encode_file_node(links);
        let size = links.iter().map(|l| l.size).sum();
        let tsize = links.iter().map(|l| l.tsize).sum::<u64>() + bytes.len() as u64;
        links.clear();
        let block = Block::from_data(DAG_PB_CODEC, Bytes::from(bytes));
        let link = FileLink {
            cid: *block.cid(),
            size,
            tsize,
        };
        sink(block);
        link
    }

    /// Closes every open node from the bottom up; returns the root. The tree must hold at
    /// least one leaf. A lone link on the top level is the root itself: for a one-chunk file
    /// that is the raw leaf (kubo does not wrap it), otherwise a node sealed earlier.
    fn finish(mut self, sink: &mut dyn FnMut(Block)) -> FileLink {
        let top = self.levels.len().saturating_sub(1);
        for level in 0..top {
            if !self.levels[level].is_empty() {
                let link = self.seal(level, sink);
                self.levels[level + 1].push(link);
            }
        }
        match self.levels.get(top).map(Vec::len) {
            Some(1) => self.levels[top][0],
            Some(n) if n > 1 => self.seal(top, sink),
            _ => unreachable!("finish is only called on a tree holding a leaf"),
        }
    }
}

/// Builds the whole DAG of `data`.
pub fn build_dag(data: &[u8]) -> Dag {
    let mut seen = HashSet::new();
    let mut blocks = Vec::new();
    let mut builder = DagBuilder::new();
    let mut keep = |block: Block| {
        if seen.insert(*block.cid()) {
            blocks.push(block);
        }
    };
    builder.push(data, &mut keep);
    let root = builder.finish(&mut keep);
    Dag { root, blocks }
}

/// The CID of `data`, as `ipfs add --cid-version 1` prints it.
///
/// Hashes the chunks in place: nothing is copied and no block is kept.
pub fn cid_of(data: &[u8]) -> Cid {
    if data.len() <= CHUNK_SIZE {
        return cid_for(RAW_CODEC, data);
    }
    let mut tree = Tree::default();
    let mut discard = |_: Block| {};
    for chunk in data.chunks(CHUNK_SIZE) {
        let len = chunk.len() as u64;
        let leaf = FileLink {
            cid: cid_for(RAW_CODEC, chunk),
            size: len,
            tsize: len,
        };
        tree.push_leaf(leaf, &mut discard);
    }
    tree.finish(&mut discard).cid
}
