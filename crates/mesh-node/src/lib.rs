//! # mesh-node
//!
//! A native mesh node: a libp2p swarm (TCP, Noise, Yamux; WebSocket with the `websocket`
//! feature) running [`mesh_protocol::Behaviour`] and driving mesh-core's fetch
//! [`Planner`]. It seeds assets (chunks them into kubo-identical
//! DAGs, keeps them pinned, announces them in the DHT), fetches assets from peers and the
//! origin with every block verified, and serves what it holds within an upload budget.
//!
//! Used by tests and by operators who want always-on seeders (`mesh seed`, `mesh get`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_node::{Node, NodeConfig};
//! use mesh_protocol::Namespace;
//!
//! let config = NodeConfig::new(Namespace::new("shop")?)
//!     .with_bootstrap(vec!["/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".parse()?]);
//! let (node, task) = Node::start(config).await?;
//! let cid = node.add_bytes(bytes::Bytes::from_static(b"hello")).await?;
//! let fetched = node.fetch(cid).await?;
//! assert_eq!(&fetched.data[..], b"hello");
//! node.shutdown().await;
//! task.await?;
//! # Ok(()) }
//! ```
//!
//! Non-goals: relaying, WebRTC, browser signaling (the bootstrap node and the browser node);
//! persistence of fetched blocks (the store is in memory).

mod config;
mod driver;
mod error;
mod handle;
mod identity;
mod origin;
mod swarm;

use std::collections::HashSet;

use mesh_core::fetch::Planner;
use mesh_core::store::MemoryStore;
use mesh_protocol::blocks::BlockServer;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use config::{DEFAULT_STORE_BUDGET, Identity, NodeConfig};
pub use error::{NodeError, StartError};
pub use handle::{FetchChunk, FetchStream, Fetched, NodeHandle};
/// Types of the public API, re-exported so users need not depend on these crates themselves.
pub use libp2p::{Multiaddr, PeerId};
pub use mesh_engine::{FetchReport, NodeStats, NodeStatus};
pub use mesh_protocol::{KadMode, Namespace};
pub use reqwest::Url;

/// Commands queued for the node task before senders wait.
const COMMAND_QUEUE: usize = 64;

/// Starts mesh nodes.
#[derive(Debug)]
pub struct Node;

impl Node {
    /// Starts a node on the current tokio runtime: listens, dials the bootstrap peers and joins
    /// the DHT. Returns once every listen address is bound (so
    /// [`NodeHandle::listen_addrs`] is complete), with the handle and the node's task.
    pub async fn start(config: NodeConfig) -> Result<(NodeHandle, JoinHandle<()>), StartError> {
        let keypair = identity::load(&config.identity)?;
        let peer_id = keypair.public().to_peer_id();
        let protocol =
            mesh_protocol::Config::new(config.namespace.clone()).with_kad_mode(config.kad_mode);
        let codec = mesh_protocol::blocks::BlockCodec::new();
        let mut swarm = swarm::build(keypair, &protocol, codec.clone()).await?;

        let mut listeners = HashSet::new();
        for addr in &config.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| StartError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            listeners.insert(id);
        }
        for addr in &config.external_addrs {
            swarm.add_external_address(addr.clone());
        }

        let store = MemoryStore::new(config.store_budget);
        let planner = Planner::new(config.planner.clone(), store);
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let (status_tx, status) = watch::channel(NodeStatus::default());
        let (ready_tx, ready) = oneshot::channel();
        let no_listeners = listeners.is_empty();
        let engine_config = mesh_engine::EngineConfig::default()
            .with_advertise_listen_addrs(config.external_addrs.is_empty())
            .with_advertise_loopback(config.listen.iter().any(mesh_engine::is_loopback))
            .with_serve_corrupt_blocks_for_testing(config.serve_corrupt_blocks_for_testing)
            .with_bootstrap(config.bootstrap.clone())
            .with_origin_base(config.origin_base_url.as_ref().map(|u| u.to_string()))
            .with_seed(random_seed());
        let engine = mesh_engine::Engine::new(
            swarm,
            planner,
            BlockServer::new(config.serve.clone()),
            codec,
            &protocol,
            engine_config,
        )
        .map_err(|e| match e {
            mesh_engine::EngineError::BootstrapWithoutPeerId { addr } => {
                StartError::BootstrapWithoutPeerId { addr }
            }
            other => StartError::Transport(other.to_string()),
        })?;
        let driver = driver::Driver::new(driver::DriverParts {
            engine,
            commands,
            listeners,
            ready: ready_tx,
            status: status_tx,
        });
        if config.serve_corrupt_blocks_for_testing {
            tracing::warn!("serving corrupt blocks: testing mode, never use in production");
        }
        let task = tokio::spawn(driver.run());
        if !no_listeners {
            ready.await.map_err(|_| StartError::Stopped)??;
        }
        let handle = NodeHandle {
            peer_id,
            commands: commands_tx,
            status,
            max_asset_size: config.planner.max_asset_size,
        };
        Ok((handle, task))
    }
}

/// A seed for the engine's redial jitter that differs between nodes: std's per-process random
/// hasher keys, so nodes restarted together do not redial in lockstep.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
