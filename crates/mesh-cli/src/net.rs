//! What `mesh seed` and `mesh get` share: the flags that place a node in a mesh, the runtime,
//! logging, and turning node errors into one-line messages.

use std::path::PathBuf;

use mesh_node::{Identity, Multiaddr, Namespace, NodeConfig};

use crate::error::CliError;

/// Flags that say which mesh to join and how.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MeshArgs {
    /// Peers to join the DHT through (bootstrap nodes), each ending in /p2p/<peer id>;
    /// repeat the flag or separate with commas.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP",
        value_name = "MULTIADDR",
        value_delimiter = ','
    )]
    pub(crate) bootstrap: Vec<Multiaddr>,

    /// The deployment namespace (a-z, 0-9, '-'); nodes of other namespaces never mix.
    #[arg(long, env = "MESH_NAMESPACE", default_value = "default")]
    pub(crate) namespace: Namespace,

    /// Addresses to listen on.
    #[arg(
        long,
        env = "MESH_LISTEN",
        value_name = "MULTIADDR",
        value_delimiter = ',',
        default_value = "/ip4/0.0.0.0/tcp/0"
    )]
    pub(crate) listen: Vec<Multiaddr>,

    /// Keep the node's identity in this key file (created if absent) so its peer id and
    /// multiaddrs survive restarts; without it every run gets a new identity.
    #[arg(long, env = "MESH_KEY_FILE", value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
}

impl MeshArgs {
    /// The node configuration these flags describe.
    pub(crate) fn config(&self) -> NodeConfig {
        let identity = match &self.key_file {
            Some(path) => Identity::KeyFile(path.clone()),
            None => Identity::Ephemeral,
        };
        NodeConfig::new(self.namespace.clone())
            .with_bootstrap(self.bootstrap.clone())
            .with_listen(self.listen.clone())
            .with_identity(identity)
    }
}

/// A multi-threaded tokio runtime for one subcommand.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Node(format!("cannot start the async runtime: {e}")))
}

/// Logs to stderr; `MESH_LOG` (tracing's env-filter syntax) overrides `default`.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MESH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
