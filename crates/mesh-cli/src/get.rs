//! `mesh get`: fetch an asset from the mesh (and the origin), verify every block, write it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_core::Cid;
use mesh_node::{Fetched, Multiaddr, Node, Url};

use crate::error::CliError;
use crate::net::{self, MeshArgs};
use crate::output::{human_bytes, human_duration};

/// Arguments of `mesh get`.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The asset's CID.
    #[arg(value_name = "CID")]
    cid: String,

    /// Write the asset here (default: standard output). Written only once every byte is
    /// verified.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The asset's HTTP URL, used when peers are slow or missing (Range requests).
    #[arg(long, env = "MESH_ORIGIN", value_name = "URL")]
    origin: Option<Url>,

    /// Peers to ask directly besides those the DHT names (e.g. a known seeder).
    #[arg(long, value_name = "MULTIADDR", value_delimiter = ',')]
    peer: Vec<Multiaddr>,

    /// Give up after this many seconds.
    #[arg(
        long,
        env = "MESH_GET_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 120
    )]
    timeout: u64,

    #[command(flatten)]
    mesh: MeshArgs,
}

/// Fetches, then writes the asset and prints where its bytes came from on stderr.
pub(crate) fn run(args: &GetArgs, out: &mut impl Write) -> Result<(), CliError> {
    net::init_logging("warn");
    let cid: Cid = args
        .cid
        .parse()
        .map_err(|e: cid::Error| CliError::InvalidCid {
            text: args.cid.clone(),
            reason: e.to_string(),
        })?;
    let fetched = net::runtime()?.block_on(get(args, cid))?;
    match &args.output {
        Some(path) => write_file(path, &fetched.data)?,
        None => out
            .write_all(&fetched.data)
            .map_err(|e| CliError::write("<stdout>", e))?,
    }
    report(cid, &fetched);
    Ok(())
}

async fn get(args: &GetArgs, cid: Cid) -> Result<Fetched, CliError> {
    let node_error = |e: mesh_node::NodeError| CliError::Node(e.to_string());
    let (node, task) = Node::start(args.mesh.config())
        .await
        .map_err(|e| CliError::Node(e.to_string()))?;
    let deadline = Duration::from_secs(args.timeout);
    let fetch = async {
        for peer in &args.peer {
            if let Err(e) = node.connect(peer.clone()).await {
                eprintln!("mesh: warning: {e}");
            }
        }
        node.fetch_from(cid, args.origin.clone())
            .await
            .map_err(node_error)
    };
    let result = match tokio::time::timeout(deadline, fetch).await {
        Ok(result) => result,
        Err(_) => Err(CliError::Node(format!(
            "fetching {cid} took longer than {}",
            human_duration(deadline)
        ))),
    };
    node.shutdown().await;
    let _ = task.await;
    result
}

/// Writes next to `path` and renames, so a failed write never leaves a partial asset there.
fn write_file(path: &Path, data: &[u8]) -> Result<(), CliError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data).map_err(|e| CliError::write(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::write(path, e)
    })
}

fn report(cid: Cid, fetched: &Fetched) {
    let s = &fetched.report.summary;
    eprintln!(
        "fetched {cid}: {} in {} (source: {}; peers {}, origin {}, cache {})",
        human_bytes(s.size),
        human_duration(s.elapsed),
        s.source_label(),
        human_bytes(s.bytes_peer),
        human_bytes(s.bytes_origin),
        human_bytes(s.bytes_cache),
    );
    for (peer, bytes) in &fetched.report.peers {
        eprintln!("  {} from {peer}", human_bytes(*bytes));
    }
}
