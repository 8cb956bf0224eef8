//! Chunking files into kubo-identical DAGs.
//!
//! INTERFACE SKELETON: bodies to be implemented (owner: dag helper).

use crate::block::Block;
use cid::Cid;

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
#[derive(Debug, Default)]
pub struct DagBuilder {}

impl DagBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        todo!()
    }

    /// Feeds the next bytes of the file; finished blocks go to `sink`.
    pub fn push(&mut self, _data: &[u8], _sink: &mut impl FnMut(Block)) {
        todo!()
    }

    /// Flushes the last leaf and the open nodes; returns the root.
    pub fn finish(self, _sink: &mut impl FnMut(Block)) -> DagRoot {
        todo!()
    }
}

/// Builds the whole DAG of `data`.
pub fn build_dag(_data: &[u8]) -> Dag {
    todo!()
}

/// The CID of `data`, as `ipfs add --cid-version 1` prints it.
pub fn cid_of(_data: &[u8]) -> Cid {
    todo!()
}
