//! Walking an untrusted DAG from its root.
//!
//! An asset is known first by its root CID only. Each internal node that arrives reveals its
//! children, with their sizes and hence their byte offsets, so a fetcher can ask for leaves as
//! soon as their parent is in, and map an HTTP byte range onto the leaves that hold it.
//!
//! Every block handed in is already hash-verified, but the DAG itself may come from a hostile
//! or buggy builder, so each node is checked against what its parent claimed and against the
//! layout we produce ([`crate::dag`]): UnixFS file nodes over raw leaves, fixed-size chunks
//! (every leaf is [`CHUNK_SIZE`] bytes except the last one, which is not empty), at most
//! [`MAX_DEPTH`] levels, and no more than the caller's `max_size` bytes in all. The chunk
//! rule makes a leaf's index simply `offset / CHUNK_SIZE`, known the moment its parent
//! arrives, and bounds the leaves of an asset by `max_size / CHUNK_SIZE + 1` however its
//! nodes repeat: memory stays proportional to the size the caller accepted.
//!
//! Identical chunks (and identical subtrees) share a CID, so one CID can stand at several
//! positions; it is fetched once and fills them all.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use bytes::Bytes;
use cid::Cid;

use crate::block::{Block, CHUNK_SIZE, DAG_PB_CODEC, RAW_CODEC, SHA2_256, VerifyError};
use crate::unixfs::{FileLink, decode_file_node};

/// Most levels of internal nodes on any path from the root (the root is one level). kubo's
/// balanced layout needs 8 only past an exabyte; this leaves room for narrower fanouts (a
/// binary tree over 64 GiB needs 19) while keeping walks short.
pub const MAX_DEPTH: usize = 32;

/// [`CHUNK_SIZE`] as a byte count.
const CHUNK: u64 = CHUNK_SIZE as u64;

/// One leaf of an asset: a raw block and where its bytes sit in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    /// Position among the leaves, in file order (`offset / CHUNK_SIZE`). Leaves of subtrees
    /// not yet revealed are not known, so [`AssetLayout::leaves`] may have gaps.
    pub index: usize,
    /// The leaf's CID.
    pub cid: Cid,
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// Its length; `None` only for a raw root that has not arrived (its size is its own).
    pub len: Option<u64>,
}

impl Leaf {
    /// One past its last byte; unbounded while the length is unknown.
    fn end(&self) -> u64 {
        self.len
            .map_or(u64::MAX, |len| self.offset.saturating_add(len))
    }
}

/// What a successful [`AssetLayout::insert`] learned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// An internal node: these children (in file order, each CID once) are now wanted.
    Node {
        /// Children that were not known before.
        new_children: Vec<Cid>,
    },
    /// A leaf: it fills these leaf positions (identical chunks share a CID).
    Leaf {
        /// Indices of the leaves it fills.
        indices: Vec<usize>,
    },
}

/// Why a block could not be added to a layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// Bad bytes: the sender is at fault.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Hash matched but the node is not a valid UnixFS file node, or contradicts its parent.
    #[error("malformed node {cid}: {reason}")]
    Malformed {
        /// The node.
        cid: Cid,
        /// What is wrong.
        reason: String,
    },
    /// Not a block this layout is waiting for.
    #[error("{0} is not wanted by this asset")]
    Unexpected(Cid),
    /// The root CID's codec is neither raw nor dag-pb, or its hash is not sha2-256.
    #[error("unsupported root {0}")]
    UnsupportedRoot(Cid),
    /// The DAG claims more than the configured limit.
    #[error("asset {root} claims {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The root.
        root: Cid,
        /// Claimed size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

fn malformed(cid: Cid, reason: impl Into<String>) -> LayoutError {
    LayoutError::Malformed {
        cid,
        reason: reason.into(),
    }
}

/// Where an internal node stands in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodePos {
    offset: u64,
    /// File bytes its parent says it holds; `None` for the root, whose size is its own.
    size: Option<u64>,
    depth: usize,
}

/// An internal node CID and every position it fills.
#[derive(Debug, Clone)]
struct NodeEntry {
    positions: Vec<NodePos>,
    /// Its links once it has arrived: kept so that a later parent revealing the same subtree
    /// at another position can expand it there without fetching it again.
    links: Option<Vec<FileLink>>,
}

/// A leaf CID and the leaf positions it fills.
#[derive(Debug, Clone)]
struct LeafEntry {
    /// Length every position expects; `None` for a raw root not yet arrived.
    len: Option<u64>,
    inserted: bool,
    indices: Vec<usize>,
}

/// The known shape of an asset being fetched.
#[derive(Debug, Clone)]
pub struct AssetLayout {
    root: Cid,
    max_size: u64,
    total_size: Option<u64>,
    nodes: BTreeMap<Cid, NodeEntry>,
    leaf_cids: BTreeMap<Cid, LeafEntry>,
    /// Known leaves, sorted by index (hence by offset, and non-overlapping).
    leaves: Vec<Leaf>,
    /// Known CIDs not yet inserted.
    missing_count: usize,
}

/// What inserting one node adds, computed in full before anything changes so that a
/// rejected node leaves the layout as it was.
#[derive(Debug, Default)]
struct Expansion {
    leaves: Vec<Leaf>,
    node_positions: Vec<(Cid, NodePos)>,
    /// Sizes claimed for child CIDs by this expansion (leaf length or node filesize).
    claims: BTreeMap<Cid, u64>,
    /// CIDs not known before, with the offset of their first position.
    new_cids: Vec<(u64, Cid)>,
}

/// Whether a child CID names a leaf or a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Leaf,
    Node,
}

fn kind_of(cid: &Cid) -> Option<Kind> {
    if cid.hash().code() != SHA2_256 || cid.hash().size() != 32 {
        return None;
    }
    match cid.codec() {
        RAW_CODEC => Some(Kind::Leaf),
        DAG_PB_CODEC => Some(Kind::Node),
        _ => None,
    }
}

impl AssetLayout {
    /// A layout knowing only its root; assets over `max_size` bytes are refused.
    pub fn new(root: Cid, max_size: u64) -> Result<Self, LayoutError> {
        let mut layout = AssetLayout {
            root,
            max_size,
            total_size: None,
            nodes: BTreeMap::new(),
            leaf_cids: BTreeMap::new(),
            leaves: Vec::new(),
            missing_count: 1,
        };
        match kind_of(&root) {
            Some(Kind::Leaf) => {
                layout.leaf_cids.insert(
                    root,
                    LeafEntry {
                        len: None,
                        inserted: false,
                        indices: vec![0],
                    },
                );
                layout.leaves.push(Leaf {
                    index: 0,
                    cid: root,
                    offset: 0,
                    len: None,
                });
            }
            Some(Kind::Node) => {
                let at_root = NodePos {
                    offset: 0,
                    size: None,
                    depth: 0,
                };
                layout.nodes.insert(
                    root,
                    NodeEntry {
                        positions: vec![at_root],
                        links: None,
                    },
                );
            }
            None => return Err(LayoutError::UnsupportedRoot(root)),
        }
        Ok(layout)
    }

    /// The root CID.
    pub fn root(&self) -> &Cid {
        &self.root
    }

    /// The size limit given to [`Self::new`].
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Blocks known by CID but not inserted: internal nodes first, then leaves in file order;
    /// each CID once.
    ///
    /// Nodes come shallowest first, then by offset, so a walker asking in this order
    /// discovers the rest of the DAG as early as possible.
    pub fn missing(&self) -> Vec<Cid> {
        self.missing_where(|_| true)
    }

    /// [`Self::missing`] without the leaves none of whose positions overlap `range` (every
    /// internal node is kept): what a fetcher that delivers in file order may ask for next.
    pub fn missing_near(&self, range: Range<u64>) -> Vec<Cid> {
        // The known leaves overlapping the range are the ones whose index lies between the
        // first and the last of them (offsets ascend with indices).
        let near = self.leaves_in_range(range);
        let (Some(first), Some(last)) = (near.first(), near.last()) else {
            return self.missing_where(|_| false);
        };
        let (low, high) = (first.index, last.index);
        self.missing_where(|indices| {
            // Sorted: the first index at or past `low` decides.
            let at = indices.partition_point(|&i| i < low);
            indices.get(at).is_some_and(|&i| i <= high)
        })
    }

    /// Missing nodes, then the missing leaves whose (sorted) positions pass `keep`.
    fn missing_where(&self, keep: impl Fn(&[usize]) -> bool) -> Vec<Cid> {
        if self.missing_count == 0 {
            return Vec::new();
        }
        let mut nodes: Vec<((usize, u64), Cid)> = self
            .nodes
            .iter()
            .filter(|(_, e)| e.links.is_none())
            .filter_map(|(cid, e)| {
                let first = e.positions.iter().map(|p| (p.depth, p.offset)).min()?;
                Some((first, *cid))
            })
            .collect();
        nodes.sort();
        // Each leaf CID once, at its first position (a CID's indices are kept sorted). Read off
        // the CIDs, not every leaf position: the planner asks for this on every block, and a
        // lookup per position made it cost O(leaves × log leaves) CID comparisons each time.
        let mut leaves: Vec<(usize, Cid)> = self
            .leaf_cids
            .iter()
            .filter(|(_, e)| !e.inserted && keep(&e.indices))
            .filter_map(|(cid, e)| Some((*e.indices.first()?, *cid)))
            .collect();
        // A position holds one CID, so the first indices are distinct.
        leaves.sort_unstable_by_key(|&(index, _)| index);
        let mut out: Vec<Cid> = nodes.into_iter().map(|(_, cid)| cid).collect();
        out.extend(leaves.into_iter().map(|(_, cid)| cid));
        out
    }

    /// Whether `cid` is known and not yet inserted.
    pub fn is_missing(&self, cid: &Cid) -> bool {
        match (self.nodes.get(cid), self.leaf_cids.get(cid)) {
            (Some(node), _) => node.links.is_none(),
            (None, Some(leaf)) => !leaf.inserted,
            (None, None) => false,
        }
    }

    /// Whether every internal node is in, so that every leaf position is known: no subtree
    /// still to be revealed can repeat a chunk.
    pub fn all_nodes_in(&self) -> bool {
        self.nodes.values().all(|e| e.links.is_some())
    }

    /// Whether `cid` is an internal node (dag-pb) of this asset.
    pub fn is_node(&self, cid: &Cid) -> bool {
        self.nodes.contains_key(cid)
    }

    /// Whether `cid` is a known leaf (raw block) of this asset.
    pub fn is_leaf(&self, cid: &Cid) -> bool {
        self.leaf_cids.contains_key(cid)
    }

    /// Indices of the known leaf positions `cid` fills, ascending (empty if not a leaf).
    pub fn leaf_indices(&self, cid: &Cid) -> &[usize] {
        self.leaf_cids.get(cid).map_or(&[], |e| &e.indices)
    }

    /// The leaf at `index`, if known.
    pub fn leaf(&self, index: usize) -> Option<&Leaf> {
        self.leaves
            .binary_search_by_key(&index, |l| l.index)
            .ok()
            .and_then(|i| self.leaves.get(i))
    }

    /// Verifies untrusted `data` against `cid`, then [`Self::insert`]s it. A block the layout
    /// is not waiting for is refused before it is hashed.
    pub fn insert_data(&mut self, cid: Cid, data: Bytes) -> Result<Inserted, LayoutError> {
        if !self.is_missing(&cid) {
            return Err(LayoutError::Unexpected(cid));
        }
        let block = Block::verify(cid, data)?;
        self.insert(&block)
    }

    /// Adds a verified block that [`Self::is_missing`].
    ///
    /// A block already inserted is [`LayoutError::Unexpected`] too: it is not waited for.
    /// On error the layout is unchanged.
    pub fn insert(&mut self, block: &Block) -> Result<Inserted, LayoutError> {
        let cid = *block.cid();
        if !self.is_missing(&cid) {
            return Err(LayoutError::Unexpected(cid));
        }
        if self.nodes.contains_key(&cid) {
            self.insert_node(block)
        } else {
            self.insert_leaf(block)
        }
    }

    /// File size, once the root has arrived.
    pub fn total_size(&self) -> Option<u64> {
        self.total_size
    }

    /// Leaves known so far, in file order.
    pub fn leaves(&self) -> &[Leaf] {
        &self.leaves
    }

    /// Known leaves overlapping the byte range.
    ///
    /// A raw root whose size is not known yet overlaps every non-empty range.
    pub fn leaves_in_range(&self, range: Range<u64>) -> &[Leaf] {
        if range.start >= range.end {
            return &[];
        }
        // Leaves are sorted and disjoint, so both their starts and their ends ascend.
        let first = self.leaves.partition_point(|l| l.end() <= range.start);
        let last = self.leaves.partition_point(|l| l.offset < range.end);
        self.leaves.get(first..last).unwrap_or(&[])
    }

    /// Whether every block has been inserted.
    pub fn is_complete(&self) -> bool {
        self.missing_count == 0
    }

    fn insert_leaf(&mut self, block: &Block) -> Result<Inserted, LayoutError> {
        let cid = *block.cid();
        let len = block.len() as u64;
        let Some(entry) = self.leaf_cids.get_mut(&cid) else {
            return Err(LayoutError::Unexpected(cid));
        };
        match entry.len {
            Some(expected) if expected != len => {
                return Err(malformed(
                    cid,
                    format!("leaf is {len} bytes, its parent says {expected}"),
                ));
            }
            Some(_) => {}
            None => {
                // The raw root: the asset is this one block.
                if len > self.max_size {
                    return Err(LayoutError::TooLarge {
                        root: self.root,
                        size: len,
                        max: self.max_size,
                    });
                }
                entry.len = Some(len);
                self.total_size = Some(len);
                for leaf in self.leaves.iter_mut().filter(|l| l.cid == cid) {
                    leaf.len = Some(len);
                }
            }
        }
        entry.inserted = true;
        self.missing_count -= 1;
        Ok(Inserted::Leaf {
            indices: entry.indices.clone(),
        })
    }

    fn insert_node(&mut self, block: &Block) -> Result<Inserted, LayoutError> {
        let cid = *block.cid();
        let node = decode_file_node(block.data()).map_err(|e| malformed(cid, e.to_string()))?;
        let Some(entry) = self.nodes.get(&cid) else {
            return Err(LayoutError::Unexpected(cid));
        };
        let mut positions = entry.positions.clone();
        positions.sort_by_key(|p| p.offset);
        let total = match self.total_size {
            Some(total) => total,
            None if node.filesize > self.max_size => {
                return Err(LayoutError::TooLarge {
                    root: self.root,
                    size: node.filesize,
                    max: self.max_size,
                });
            }
            None => node.filesize,
        };
        for pos in &positions {
            if let Some(size) = pos.size.filter(|&s| s != node.filesize) {
                return Err(malformed(
                    cid,
                    format!("node holds {} bytes, its parent says {size}", node.filesize),
                ));
            }
        }
        let expansion = self.expand(cid, &node.links, &positions, total)?;
        self.apply(cid, node.links, expansion, total)
    }

    /// Works out the children of node `cid` (with `links`) at each of its `positions`, and,
    /// below them, the children of any repeated subtree that has already arrived.
    fn expand(
        &self,
        cid: Cid,
        links: &[FileLink],
        positions: &[NodePos],
        total: u64,
    ) -> Result<Expansion, LayoutError> {
        let mut out = Expansion::default();
        let mut work: Vec<(Cid, NodePos)> = positions.iter().map(|p| (cid, *p)).collect();
        // Every expanded position holds at least one leaf, and no leaf lies under more than
        // MAX_DEPTH + 1 positions: a DAG needing more steps breaks a rule checked below.
        let max_leaves = total.div_ceil(CHUNK).max(1);
        let max_steps = max_leaves.saturating_mul(MAX_DEPTH as u64 + 1);
        let mut steps = 0u64;
        while let Some((parent, pos)) = work.pop() {
            steps += 1;
            if steps > max_steps {
                return Err(malformed(cid, "subtree expands beyond its size"));
            }
            let parent_links = if parent == cid {
                links
            } else {
                match self.nodes.get(&parent).and_then(|e| e.links.as_deref()) {
                    Some(l) => l,
                    None => continue,
                }
            };
            self.expand_one(cid, parent_links, pos, total, &mut out, &mut work)?;
        }
        Ok(out)
    }

    /// Places the children of one node position; repeated subtrees already in go to `work`.
    fn expand_one(
        &self,
        cid: Cid,
        links: &[FileLink],
        pos: NodePos,
        total: u64,
        out: &mut Expansion,
        work: &mut Vec<(Cid, NodePos)>,
    ) -> Result<(), LayoutError> {
        if pos.depth >= MAX_DEPTH {
            return Err(malformed(
                cid,
                format!("nodes deeper than {MAX_DEPTH} levels"),
            ));
        }
        let mut offset = pos.offset;
        for link in links {
            let child = link.cid;
            let size = link.size;
            let end = offset
                .checked_add(size)
                .filter(|&end| end <= total)
                .ok_or_else(|| malformed(cid, format!("child {child} ends past the file")))?;
            if size == 0 {
                return Err(malformed(cid, format!("child {child} is empty")));
            }
            let last = end == total;
            let kind = kind_of(&child).ok_or_else(|| {
                malformed(
                    cid,
                    format!("child {child} is neither a raw leaf nor a file node"),
                )
            })?;
            let fits = match kind {
                Kind::Leaf => size == CHUNK || (last && size < CHUNK),
                Kind::Node => last || size % CHUNK == 0,
            };
            if !fits {
                return Err(malformed(
                    cid,
                    format!(
                        "child {child} at offset {offset} holds {size} bytes, \
                         breaking the {CHUNK}-byte chunking"
                    ),
                ));
            }
            let known = match kind {
                Kind::Leaf => self.leaf_cids.get(&child).and_then(|e| e.len),
                Kind::Node => self
                    .nodes
                    .get(&child)
                    .and_then(|e| e.positions.first())
                    .and_then(|p| p.size),
            };
            if let Some(claimed) = known.or_else(|| out.claims.get(&child).copied()) {
                if claimed != size {
                    return Err(malformed(
                        cid,
                        format!("child {child} said to hold {size} bytes, elsewhere {claimed}"),
                    ));
                }
            }
            let is_known = self.leaf_cids.contains_key(&child) || self.nodes.contains_key(&child);
            if !is_known && out.claims.insert(child, size).is_none() {
                out.new_cids.push((offset, child));
            }
            match kind {
                Kind::Leaf => {
                    let index = usize::try_from(offset / CHUNK)
                        .map_err(|_| malformed(cid, "leaf index out of range"))?;
                    out.leaves.push(Leaf {
                        index,
                        cid: child,
                        offset,
                        len: Some(size),
                    });
                }
                Kind::Node => {
                    if pos.depth + 1 >= MAX_DEPTH {
                        return Err(malformed(
                            cid,
                            format!("child node {child} is more than {MAX_DEPTH} levels deep"),
                        ));
                    }
                    let child_pos = NodePos {
                        offset,
                        size: Some(size),
                        depth: pos.depth + 1,
                    };
                    out.node_positions.push((child, child_pos));
                    let arrived = self.nodes.get(&child).is_some_and(|e| e.links.is_some());
                    if arrived || child == cid {
                        work.push((child, child_pos));
                    }
                }
            }
            offset = end;
        }
        Ok(())
    }

    /// Commits an expansion of node `cid`.
    fn apply(
        &mut self,
        cid: Cid,
        links: Vec<FileLink>,
        mut expansion: Expansion,
        total: u64,
    ) -> Result<Inserted, LayoutError> {
        expansion.leaves.sort_by_key(|l| l.index);
        let clash = expansion
            .leaves
            .windows(2)
            .any(|w| w[0].index == w[1].index)
            || expansion
                .leaves
                .iter()
                .any(|l| self.leaf(l.index).is_some());
        if clash {
            return Err(malformed(cid, "two leaves at the same position"));
        }
        for (child, pos) in expansion.node_positions {
            let entry = self.nodes.entry(child).or_insert_with(|| {
                self.missing_count += 1;
                NodeEntry {
                    positions: Vec::new(),
                    links: None,
                }
            });
            entry.positions.push(pos);
        }
        let mut touched = BTreeSet::new();
        for leaf in &expansion.leaves {
            let entry = self.leaf_cids.entry(leaf.cid).or_insert_with(|| {
                self.missing_count += 1;
                LeafEntry {
                    len: leaf.len,
                    inserted: false,
                    indices: Vec::new(),
                }
            });
            entry.indices.push(leaf.index);
            touched.insert(leaf.cid);
        }
        for cid in touched {
            if let Some(entry) = self.leaf_cids.get_mut(&cid) {
                entry.indices.sort_unstable();
            }
        }
        self.leaves.extend(expansion.leaves);
        self.leaves.sort_by_key(|l| l.index);
        if let Some(entry) = self.nodes.get_mut(&cid) {
            entry.links = Some(links);
        }
        self.missing_count -= 1;
        self.total_size = Some(total);
        expansion.new_cids.sort_by_key(|(offset, _)| *offset);
        Ok(Inserted::Node {
            new_children: expansion.new_cids.into_iter().map(|(_, c)| c).collect(),
        })
    }
}
