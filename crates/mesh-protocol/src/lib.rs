//! # mesh-protocol
//!
//! The libp2p protocol of mesh, shared by the browser node, the native node and the bootstrap
//! node, so they cannot disagree about ids, limits or message shapes.
//!
//! * [`namespace`]: a deployment's [`Namespace`] and the protocol ids built from it
//!   (`/mesh/<ns>/kad/1.0.0`, `/mesh/<ns>/blocks/2.0.0`, identify `/mesh/<ns>/1.0.0`): two
//!   sites' meshes never mix, and no mesh node joins the public IPFS DHT.
//! * [`blocks`]: the block exchange, a session per connection (one long-lived request stream
//!   each way, pipelined), framed with mesh-core's wire codec, and the serving policy ([`blocks::BlockServer`]: upload budget, per-peer cap).
//! * [`behaviour`]: the composed [`Behaviour`] (identify, ping, routing, block exchange,
//!   optional relay client) and its [`Config`].
//! * [`routing`]: finding providers and announcing: Kademlia (feature `kad`, native nodes) or
//!   delegated to the node's bootstrap nodes (`/mesh/<ns>/routing/1.0.0`, browsers).
//! * [`dht`]: provider keys for CIDs.
//!
//! The crate builds for native targets and `wasm32-unknown-unknown`; it holds no transport,
//! runtime or clock. What to fetch from whom is mesh-core's fetch planner's business; the
//! drivers (native node, browser node) connect the two.
//!
//! ```
//! use mesh_protocol::{Config, Namespace, RoutingMode};
//!
//! let ns: Namespace = "shop".parse()?;
//! assert_eq!(ns.kad_protocol().as_ref(), "/mesh/shop/kad/1.0.0");
//! let config = Config::new(ns).with_routing(RoutingMode::Delegated);
//! assert_eq!(config.namespace.blocks_protocol().as_ref(), "/mesh/shop/blocks/2.0.0");
//! # Ok::<(), mesh_protocol::NamespaceError>(())
//! ```

pub mod behaviour;
pub mod blocks;
pub mod dht;
pub mod namespace;
pub mod routing;

pub use behaviour::{Behaviour, Config, Event, Extra, NoExtra, swarm_config};
#[cfg(feature = "kad")]
pub use dht::provider_key;
pub use dht::provider_key_bytes;
/// The libp2p build these types come from, so users of this crate agree on its version.
pub use libp2p;
pub use namespace::{Namespace, NamespaceError};
#[cfg(feature = "kad")]
pub use routing::KadMode;
pub use routing::{LookupId, ProvideError, RoutingMode};
