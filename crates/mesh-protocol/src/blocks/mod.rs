//! The block exchange: asking peers whether they hold blocks and fetching them.
//!
//! It runs over libp2p [`request_response`](libp2p::request_response) under
//! `/mesh/<namespace>/blocks/1.1.0`. Each request opens a stream, carries one
//! [`mesh_core::wire`] frame each way ([`BlockCodec`]) and ends; pipelining is several
//! concurrent requests. Besides want-have and want-block, a request may be a notice: a
//! have-summary ([`BlockRequest::Announce`]) when a connection starts and as roots are added,
//! a withdrawal of evicted roots, or a cancel of want-blocks another source answered first
//! (request-response cannot withdraw a request in flight, so the cancel travels as its own
//! request and the server drops what it has not started sending). Version 1.1.0: 1.0.0 nodes
//! refuse notices as malformed.
//!
//! Received blocks are **unverified**: the codec bounds sizes and rejects malformed frames, the
//! fetch planner verifies every block against its CID before using it.
//!
//! The requests and responses are mesh-core's ([`mesh_core::wire`]); the serving policy
//! (upload budget, per-peer concurrency) is mesh-core's sans-IO [`mesh_core::serve`], named
//! here for libp2p ids as [`BlockServer`].

mod codec;

use libp2p::PeerId;
use libp2p::request_response::InboundRequestId;

pub use codec::{BlockCodec, read_frame, write_frame};
pub use mesh_core::serve::{
    Admission, Answer, DEFAULT_MAX_CONCURRENT_PER_PEER, DEFAULT_SEND_WINDOW_PER_PEER, ServeConfig,
    ServeOutcome, ServeStats,
};
pub use mesh_core::wire::{
    BlockRequest, BlockResponse, MAX_NOTICE_CIDS, MAX_REQUEST_SIZE, MAX_WANT_HAVE_CIDS,
    ProtocolError,
};

/// mesh-core's [`BlockServer`](mesh_core::serve::BlockServer) for a libp2p node: peers are
/// [`PeerId`]s, requests request-response's [`InboundRequestId`]s.
pub type BlockServer<R = InboundRequestId> = mesh_core::serve::BlockServer<PeerId, R>;
