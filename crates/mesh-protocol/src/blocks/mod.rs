//! The block exchange: asking peers whether they hold blocks and fetching them.
//!
//! It runs as a [`session`] under `/mesh/<namespace>/blocks/2.0.0`: per connection, each side
//! opens one long-lived stream for its requests and the other side answers on it, one
//! [`mesh_core::wire`] frame per request and per answer ([`BlockCodec`]), pipelined and matched
//! by request id. Besides want-have and want-block, a request may be a notice, which gets no
//! answer: a have-summary ([`BlockRequest::Announce`]) when a connection starts and as roots
//! are added, a withdrawal of evicted roots, or a cancel of want-blocks another source
//! answered first (the server drops those it has not started sending). Version 2.0.0 replaced
//! 1.1.0's stream per request; the two do not interoperate (a 1.x peer is one that does not
//! speak the block exchange).
//!
//! Received blocks are **unverified**: the codec bounds sizes and rejects malformed frames, the
//! fetch planner verifies every block against its CID before using it.
//!
//! The requests and responses are mesh-core's ([`mesh_core::wire`]); the serving policy
//! (upload budget, per-peer concurrency) is mesh-core's sans-IO [`mesh_core::serve`], named
//! here for libp2p ids as [`BlockServer`].

mod codec;
pub mod session;

use libp2p::PeerId;

pub use codec::{BlockCodec, encode_frame, read_frame, write_frame};
pub use mesh_core::serve::{
    Admission, Answer, DEFAULT_MAX_CONCURRENT_PER_PEER, DEFAULT_SEND_WINDOW_PER_PEER, ServeConfig,
    ServeOutcome, ServeStats,
};
pub use mesh_core::wire::{
    BlockRequest, BlockResponse, MAX_NOTICE_CIDS, MAX_REQUEST_SIZE, MAX_WANT_HAVE_CIDS,
    ProtocolError,
};
pub use session::{InboundRequestId, OutboundRequestId, ResponseChannel};

/// mesh-core's [`BlockServer`](mesh_core::serve::BlockServer) for a libp2p node: peers are
/// [`PeerId`]s, requests the session's [`InboundRequestId`]s.
pub type BlockServer<R = InboundRequestId> = mesh_core::serve::BlockServer<PeerId, R>;
