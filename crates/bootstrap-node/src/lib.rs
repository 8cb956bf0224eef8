//! The mesh bootstrap node.
//!
//! Browser tabs running mesh need a server that introduces them to each other, holds the DHT and
//! relays their WebRTC signaling — and nothing more: this node never serves or relays asset
//! bytes. It listens on TCP, WebSocket and WebRTC-direct at once, runs Kademlia in server mode
//! with provider records that follow their provider's connection, and a circuit relay v2 server
//! whose limits fit signaling, not data. Operators scale out by running several nodes joined
//! with `--peer`; they form one DHT.
//!
//! Usage from Rust (the `bootstrap-node` binary does the same with flags):
//!
//! ```no_run
//! # async fn demo() -> Result<(), bootstrap_node::Error> {
//! use bootstrap_node::{Config, Node};
//!
//! let config = Config::with_listen(vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid")]);
//! let node = Node::start(config).await?;
//! println!("peer id {}", node.peer_id());
//! node.run(async { tokio::signal::ctrl_c().await.ok(); }).await;
//! # Ok(()) }
//! ```
//!
//! Non-goals: serving blocks, storing value records, discovering its own public address (the
//! operator states it with `--external-address`).

mod addrs;
mod behaviour;
mod config;
mod duration;
mod error;
mod http;
mod http_limits;
mod keys;
mod metrics;
mod node;
mod relay_bytes;
mod relay_limits;
mod routing;
mod source;
mod source_limits;
mod store;
mod transport;

pub use addrs::{AddressError, MAX_PUBLISHED_ADDRS};
pub use config::{
    Config, ConfigError, LogFormat, MIN_METRICS_TOKEN_LEN, MetricsAccess, Secret, parse_peer_addr,
};
pub use duration::{parse_duration, parse_positive_duration};
pub use error::Error;
pub use keys::{CERTIFICATE_FILE, IDENTITY_FILE, KeyError, NodeKeys};
// The namespace and its protocol ids are mesh-protocol's, so every node spells them alike.
pub use mesh_protocol::{Namespace, NamespaceError, namespace::MAX_NAMESPACE_LEN};
pub use node::Node;
pub use store::{
    MAX_ADDRESS_BYTES_PER_RECORD, MAX_ADDRESSES_PER_RECORD, ProviderRefusal, ProviderStore,
    StoreConfig, StoreStats,
};
