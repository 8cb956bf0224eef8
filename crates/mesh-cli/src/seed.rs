//! `mesh seed`: an always-on seeder that adds files, announces them in the DHT and serves them
//! until interrupted.

use std::io::Write;
use std::path::{Path, PathBuf};

use mesh_node::{KadMode, Multiaddr, Node};

use crate::error::CliError;
use crate::net::{self, MeshArgs};
use mesh_site::walk::walk_site;

/// Arguments of `mesh seed`.
#[derive(Debug, clap::Args)]
pub(crate) struct SeedArgs {
    /// Files, or directories whose files are all seeded (hidden files left out).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    mesh: MeshArgs,

    /// Addresses to announce to other peers instead of the listen addresses (a public
    /// address behind NAT or a load balancer).
    #[arg(
        long,
        env = "MESH_EXTERNAL_ADDR",
        value_name = "MULTIADDR",
        value_delimiter = ','
    )]
    external_addr: Vec<Multiaddr>,

    /// Also serve the DHT (Kademlia server mode); only for seeders others can dial.
    #[arg(long, env = "MESH_KAD_SERVER")]
    kad_server: bool,

    /// Bytes of block data served per minute at most (default: unlimited).
    #[arg(long, env = "MESH_UPLOAD_BUDGET", value_name = "BYTES")]
    upload_budget: Option<u64>,

    /// Bytes of blocks kept in memory; everything seeded must fit.
    #[arg(long, env = "MESH_STORE_BUDGET", value_name = "BYTES", default_value_t = mesh_node::DEFAULT_STORE_BUDGET)]
    store_budget: u64,

    /// TESTING ONLY: serve every block with a byte flipped, to exercise other nodes'
    /// verification and penalties.
    #[arg(long, env = "MESH_SERVE_CORRUPT_BLOCKS_FOR_TESTING")]
    serve_corrupt_blocks_for_testing: bool,
}

/// Seeds until SIGINT or SIGTERM.
pub(crate) fn run(args: &SeedArgs, out: &mut impl Write) -> Result<(), CliError> {
    net::init_logging("warn,mesh_node=info,libp2p_kad=error");
    let files = list_files(&args.paths)?;
    net::runtime()?.block_on(seed(args, files, out))
}

async fn seed(args: &SeedArgs, files: Vec<PathBuf>, out: &mut impl Write) -> Result<(), CliError> {
    let mut config = args
        .mesh
        .config()
        .with_external_addrs(args.external_addr.clone())
        .with_upload_budget(args.upload_budget)
        .with_store_budget(args.store_budget)
        .with_serve_corrupt_blocks_for_testing(args.serve_corrupt_blocks_for_testing);
    if args.kad_server {
        config = config.with_kad_mode(KadMode::Server);
    }
    if args.mesh.bootstrap.is_empty() {
        eprintln!(
            "mesh: warning: no --bootstrap peers: only peers that dial this node directly can fetch"
        );
    }
    let (node, task) = Node::start(config)
        .await
        .map_err(|e| CliError::Node(e.to_string()))?;
    let stdout = |e| CliError::write("<stdout>", e);
    for file in &files {
        let cid = node
            .add_file(file)
            .await
            .map_err(|e| CliError::Node(e.to_string()))?;
        writeln!(out, "{cid}  {}", file.display()).map_err(stdout)?;
        out.flush().map_err(stdout)?;
    }
    for addr in node
        .listen_addrs()
        .await
        .map_err(|e| CliError::Node(e.to_string()))?
    {
        writeln!(out, "listening {addr}").map_err(stdout)?;
    }
    out.flush().map_err(stdout)?;
    wait_for_signal().await?;
    node.shutdown().await;
    let _ = task.await;
    Ok(())
}

/// The files named by `paths`, directories expanded.
fn list_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| CliError::read(path, e))?;
        if meta.is_dir() {
            let walk = walk_site(path, None)?;
            for skipped in &walk.skipped {
                eprintln!(
                    "mesh: warning: skipping {}: {}",
                    skipped.path.display(),
                    skipped.reason
                );
            }
            files.extend(walk.files.into_iter().map(|f| f.path));
        } else {
            files.push(Path::to_path_buf(path));
        }
    }
    Ok(files)
}

async fn wait_for_signal() -> Result<(), CliError> {
    let signal_error = |e: std::io::Error| CliError::Node(format!("cannot watch for signals: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(signal_error)?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(signal_error),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(signal_error)
    }
}
