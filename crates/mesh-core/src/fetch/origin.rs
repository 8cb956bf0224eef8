//! Turning origin HTTP bodies into verified blocks.
//!
//! The origin is a plain static file server (a CDN): it serves file bytes, not blocks, and it is
//! not trusted more than a peer. Two request shapes keep every released byte verified:
//!
//! * **Leaves**: a byte range covering leaves whose CIDs the layout already knows. Each leaf is
//!   cut from the body and checked against its CID as soon as its last byte arrives.
//! * **Whole**: the whole file, when the DAG's nodes are not known yet (nobody delivered the
//!   root). The body is re-chunked with the same [`DagBuilder`] that made the CID. A leaf whose
//!   CID the layout knows by then is checked at once; the others are held until the rebuilt root
//!   equals the requested one, which proves every held block at once. Single-block assets, most
//!   web assets, are verified the moment their body ends either way.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use cid::Cid;

use super::Config;
use super::types::OriginError;
use crate::block::{Block, RAW_CODEC, Sha256Digest};
use crate::dag::DagBuilder;
use crate::known::KnownBlocks;
use crate::layout::AssetLayout;
use crate::time::Instant;

/// A leaf expected in a range body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpectedLeaf {
    pub(crate) cid: Cid,
    pub(crate) len: u64,
}

#[derive(Debug)]
enum Body {
    Leaves {
        pending: VecDeque<ExpectedLeaf>,
        buf: BytesMut,
    },
    Whole {
        builder: DagBuilder,
        /// Blocks computed from origin bytes that nothing has vouched for yet, leaves with their
        /// offset in the file.
        held: Vec<(Option<u64>, Block)>,
        /// Offset of the next leaf the builder will emit.
        leaf_offset: u64,
    },
}

/// One origin request in progress.
#[derive(Debug)]
pub(crate) struct OriginRequest {
    pub(crate) started: Instant,
    pub(crate) first_byte: Option<Instant>,
    pub(crate) received: u64,
    /// Leaves this request was planned to cover, released when it ends.
    pub(crate) covers: Vec<Cid>,
    body: Body,
}

impl OriginRequest {
    pub(crate) fn leaves(now: Instant, leaves: Vec<ExpectedLeaf>) -> Self {
        Self {
            started: now,
            first_byte: None,
            received: 0,
            covers: leaves.iter().map(|l| l.cid).collect(),
            body: Body::Leaves {
                pending: leaves.into(),
                buf: BytesMut::new(),
            },
        }
    }

    /// `known`: leaves to recognise instead of hashing ([`crate::known`]).
    pub(crate) fn whole(now: Instant, known: &KnownBlocks) -> Self {
        Self {
            started: now,
            first_byte: None,
            received: 0,
            covers: Vec::new(),
            body: Body::Whole {
                builder: DagBuilder::with_known(known.clone()),
                held: Vec::new(),
                leaf_offset: 0,
            },
        }
    }

    pub(crate) fn is_whole(&self) -> bool {
        matches!(self.body, Body::Whole { .. })
    }

    /// Takes the held blocks of a whole-file body that `layout` now vouches for (it learnt the
    /// DAG's nodes from a peer meanwhile), so nothing already received is lost when the request
    /// is cancelled. A held block the layout contradicts is dropped, not an error: a cancelled
    /// body's remains are worth nothing either way.
    pub(crate) fn salvage(&mut self, layout: &AssetLayout) -> Vec<Block> {
        let Body::Whole { held, .. } = &mut self.body else {
            return Vec::new();
        };
        let leaves = layout.leaves();
        let mut proved = Vec::new();
        for (offset, block) in std::mem::take(held) {
            let vouched = match offset {
                None => layout.is_missing(block.cid()),
                Some(offset) => leaves
                    .binary_search_by_key(&offset, |l| l.offset)
                    .is_ok_and(|i| leaves[i].cid == *block.cid() && layout.is_missing(block.cid())),
            };
            if vouched {
                proved.push(block);
            }
        }
        proved
    }

    /// Takes the next piece of the body and returns the blocks it proved. With `digest`, the
    /// piece is meant to be one leaf and `digest` its SHA-256 (see
    /// [`Planner::handle_origin_leaf`](super::Planner::handle_origin_leaf)): used where the
    /// piece is exactly the leaf expected next, hashed here otherwise.
    pub(crate) fn feed(
        &mut self,
        now: Instant,
        mut data: Bytes,
        digest: Option<&Sha256Digest>,
        layout: &AssetLayout,
        config: &Config,
    ) -> Result<Vec<Block>, OriginError> {
        let max_size = config.max_asset_size;
        self.first_byte.get_or_insert(now);
        self.received += data.len() as u64;
        if self.received > max_size {
            return Err(OriginError::TooLarge { max: max_size });
        }
        if let Some(total) = layout.total_size()
            && self.is_whole()
            && self.received > total
        {
            return Err(OriginError::Overlong);
        }
        let mut proved = Vec::new();
        match &mut self.body {
            Body::Leaves { pending, buf } => {
                // The digest is of the whole piece: of use only for a leaf that is all of it.
                let mut digest = digest;
                while let Some(next) = pending.front().copied() {
                    let len = usize::try_from(next.len).unwrap_or(usize::MAX);
                    // The piece is this leaf, with its digest: no hashing.
                    if let Some(digest) = digest.take()
                        && buf.is_empty()
                        && data.len() == len
                    {
                        let block = Block::verify_digested(next.cid, data.split_off(0), digest);
                        proved.push(block.map_err(OriginError::Verify)?);
                        pending.pop_front();
                        continue;
                    }
                    let bytes = if buf.is_empty() && data.len() >= len {
                        // The whole leaf is in this piece: slice it out, no copy.
                        data.split_to(len)
                    } else {
                        let take = (len - buf.len()).min(data.len());
                        buf.extend_from_slice(&data.split_to(take));
                        if buf.len() < len {
                            break;
                        }
                        buf.split_to(len).freeze()
                    };
                    let block = config.known_blocks.verify(next.cid, bytes, None);
                    proved.push(block.map_err(OriginError::Verify)?);
                    pending.pop_front();
                }
                if pending.is_empty() && !(buf.is_empty() && data.is_empty()) {
                    return Err(OriginError::Overlong);
                }
            }
            Body::Whole {
                builder,
                held,
                leaf_offset,
            } => {
                let mut emitted = Vec::new();
                match digest {
                    Some(digest) => builder.push_digested(data, *digest, &mut |b| emitted.push(b)),
                    None => builder.push_bytes(data, &mut |b| emitted.push(b)),
                }
                for block in emitted {
                    vouch(block, layout, leaf_offset, held, &mut proved)?;
                }
            }
        }
        Ok(proved)
    }

    /// The body ended: returns what it proved last, or why it is not acceptable.
    pub(crate) fn finish(
        self,
        layout: &AssetLayout,
        root: &Cid,
    ) -> Result<Vec<Block>, OriginError> {
        match self.body {
            Body::Leaves { pending, .. } => {
                if pending.is_empty() {
                    Ok(Vec::new())
                } else {
                    Err(OriginError::Truncated)
                }
            }
            Body::Whole {
                builder,
                mut held,
                mut leaf_offset,
            } => {
                let mut emitted = Vec::new();
                let built = builder.finish(&mut |b| emitted.push(b));
                let mut proved = Vec::new();
                for block in emitted {
                    vouch(block, layout, &mut leaf_offset, &mut held, &mut proved)?;
                }
                if built.cid != *root {
                    return Err(OriginError::RootMismatch {
                        expected: *root,
                        actual: built.cid,
                    });
                }
                // The root matches, so every held block is part of the requested DAG. The
                // builder emits parents after children: reversed, nodes come top-down, which is
                // the order a layout can take them in.
                let (mut nodes, leaves): (Vec<Block>, Vec<Block>) = held
                    .into_iter()
                    .map(|(_, b)| b)
                    .partition(|b| b.cid().codec() != RAW_CODEC);
                nodes.reverse();
                proved.extend(nodes);
                proved.extend(leaves);
                Ok(proved)
            }
        }
    }
}

/// Decides what a block rebuilt from origin bytes is worth right now: proved if the layout
/// already knows its CID at that place, a lie if the layout knows a different CID there, held
/// otherwise.
fn vouch(
    block: Block,
    layout: &AssetLayout,
    leaf_offset: &mut u64,
    held: &mut Vec<(Option<u64>, Block)>,
    proved: &mut Vec<Block>,
) -> Result<(), OriginError> {
    if block.cid().codec() != RAW_CODEC {
        if layout.is_missing(block.cid()) {
            proved.push(block);
        } else {
            held.push((None, block));
        }
        return Ok(());
    }
    let offset = *leaf_offset;
    *leaf_offset += block.len() as u64;
    let leaves = layout.leaves();
    match leaves.binary_search_by_key(&offset, |l| l.offset) {
        Ok(i) if leaves[i].cid == *block.cid() => proved.push(block),
        Ok(i) => {
            return Err(OriginError::LeafMismatch {
                offset,
                expected: leaves[i].cid,
                actual: *block.cid(),
            });
        }
        Err(_) => held.push((Some(offset), block)),
    }
    Ok(())
}
