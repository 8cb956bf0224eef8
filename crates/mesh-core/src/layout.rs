//! Walking an untrusted DAG from its root.
//!
//! INTERFACE SKELETON: bodies to be implemented (owner: dag helper).

use std::ops::Range;

use crate::block::{Block, VerifyError};
use cid::Cid;

/// One leaf of an asset: a raw block and where its bytes sit in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    /// Position among the leaves, in file order.
    pub index: usize,
    /// The leaf's CID.
    pub cid: Cid,
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// Its length; `None` only for a raw root that has not arrived (its size is its own).
    pub len: Option<u64>,
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

/// The known shape of an asset being fetched.
#[derive(Debug, Clone)]
pub struct AssetLayout {}

impl AssetLayout {
    /// A layout knowing only its root; assets over `max_size` bytes are refused.
    pub fn new(_root: Cid, _max_size: u64) -> Result<Self, LayoutError> {
        todo!()
    }

    /// The root CID.
    pub fn root(&self) -> &Cid {
        todo!()
    }

    /// Blocks known by CID but not inserted: internal nodes first, then leaves in file order;
    /// each CID once.
    pub fn missing(&self) -> Vec<Cid> {
        todo!()
    }

    /// Whether `cid` is known and not yet inserted.
    pub fn is_missing(&self, _cid: &Cid) -> bool {
        todo!()
    }

    /// Whether `cid` is an internal node (dag-pb) of this asset.
    pub fn is_node(&self, _cid: &Cid) -> bool {
        todo!()
    }

    /// Adds a verified block that [`Self::is_missing`].
    pub fn insert(&mut self, _block: &Block) -> Result<Inserted, LayoutError> {
        todo!()
    }

    /// File size, once the root has arrived.
    pub fn total_size(&self) -> Option<u64> {
        todo!()
    }

    /// Leaves known so far, in file order.
    pub fn leaves(&self) -> &[Leaf] {
        todo!()
    }

    /// Known leaves overlapping the byte range.
    pub fn leaves_in_range(&self, _range: Range<u64>) -> &[Leaf] {
        todo!()
    }

    /// Whether every block has been inserted.
    pub fn is_complete(&self) -> bool {
        todo!()
    }
}
