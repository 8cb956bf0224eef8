//! # mesh-core
//!
//! The platform-independent, sans-IO heart of mesh, a peer-assisted asset loader: browser tabs
//! fetch content-addressed assets from each other and fall back to the origin so that a page is
//! never slower than without us.
//!
//! This crate owns every decision and every check, and performs no I/O: no sockets, timers,
//! threads, async runtime or clock. Drivers (the browser node, native nodes, the simulator) feed
//! it events with the current [`time::Instant`] and carry out the actions it returns. That keeps
//! the policy identical everywhere it runs and lets tests drive it in virtual time.
//!
//! * [`block`]: the [`Block`] type (bytes proven to match their CID) and limits.
//! * [`dag`]: chunking a file into kubo-identical CIDs (raw leaves, balanced UnixFS DAG).
//! * [`unixfs`]: the dag-pb / UnixFS node format.
//! * [`known`]: blocks already held, recognised without hashing them again (the simulator).
//! * [`layout`]: walking an untrusted DAG from its root, block by block, and mapping byte ranges
//!   to leaves.
//! * [`store`]: the block store trait and a budgeted in-memory LRU store with pins.
//! * [`fetch`]: the fetch planner, a state machine choosing peers, hedging with the origin.
//! * [`wire`]: the block-exchange protocol codec.
//! * [`serve`]: the serving policy, answering peers' requests within an upload budget.
//! * [`manifest`]: site path → `{cid, size, type}` documents.
//! * [`small`]: ordered maps and sets for few entries (sorted vectors: less wasm per type).
//! * [`stats`]: bytes and time-to-first-byte per source, offload ratio.
//!
//! Non-goals: transports, peer discovery and HTTP belong to the drivers; this crate only says
//! what to ask whom, and checks what comes back.
//!
//! ```
//! use mesh_core::dag::cid_of;
//! // The CID kubo prints for `ipfs add --cid-version 1` of an empty file.
//! assert_eq!(
//!     cid_of(b"").to_string(),
//!     "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
//! );
//! ```

pub mod block;
pub mod dag;
pub mod fetch;
pub mod known;
pub mod layout;
pub mod manifest;
pub mod serve;
pub mod small;
pub mod stats;
pub mod store;
pub mod time;
pub mod unixfs;
pub mod wire;

pub use block::{Block, Sha256Digest, VerifyError};
pub use cid::Cid;
