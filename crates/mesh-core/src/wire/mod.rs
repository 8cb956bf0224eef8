//! The block-exchange wire codec: how peers ask each other for blocks and send them.
//!
//! A requester asks [`Message::WantHave`] ("do you have these?") or [`Message::WantBlock`]
//! ("send me these"), tagging the request with a [`RequestId`]; the peer answers with
//! [`Message::Have`], [`Message::DontHave`] and [`Message::Block`]; the requester sends
//! [`Message::Cancel`] when it no longer needs an answer (another source was faster).
//!
//! In the block-exchange session (mesh-protocol: one request stream per connection and
//! direction, answers on the same stream), a request is a [`BlockRequest`] and its answer a
//! [`BlockResponse`]: the messages narrowed to what each direction may carry.
//!
//! # Trust
//!
//! Everything decoded here comes from an untrusted peer. The codec bounds every size and
//! rejects malformed bytes without panicking, but it does not judge content: a
//! [`Message::Block`] carries bytes *claimed* to match a CID, and only
//! [`Block::verify`](crate::Block::verify) turns them into a usable block.
//!
//! # Format
//!
//! A stream is a sequence of frames: an unsigned-varint length prefix, then a protobuf body.
//! The bodies are limited to [`MAX_MESSAGE_SIZE`] bytes, [`MAX_CIDS_PER_MESSAGE`] CIDs and
//! [`MAX_BLOCK_SIZE`](crate::block::MAX_BLOCK_SIZE) bytes of block data. CIDs travel in their
//! binary form and must be canonical. The schema, for other implementations (the crate ships it
//! as `proto/wire.proto`):
//!
#![doc = concat!("```proto\n", include_str!("../../proto/wire.proto"), "```")]
//!
//! # Use
//!
//! [`decode`] works on any byte stream: append what arrives to a buffer and call it until it
//! returns `Ok(None)`. [`Codec`] does the same under a lower size limit.
//!
//! ```
//! use bytes::BytesMut;
//! use mesh_core::block::{cid_for, RAW_CODEC};
//! use mesh_core::wire::{decode, encode, Message, RequestId};
//!
//! let want = Message::WantBlock { id: RequestId(1), cids: vec![cid_for(RAW_CODEC, b"hi")] };
//! let mut stream = BytesMut::new();
//! encode(&want, &mut stream)?;
//!
//! // The receiver sees the bytes in two pieces.
//! let mut received = stream.split_to(3);
//! assert_eq!(decode(&mut received)?, None);
//! received.unsplit(stream);
//! assert_eq!(decode(&mut received)?, Some(want));
//! assert!(received.is_empty());
//! # Ok::<(), mesh_core::wire::WireError>(())
//! ```

mod codec;
mod error;
mod exchange;
mod message;
mod proto;
mod scan;

pub use codec::Codec;
pub use error::WireError;
pub use exchange::{
    BlockRequest, BlockResponse, MAX_NOTICE_CIDS, MAX_REQUEST_SIZE, MAX_WANT_HAVE_CIDS,
    ProtocolError,
};
pub use message::{Message, MessageKind, RequestId};

use bytes::BytesMut;

/// Largest frame body anyone may send, in bytes (the length prefix is not counted): a block of
/// [`MAX_BLOCK_SIZE`](crate::block::MAX_BLOCK_SIZE) plus 4 KiB, ample for its CID and framing
/// (about 100 bytes). A frame of [`MAX_CIDS_PER_MESSAGE`] CIDs of the longest form takes under
/// 45 KiB.
pub const MAX_MESSAGE_SIZE: usize = crate::block::MAX_BLOCK_SIZE + 4096;

/// Most CIDs in one message; bounds the work and memory of decoding a frame. Longer lists are
/// split over several messages with the same [`RequestId`].
pub const MAX_CIDS_PER_MESSAGE: usize = 512;

/// Longest length prefix: an unsigned varint of a `u64` takes at most 10 bytes.
pub const MAX_LENGTH_PREFIX_LEN: usize = 10;

/// Appends one frame holding `msg` to `dst`, under the default limits.
///
/// See [`Codec::encode`]; fails on too many CIDs or an oversize block, leaving `dst` unchanged.
pub fn encode(msg: &Message, dst: &mut BytesMut) -> Result<(), WireError> {
    Codec::new().encode(msg, dst)
}

/// Bytes [`encode`] writes for `msg`, length prefix included.
///
/// Also defined for messages over the limits, which [`encode`] refuses.
pub fn encoded_len(msg: &Message) -> usize {
    codec::encoded_len(msg)
}

/// Takes the next frame off the front of `src`, under the default limits: `Ok(None)` until a
/// whole frame has arrived. See [`Codec::decode`] for what is consumed in each case.
pub fn decode(src: &mut BytesMut) -> Result<Option<Message>, WireError> {
    Codec::new().decode(src)
}
