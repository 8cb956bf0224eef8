//! A block as it reaches the planner: bytes from the wire still to verify, or a [`Block`]
//! whose bytes this process has already verified (see [`Planner::handle_verified_block`]).
//!
//! [`Planner::handle_verified_block`]: super::Planner::handle_verified_block

use bytes::Bytes;
use cid::Cid;

use crate::block::{Block, VerifyError, verify_block};

pub(super) enum Incoming {
    Unverified { cid: Cid, data: Bytes },
    Verified(Block),
}

impl Incoming {
    pub(super) fn cid(&self) -> &Cid {
        match self {
            Self::Unverified { cid, .. } => cid,
            Self::Verified(block) => block.cid(),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Unverified { data, .. } => data.len(),
            Self::Verified(block) => block.len(),
        }
    }

    /// Whether the bytes hash to the CID (hashing them if that is not known yet).
    pub(super) fn is_genuine(&self) -> bool {
        match self {
            Self::Unverified { cid, data } => verify_block(cid, data).is_ok(),
            Self::Verified(_) => true,
        }
    }

    /// The block, once its bytes are proven.
    pub(super) fn verify(self) -> Result<Block, VerifyError> {
        match self {
            Self::Unverified { cid, data } => Block::verify(cid, data),
            Self::Verified(block) => Ok(block),
        }
    }
}
