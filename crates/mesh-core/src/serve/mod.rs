//! The serving policy: answering peers' block requests from a
//! [`BlockStore`](crate::store::BlockStore) within an upload budget (a token bucket), each
//! peer's share of it (so one peer cannot take it all; a peer that makes up new identities
//! gets a share per identity, which the shared budget still caps), and a per-peer concurrency
//! cap; serving can be paused.
//!
//! [`BlockServer`] is sans-IO like the planner: the driver passes the time, the store and each
//! request, sends the answer, and reports when it went out. It is generic over the peer and
//! request ids, so the libp2p nodes and the simulator run the same policy.
//!
//! # Over budget: `DontHave`, not a "busy" answer
//!
//! A request refused for lack of budget or because the peer already has
//! [`ServeConfig::max_concurrent_per_peer`] responses in flight is answered
//! [`BlockResponse::DontHave`](crate::wire::BlockResponse::DontHave). A separate "busy" kind would need a new wire message shared by
//! every implementation, and would tell the requester nothing it can act on better: the fetch
//! planner reacts to `DontHave` by asking another holder or the origin at once, which is exactly
//! what an overloaded seeder wants. The refusal is per block and per fetch (the planner only
//! excludes this peer for that block), so the peer keeps being asked for other blocks, and
//! [`ServeOutcome`] tells the serving side's logs and stats apart from a genuine miss.

mod budget;
mod server;

pub use server::{
    Admission, Answer, BlockServer, DEFAULT_MAX_CONCURRENT_PER_PEER, DEFAULT_SEND_WINDOW_PER_PEER,
    ServeConfig, ServeOutcome, ServeStats,
};
