//! The assets of a run: real bytes, real DAGs.
//!
//! Every asset is deterministic pseudo-random content of its modeled size, chunked once with
//! mesh-core's own DAG builder, so the CIDs are the ones kubo would print and the planner
//! verifies every block exactly as it would in a browser. Blocks are `Bytes`: every peer that
//! holds a block shares the one allocation made here.
//!
//! Messages between simulated peers name blocks by [`BlockRef`] (two integers) rather than by
//! CID (96 bytes), which keeps the event queue small.

use std::ops::Range;

use bytes::Bytes;
use mesh_core::Cid;
use mesh_core::block::{Block, RAW_CODEC};
use mesh_core::dag::build_dag;
use mesh_core::known::KnownBlocks;
use rustc_hash::FxHashMap;

use crate::rng::{Purpose, Stream};
use crate::scenario::Workload;

/// A block of the catalogue: which asset, which of its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BlockRef {
    pub(crate) asset: u32,
    pub(crate) block: u32,
}

/// One asset.
#[derive(Debug)]
pub(crate) struct Asset {
    pub(crate) root: Cid,
    pub(crate) size: u64,
    /// Every block of the DAG, each once.
    pub(crate) blocks: Vec<Block>,
    /// The raw leaves in file order: their offset and index in `blocks`.
    leaves: Vec<(u64, u32)>,
}

/// Why a catalogue could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The DAG's leaves do not tile the file (repeated chunks were deduplicated).
    #[error("asset {index}: leaves cover {covered} of {size} bytes")]
    Leaves {
        /// The asset.
        index: u32,
        /// Bytes the leaves cover.
        covered: u64,
        /// File size.
        size: u64,
    },
}

/// All assets and a CID index.
#[derive(Debug)]
pub(crate) struct Catalogue {
    pub(crate) assets: Vec<Asset>,
    /// Looked up on every message: Fx hashing, since a CID's digest is already random.
    index: FxHashMap<Cid, BlockRef>,
}

impl Catalogue {
    /// Builds the workload's assets under `seed`.
    pub(crate) fn build(seed: u64, workload: &Workload) -> Result<Self, ContentError> {
        let mut sizes = Stream::new(seed, Purpose::Content, u64::MAX);
        let sizes: Vec<u64> = match workload {
            Workload::Site {
                assets, size_kb, ..
            } => (0..*assets)
                .map(|_| ((size_kb.sample(&mut sizes) * 1024.0) as u64).max(1))
                .collect(),
            Workload::LargeFile { size_mb } => vec![((size_mb * 1_048_576.0) as u64).max(1)],
        };
        let mut assets = Vec::with_capacity(sizes.len());
        let mut index = FxHashMap::default();
        let mut buf = Vec::new();
        for (i, size) in sizes.into_iter().enumerate() {
            let i = i as u32;
            buf.resize(size as usize, 0);
            Stream::new(seed, Purpose::Content, u64::from(i)).fill(&mut buf);
            let dag = build_dag(&buf);
            let mut leaves = Vec::new();
            let mut offset = 0;
            for (b, block) in dag.blocks.iter().enumerate() {
                index.insert(
                    *block.cid(),
                    BlockRef {
                        asset: i,
                        block: b as u32,
                    },
                );
                if block.cid().codec() == RAW_CODEC {
                    leaves.push((offset, b as u32));
                    offset += block.len() as u64;
                }
            }
            if offset != size {
                return Err(ContentError::Leaves {
                    index: i,
                    covered: offset,
                    size,
                });
            }
            assets.push(Asset {
                root: dag.root.cid,
                size,
                blocks: dag.blocks,
                leaves,
            });
        }
        Ok(Self { assets, index })
    }

    /// Every block of every asset, for planners to recognise without hashing: their bytes are
    /// the ones the DAG builder hashed to their CIDs, shared by reference wherever they go.
    pub(crate) fn known_blocks(&self) -> KnownBlocks {
        KnownBlocks::new(self.assets.iter().flat_map(|a| a.blocks.iter().cloned()))
    }

    /// Which block a CID is, if it belongs to the catalogue.
    pub(crate) fn lookup(&self, cid: &Cid) -> Option<BlockRef> {
        self.index.get(cid).copied()
    }

    /// The block.
    pub(crate) fn block(&self, r: BlockRef) -> &Block {
        &self.assets[r.asset as usize].blocks[r.block as usize]
    }

    /// The next piece of an origin body for `range` of `asset`, starting at `pos`: up to the end
    /// of the leaf holding `pos` (so a piece is a slice of one shared leaf, never a copy).
    pub(crate) fn piece(&self, asset: u32, pos: u64, range: &Range<u64>) -> Bytes {
        let a = &self.assets[asset as usize];
        let end = range.end.min(a.size);
        if pos >= end {
            return Bytes::new();
        }
        let i = a.leaves.partition_point(|&(off, _)| off <= pos) - 1;
        let (off, b) = a.leaves[i];
        let data = a.blocks[b as usize].data();
        let from = (pos - off) as usize;
        let to = (end - off).min(data.len() as u64) as usize;
        data.slice(from..to)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dist::Dist;
    use mesh_core::block::CHUNK_SIZE;

    #[test]
    fn pieces_rebuild_the_file_and_blocks_are_indexed() {
        let w = Workload::LargeFile {
            size_mb: 2.5 * CHUNK_SIZE as f64 / 1_048_576.0,
        };
        let c = Catalogue::build(9, &w).unwrap();
        let a = &c.assets[0];
        assert_eq!(a.size, (2.5 * CHUNK_SIZE as f64) as u64);
        let range = 100..a.size - 7;
        let mut pos = range.start;
        let mut body = Vec::new();
        while pos < range.end {
            let p = c.piece(0, pos, &range);
            assert!(!p.is_empty() && p.len() <= CHUNK_SIZE);
            pos += p.len() as u64;
            body.extend_from_slice(&p);
        }
        let mut whole = Vec::new();
        let mut pos = 0;
        while pos < a.size {
            let p = c.piece(0, pos, &(0..a.size));
            pos += p.len() as u64;
            whole.extend_from_slice(&p);
        }
        assert_eq!(mesh_core::dag::build_dag(&whole).root.cid, a.root);
        assert_eq!(body, whole[100..whole.len() - 7]);
        for block in &a.blocks {
            let r = c.lookup(block.cid()).unwrap();
            assert_eq!(c.block(r), block);
        }
    }

    #[test]
    fn site_catalogue_is_deterministic_and_distinct() {
        let w = Workload::Site {
            assets: 20,
            zipf_s: 1.0,
            size_kb: Dist::LogNormal {
                median: 8.0,
                sigma: 1.0,
                max: None,
            },
            assets_per_view: 3,
            view_interval_s: Dist::Fixed(10.0),
        };
        let a = Catalogue::build(4, &w).unwrap();
        let b = Catalogue::build(4, &w).unwrap();
        let roots: Vec<Cid> = a.assets.iter().map(|x| x.root).collect();
        assert_eq!(roots, b.assets.iter().map(|x| x.root).collect::<Vec<_>>());
        let mut unique = roots.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 20);
    }
}
