//! Why a message could not be encoded or decoded.

use super::message::MessageKind;

/// A message that cannot be encoded, or bytes that are not a valid frame.
///
/// Decoding errors fall in two groups (see [`WireError::is_framing`]): errors in the length
/// prefix leave the buffer untouched and the stream unusable, since the end of the frame is
/// unknown; errors in the body come after the whole frame was consumed, so the next
/// [`decode`](super::decode) call resumes at the following frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The body is longer than the limit (announced by a length prefix, or of a message to encode).
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Body length in bytes.
        len: u64,
        /// The limit in force.
        max: usize,
    },
    /// The length prefix has no final byte within its first [`super::MAX_LENGTH_PREFIX_LEN`] bytes.
    #[error("length prefix is longer than {max} bytes")]
    LengthPrefixTooLong {
        /// [`super::MAX_LENGTH_PREFIX_LEN`].
        max: usize,
    },
    /// The length prefix encodes a number above `u64::MAX`.
    #[error("length prefix overflows 64 bits")]
    LengthPrefixOverflow,
    /// The length prefix has needless trailing zero groups (unsigned-varint must be minimal).
    #[error("length prefix of {len} bytes is not minimally encoded")]
    LengthPrefixNotMinimal {
        /// Bytes the prefix took.
        len: usize,
    },
    /// The body is not a valid protobuf `Frame`.
    #[error("frame body is not valid protobuf: {reason}")]
    Protobuf {
        /// What the protobuf decoder objected to.
        reason: String,
    },
    /// The frame has no kind (an empty body is such a frame).
    #[error("frame has no message kind")]
    MissingKind,
    /// The frame's kind is not one this version knows; it may come from a newer peer.
    #[error("unknown message kind {kind}")]
    UnknownKind {
        /// The kind number received.
        kind: i32,
    },
    /// More CIDs than [`super::MAX_CIDS_PER_MESSAGE`].
    #[error("message lists {count} CIDs, over the {max}-CID limit")]
    TooManyCids {
        /// CIDs in the message.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Block data larger than [`crate::block::MAX_BLOCK_SIZE`].
    #[error("block of {len} bytes exceeds the {max}-byte limit")]
    BlockTooLarge {
        /// Bytes of block data.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A block message without exactly one CID.
    #[error("block message carries {count} CIDs instead of exactly one")]
    BlockCidCount {
        /// CIDs in the frame.
        count: usize,
    },
    /// Block data in a message other than a block.
    #[error("{kind} message carries {len} bytes of block data")]
    UnexpectedData {
        /// The message kind.
        kind: MessageKind,
        /// Bytes of data.
        len: usize,
    },
    /// CID bytes that are not exactly one canonical binary CID.
    #[error("CID #{index} ({len} bytes) is invalid: {reason}")]
    InvalidCid {
        /// Position in the frame's CID list, from 0.
        index: usize,
        /// Length of the CID bytes.
        len: usize,
        /// What is wrong with them.
        reason: String,
    },
}

impl WireError {
    /// Whether the error is in the framing itself, so the decoder could not find where the
    /// frame ends: the buffer was left as it was and the stream cannot be resynchronised, so the
    /// connection must be closed. Any other decoding error consumed exactly the bad frame.
    pub fn is_framing(&self) -> bool {
        matches!(
            self,
            Self::FrameTooLarge { .. }
                | Self::LengthPrefixTooLong { .. }
                | Self::LengthPrefixOverflow
                | Self::LengthPrefixNotMinimal { .. }
        )
    }
}
