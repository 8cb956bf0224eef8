//! Settings of a [`Node`](crate::Node).

use std::path::PathBuf;

use libp2p::Multiaddr;
use mesh_core::fetch;
use mesh_protocol::blocks::ServeConfig;
use mesh_protocol::{KadMode, Namespace};
use reqwest::Url;

/// Default store budget: 512 MiB of blocks. A seeder keeps what it seeds pinned within it.
pub const DEFAULT_STORE_BUDGET: u64 = 512 << 20;

/// Where the node's libp2p identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A fresh Ed25519 key for this run: a new peer id every start.
    Ephemeral,
    /// An Ed25519 key kept in a file (libp2p protobuf encoding), created if absent: the peer
    /// id, and so the multiaddrs others configure, survive restarts.
    KeyFile(PathBuf),
}

/// Settings of a node. Start from [`NodeConfig::new`] and adjust with the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The mesh to join.
    pub namespace: Namespace,
    /// Peers to join the DHT through; each must end in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Addresses to listen on. Default `/ip4/0.0.0.0/tcp/0`.
    pub listen: Vec<Multiaddr>,
    /// Addresses to announce in provider records. Empty (the default): the listen addresses
    /// (loopback ones only if a loopback address was asked for explicitly), which is right on
    /// a LAN or loopback and for hosts with a public address.
    pub external_addrs: Vec<Multiaddr>,
    /// Identity. Default [`Identity::Ephemeral`].
    pub identity: Identity,
    /// Kademlia role. Default [`KadMode::Client`]; reachable always-on seeders may serve.
    pub kad_mode: KadMode,
    /// Bytes of blocks kept. Default [`DEFAULT_STORE_BUDGET`].
    pub store_budget: u64,
    /// Serving policy: upload budget, per-peer cap.
    pub serve: ServeConfig,
    /// Fetch planner settings.
    pub planner: fetch::Config,
    /// Where assets fetched without an explicit URL are found over HTTP: `<base>/<cid>`
    /// (a gateway layout). `None`: only fetches given a URL use the origin.
    pub origin_base_url: Option<Url>,
    /// **Testing only.** Serve every block with one byte flipped, to exercise the
    /// verification and penalties of other nodes. Never set in production.
    pub serve_corrupt_blocks_for_testing: bool,
}

impl NodeConfig {
    /// Defaults for `namespace`.
    pub fn new(namespace: Namespace) -> Self {
        Self {
            namespace,
            bootstrap: Vec::new(),
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().unwrap_or(Multiaddr::empty())],
            external_addrs: Vec::new(),
            identity: Identity::Ephemeral,
            kad_mode: KadMode::Client,
            store_budget: DEFAULT_STORE_BUDGET,
            serve: ServeConfig::new(),
            planner: fetch::Config::new(),
            origin_base_url: None,
            serve_corrupt_blocks_for_testing: false,
        }
    }

    /// Sets [`NodeConfig::bootstrap`].
    pub fn with_bootstrap(mut self, peers: Vec<Multiaddr>) -> Self {
        self.bootstrap = peers;
        self
    }

    /// Sets [`NodeConfig::listen`].
    pub fn with_listen(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.listen = addrs;
        self
    }

    /// Sets [`NodeConfig::external_addrs`].
    pub fn with_external_addrs(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.external_addrs = addrs;
        self
    }

    /// Sets [`NodeConfig::identity`].
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// Sets [`NodeConfig::kad_mode`].
    pub fn with_kad_mode(mut self, mode: KadMode) -> Self {
        self.kad_mode = mode;
        self
    }

    /// Sets [`NodeConfig::store_budget`].
    pub fn with_store_budget(mut self, bytes: u64) -> Self {
        self.store_budget = bytes;
        self
    }

    /// Sets [`NodeConfig::serve`].
    pub fn with_serve(mut self, serve: ServeConfig) -> Self {
        self.serve = serve;
        self
    }

    /// Sets the upload budget in bytes per minute (`None`: unlimited).
    pub fn with_upload_budget(mut self, bytes_per_minute: Option<u64>) -> Self {
        self.serve = self.serve.with_upload_budget(bytes_per_minute);
        self
    }

    /// Sets [`NodeConfig::planner`].
    pub fn with_planner(mut self, planner: fetch::Config) -> Self {
        self.planner = planner;
        self
    }

    /// Sets [`NodeConfig::origin_base_url`].
    pub fn with_origin_base_url(mut self, url: Option<Url>) -> Self {
        self.origin_base_url = url;
        self
    }

    /// Sets [`NodeConfig::serve_corrupt_blocks_for_testing`].
    pub fn with_serve_corrupt_blocks_for_testing(mut self, corrupt: bool) -> Self {
        self.serve_corrupt_blocks_for_testing = corrupt;
        self
    }
}
