//! Blocks: the unit of transfer and verification.
//!
//! A [`Block`] can only be made from bytes whose hash matches its CID, so holding one is proof
//! that it was verified. Everything that crosses a trust boundary (peer, origin, cache) enters
//! as raw bytes plus a claimed CID and leaves as a `Block` or a [`VerifyError`].

use bytes::Bytes;
use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

/// Leaf size of the UnixFS layout (kubo's default fixed-size chunker).
pub const CHUNK_SIZE: usize = 262_144;
/// Most links in one dag-pb node of the balanced layout (kubo's default).
pub const MAX_LINKS: usize = 174;
/// Largest block we ever accept from anyone. Leaves are at most [`CHUNK_SIZE`]; dag-pb nodes of
/// our layout are under 16 KiB. The cap matches the IPFS ecosystem's 1 MiB block limit.
pub const MAX_BLOCK_SIZE: usize = 1 << 20;

/// Multicodec code of raw binary blocks.
pub const RAW_CODEC: u64 = 0x55;
/// Multicodec code of dag-pb (UnixFS) nodes.
pub const DAG_PB_CODEC: u64 = 0x70;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;

/// Why a block was rejected. The sender of a block that fails with anything but
/// [`VerifyError::Unsupported`] sent bad data and is penalised for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The CID uses a codec or hash we do not speak; nobody is at fault.
    #[error("unsupported CID {cid}: codec {codec:#x}, hash {hash:#x}")]
    Unsupported {
        /// The CID asked for.
        cid: Cid,
        /// Its multicodec.
        codec: u64,
        /// Its multihash code.
        hash: u64,
    },
    /// The bytes hash to something else.
    #[error("block does not match {expected}: its bytes hash to {actual}")]
    HashMismatch {
        /// The CID the sender claimed.
        expected: Cid,
        /// The CID of the bytes received.
        actual: Cid,
    },
    /// Larger than [`MAX_BLOCK_SIZE`].
    #[error("block for {cid} is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The CID the sender claimed.
        cid: Cid,
        /// Bytes received.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// A block whose bytes are known to hash to its CID.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Bytes,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("cid", &self.cid.to_string())
            .field("len", &self.data.len())
            .finish()
    }
}

impl Block {
    /// Checks untrusted `data` against `cid` and wraps it on success.
    pub fn verify(cid: Cid, data: Bytes) -> Result<Self, VerifyError> {
        verify_block(&cid, &data)?;
        Ok(Self { cid, data })
    }

    /// [`Block::verify`] with the bytes' SHA-256 computed already (see [`Sha256Digest`]).
    pub fn verify_digested(
        cid: Cid,
        data: Bytes,
        digest: &Sha256Digest,
    ) -> Result<Self, VerifyError> {
        verify_digest(&cid, data.len(), digest)?;
        Ok(Self { cid, data })
    }

    /// Hashes `data` and names it with a CIDv1 of `codec`. Used by the DAG builder, whose
    /// bytes are ours, so there is nothing to verify.
    pub fn from_data(codec: u64, data: Bytes) -> Self {
        let cid = cid_for(codec, &data);
        Self { cid, data }
    }

    /// Wraps bytes whose CID the caller just computed from these very bytes (the DAG builder
    /// hashes a chunk while it is hot in cache, then copies it).
    pub(crate) fn from_hashed(cid: Cid, data: Bytes) -> Self {
        debug_assert!(
            verify_block(&cid, &data).is_ok(),
            "CID computed from other bytes"
        );
        Self { cid, data }
    }

    /// Names `data` with a CIDv1 of `codec` over `digest`, its SHA-256 as the shell computed
    /// it (see [`Sha256Digest`]): what [`Block::from_data`] gives, without hashing here. A
    /// wrong digest gives a block under a CID nobody asked for, which is then refused as any
    /// mismatch is.
    pub(crate) fn from_digest(codec: u64, data: Bytes, digest: &Sha256Digest) -> Self {
        Self {
            cid: cid_from_digest(codec, digest.as_bytes()),
            data,
        }
    }

    /// The block's CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The verified bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the block holds no bytes (the CID of the empty file is one).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Gives up the parts.
    pub fn into_parts(self) -> (Cid, Bytes) {
        (self.cid, self.data)
    }
}

/// CIDv1 of `codec` over the sha2-256 of `data`.
pub fn cid_for(codec: u64, data: &[u8]) -> Cid {
    cid_from_digest(codec, Sha256Digest::of(data).as_bytes())
}

/// CIDv1 of `codec` from an already computed sha2-256 digest.
pub fn cid_from_digest(codec: u64, digest: &[u8]) -> Cid {
    // A 32-byte digest always fits the 64-byte multihash: the expect is an invariant.
    let mh = Multihash::<64>::wrap(SHA2_256, digest).expect("sha2-256 digest fits a multihash");
    Cid::new_v1(codec, mh)
}

/// Checks `data` against `cid`: size cap, supported codec and hash, then the digest.
pub fn verify_block(cid: &Cid, data: &[u8]) -> Result<(), VerifyError> {
    check_claim(cid, data.len())?;
    check_digest(cid, &Sha256Digest::of(data))
}

/// [`verify_block`] with the SHA-256 of the bytes already computed: checks a block of `len`
/// bytes whose digest is `digest` against `cid` (see [`Sha256Digest`] for who computes it).
pub fn verify_digest(cid: &Cid, len: usize, digest: &Sha256Digest) -> Result<(), VerifyError> {
    check_claim(cid, len)?;
    check_digest(cid, digest)
}

/// What can be checked without the bytes: the size cap, then the codec and the hash.
fn check_claim(cid: &Cid, len: usize) -> Result<(), VerifyError> {
    if len > MAX_BLOCK_SIZE {
        return Err(VerifyError::TooLarge {
            cid: *cid,
            size: len,
            max: MAX_BLOCK_SIZE,
        });
    }
    let (codec, hash) = (cid.codec(), cid.hash().code());
    if !matches!(codec, RAW_CODEC | DAG_PB_CODEC) || hash != SHA2_256 || cid.hash().size() != 32 {
        return Err(VerifyError::Unsupported {
            cid: *cid,
            codec,
            hash,
        });
    }
    Ok(())
}

fn check_digest(cid: &Cid, digest: &Sha256Digest) -> Result<(), VerifyError> {
    if cid.hash().digest() != digest.0.as_slice() {
        return Err(VerifyError::HashMismatch {
            expected: *cid,
            actual: cid_from_digest(cid.codec(), &digest.0),
        });
    }
    Ok(())
}

/// The SHA-256 of a block's bytes, computed before the block reaches the planner.
///
/// Why it exists: a shell may have a faster SHA-256 than this crate's. In a browser, WebCrypto's
/// `digest` is native code (SHA instructions where the CPU has them), about 7× the speed of
/// sha2 compiled to wasm on the machines we measure, but asynchronous, and the planner is not.
/// So the shell hashes a received block first and hands the planner the bytes with their
/// digest ([`Planner::handle_digested_block`](crate::fetch::Planner::handle_digested_block)),
/// which then compares the digest with the CID instead of hashing.
///
/// The planner trusts a digest as it trusts its own hash function: a shell must compute it
/// from exactly the bytes it hands over, with a correct SHA-256. [`Sha256Digest::of`] is
/// this crate's; [`Sha256Digest::from_computed`] wraps one computed elsewhere.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The SHA-256 of `data`, computed here.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// A digest the caller computed with a correct SHA-256 from exactly the bytes it hands
    /// over with it (see the type's docs).
    pub fn from_computed(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256Digest(")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}
