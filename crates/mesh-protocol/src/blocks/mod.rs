//! The block exchange: asking peers whether they hold blocks and fetching them.
//!
//! It runs over libp2p [`request_response`](libp2p::request_response) under
//! `/mesh/<namespace>/blocks/1.0.0`. Each request opens a stream, carries one
//! [`mesh_core::wire`] frame each way ([`BlockCodec`]) and ends; pipelining is several
//! concurrent requests. A cancel is dropping the request (its stream), so the wire `Cancel`
//! kind never travels here.
//!
//! Received blocks are **unverified**: the codec bounds sizes and rejects malformed frames, the
//! fetch planner verifies every block against its CID before using it.
//!
//! The serving policy (upload budget, per-peer concurrency) is [`BlockServer`], a sans-IO state
//! machine the driver consults for each inbound request.

mod budget;
mod codec;
mod message;
mod serve;

pub use codec::{BlockCodec, read_frame, write_frame};
pub use message::{
    BlockRequest, BlockResponse, MAX_REQUEST_SIZE, MAX_WANT_HAVE_CIDS, ProtocolError,
};
pub use serve::{
    Answer, BlockServer, DEFAULT_MAX_CONCURRENT_PER_PEER, ServeConfig, ServeOutcome, ServeStats,
};
