//! Blocks this process already holds, recognised by the identity of their bytes instead of
//! being hashed again.
//!
//! A [`Block`]'s bytes are an immutable, shared `Bytes`: while one handle to them lives, the
//! memory cannot change or be reused. So bytes at the same address and of the same length as
//! a held block's *are* that block's bytes, proven by the hash that made the block, and
//! checking them again could only give the same answer. [`KnownBlocks`] holds such blocks (and
//! so keeps their memory alive) and answers "is this that block?" without hashing.
//!
//! Who uses it: the simulator runs thousands of planners over one catalogue whose blocks it
//! passes around by reference (peers serve them from their stores, the origin's bodies are
//! slices of them); it registers the catalogue with [`Config::with_known_blocks`] and every
//! planner takes the same decisions it would after hashing those bytes. A real node leaves the
//! set empty: what arrives from a socket or an HTTP body is a fresh allocation, and is hashed.
//! Any bytes not in the set (a copy, a slice of a different length, other content) are
//! verified as usual.
//!
//! [`Config::with_known_blocks`]: crate::fetch::Config::with_known_blocks

use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use rustc_hash::FxHashMap;

use crate::block::{Block, RAW_CODEC, Sha256Digest, VerifyError, verify_block, verify_digest};

/// A set of held blocks, found by the address and length of their bytes. Cheap to clone
/// (shared); empty by default.
#[derive(Clone, Default)]
pub struct KnownBlocks {
    by_bytes: Option<Arc<FxHashMap<(usize, usize), Block>>>,
}

impl KnownBlocks {
    /// Holds `blocks` (their memory stays alive as long as any clone of the set).
    pub fn new(blocks: impl IntoIterator<Item = Block>) -> Self {
        let map: FxHashMap<_, _> = blocks
            .into_iter()
            .map(|b| (identity(b.data()), b))
            .collect();
        Self {
            by_bytes: (!map.is_empty()).then(|| Arc::new(map)),
        }
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.by_bytes.as_ref().map_or(0, |m| m.len())
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The held block whose bytes `data` is, if any.
    fn get(&self, data: &Bytes) -> Option<&Block> {
        self.by_bytes.as_ref()?.get(&identity(data))
    }

    /// [`Block::verify`], without hashing bytes that are a held block of that CID, nor bytes
    /// whose `digest` the caller computed already.
    pub(crate) fn verify(
        &self,
        cid: Cid,
        data: Bytes,
        digest: Option<&Sha256Digest>,
    ) -> Result<Block, VerifyError> {
        match (self.get(&data), digest) {
            (Some(held), _) if *held.cid() == cid => Ok(held.clone()),
            (_, Some(digest)) => Block::verify_digested(cid, data, digest),
            _ => Block::verify(cid, data),
        }
    }

    /// Whether `data` hashes to `cid` ([`verify_block`] succeeds), without hashing bytes that
    /// are a held block of that CID, nor bytes whose `digest` the caller computed already.
    pub(crate) fn is_genuine(
        &self,
        cid: &Cid,
        data: &Bytes,
        digest: Option<&Sha256Digest>,
    ) -> bool {
        self.get(data).is_some_and(|held| held.cid() == cid)
            || match digest {
                Some(digest) => verify_digest(cid, data.len(), digest).is_ok(),
                None => verify_block(cid, data).is_ok(),
            }
    }

    /// The raw leaf of `data`, as [`Block::from_data`] with [`RAW_CODEC`] would make it.
    pub(crate) fn raw_leaf(&self, data: Bytes) -> Block {
        match self.get(&data) {
            Some(held) if held.cid().codec() == RAW_CODEC => held.clone(),
            _ => Block::from_data(RAW_CODEC, data),
        }
    }
}

fn identity(data: &Bytes) -> (usize, usize) {
    (data.as_ptr() as usize, data.len())
}

impl std::fmt::Debug for KnownBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownBlocks")
            .field("blocks", &self.len())
            .finish()
    }
}

/// Two sets are equal when they are the same set (or both empty): comparing contents would
/// mean comparing allocations, which is what the set exists to avoid.
impl PartialEq for KnownBlocks {
    fn eq(&self, other: &Self) -> bool {
        match (&self.by_bytes, &other.by_bytes) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dag::cid_of;

    #[test]
    fn identity_not_content_decides() {
        let block = Block::from_data(RAW_CODEC, Bytes::from(vec![7u8; 100]));
        let known = KnownBlocks::new([block.clone()]);
        assert_eq!(known.len(), 1);
        let cid = *block.cid();
        let same = known.verify(cid, block.data().clone(), None).unwrap();
        assert_eq!(same.data().as_ptr(), block.data().as_ptr());
        // Equal content elsewhere is hashed (and passes); a shorter slice of the same memory
        // is other bytes (and fails).
        let copy = known
            .verify(cid, Bytes::from(vec![7u8; 100]), None)
            .unwrap();
        assert_ne!(copy.data().as_ptr(), block.data().as_ptr());
        assert!(known.verify(cid, block.data().slice(..99), None).is_err());
        assert!(!known.is_genuine(&cid, &block.data().slice(1..), None));
        assert!(known.is_genuine(&cid, block.data(), None));
        // The held bytes under another CID are not that CID's block.
        let other = cid_of(b"other");
        assert!(known.verify(other, block.data().clone(), None).is_err());
        assert!(!known.is_genuine(&other, block.data(), None));
        assert_eq!(known.raw_leaf(block.data().clone()).cid(), &cid);
    }

    #[test]
    fn the_empty_set_is_one_value() {
        assert_eq!(KnownBlocks::default(), KnownBlocks::new([]));
        assert!(KnownBlocks::default().is_empty());
        let a = KnownBlocks::new([Block::from_data(RAW_CODEC, Bytes::from_static(b"x"))]);
        assert_eq!(a, a.clone());
        assert_ne!(a, KnownBlocks::default());
    }
}
