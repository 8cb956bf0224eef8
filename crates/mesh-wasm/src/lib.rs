//! # mesh-wasm
//!
//! The browser node: a rust-libp2p node running in the page (wasm32), driving mesh-core's
//! fetch planner through [`mesh_engine::Engine`]. It connects to bootstrap nodes over
//! WebRTC-direct (WebSocket as the fallback), keeps those connections warm and reconnects
//! with backoff and jitter, queries and announces in the DHT as a Kademlia client, holds a
//! relay reservation so other tabs can reach it, fetches assets from peers with the origin as
//! the fallback (started no later than the deadline), verifies every byte, and serves what
//! it holds within an upload budget.
//!
//! The JavaScript API (`createMesh`, `mesh.fetch`, `meshFetch`, `attach`, events) is the shim
//! in `js/`, over the `MeshNode` class this crate exports with wasm-bindgen.
//!
//! The node's policy (bootstrap connections and their backoff, warm peers, connection kinds,
//! origin URLs) is mesh-engine's, tested natively there; the option parsing ([`config`]) is
//! plain Rust and tested natively too; the rest exists on `wasm32` only.

pub mod config;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod js_input;
#[cfg(target_arch = "wasm32")]
mod origin;
#[cfg(target_arch = "wasm32")]
mod page_turn;
#[cfg(target_arch = "wasm32")]
mod persist;
#[cfg(target_arch = "wasm32")]
mod report;
#[cfg(target_arch = "wasm32")]
mod transport;
#[cfg(target_arch = "wasm32")]
mod web_digest;

#[cfg(target_arch = "wasm32")]
pub use api::{FetchHandle, MeshNode};
