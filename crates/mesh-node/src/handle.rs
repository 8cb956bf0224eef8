//! The handle applications hold: commands to the node task, answers back.

use std::io::Read;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use cid::Cid;
use libp2p::{Multiaddr, PeerId};
use mesh_core::Block;
use mesh_core::dag::DagBuilder;
use mesh_core::fetch::FetchError;
use reqwest::Url;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::NodeError;
use mesh_engine::{FetchReport, NodeStats, NodeStatus};

/// Bytes read from a file per call while chunking it.
const READ_BUFFER: usize = 1 << 20;

/// A request to the node task.
pub(crate) enum Command {
    /// Store and pin these blocks, then announce `root`.
    Add {
        root: Cid,
        blocks: Vec<Block>,
        reply: oneshot::Sender<Result<Cid, NodeError>>,
    },
    /// Fetch `cid`; the node streams the outcome into `output`.
    Fetch {
        cid: Cid,
        origin: Option<Url>,
        output: mpsc::UnboundedSender<FetchChunk>,
    },
    /// Connect to a peer and report it once it is identified as a member of this mesh.
    Connect {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NodeError>>,
    },
    /// The node's dialable addresses.
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    /// Counters.
    Stats { reply: oneshot::Sender<NodeStats> },
    /// Stop the node.
    Shutdown,
}

/// One step of a fetch, in order: verified data, then `Done` or `Failed`.
#[derive(Debug, Clone)]
pub enum FetchChunk {
    /// Verified bytes at `offset`; chunks come in file order without gaps.
    Data {
        /// Offset in the asset.
        offset: u64,
        /// Verified bytes.
        data: Bytes,
    },
    /// Every byte was delivered.
    Done(FetchReport),
    /// The fetch failed; no further data follows.
    Failed(FetchError),
}

/// A completed fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The verified asset.
    pub data: Bytes,
    /// Where it came from.
    pub report: FetchReport,
}

/// A fetch in progress: read [`FetchChunk`]s with [`FetchStream::next`]. Dropping it cancels
/// the fetch.
#[derive(Debug)]
pub struct FetchStream {
    chunks: mpsc::UnboundedReceiver<FetchChunk>,
}

impl FetchStream {
    /// The next step; `None` after `Done`/`Failed`, or if the node stopped.
    pub async fn next(&mut self) -> Option<FetchChunk> {
        self.chunks.recv().await
    }
}

/// Controls a running node. Cheap to clone; the node stops on [`NodeHandle::shutdown`] or when
/// every handle is dropped.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub(crate) peer_id: PeerId,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) status: watch::Receiver<NodeStatus>,
    pub(crate) max_asset_size: u64,
}

impl NodeHandle {
    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node listens on, each ending in `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::ListenAddrs { reply }).await?;
        answer.await.map_err(|_| NodeError::Stopped)
    }

    /// Connects to the peer at `addr` (ending in `/p2p/<peer id>`) and returns once it has
    /// identified itself as a block-exchange peer of this mesh, so that fetches ask it at once.
    /// Fails if the dial fails or the peer is not a mesh peer.
    pub async fn connect(&self, addr: Multiaddr) -> Result<PeerId, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Connect { addr, reply }).await?;
        answer.await.map_err(|_| NodeError::Stopped)?
    }

    /// Chunks `data` into a DAG (the CIDs `ipfs add --cid-version 1` gives), stores and pins
    /// it, announces the root in the DHT and returns it once the announcement went out.
    pub async fn add_bytes(&self, data: Bytes) -> Result<Cid, NodeError> {
        let (root, blocks) = tokio::task::spawn_blocking(move || {
            let mut blocks = Vec::new();
            let mut builder = DagBuilder::new();
            builder.push_bytes(data, &mut |b| blocks.push(b));
            let root = builder.finish(&mut |b| blocks.push(b));
            (root.cid, blocks)
        })
        .await
        .map_err(|_| NodeError::Stopped)?;
        self.add_blocks(root, blocks).await
    }

    /// Like [`NodeHandle::add_bytes`] for a file's content.
    pub async fn add_file(&self, path: impl AsRef<Path>) -> Result<Cid, NodeError> {
        let path = path.as_ref().to_owned();
        let (root, blocks) = tokio::task::spawn_blocking(move || chunk_file(&path))
            .await
            .map_err(|_| NodeError::Stopped)??;
        self.add_blocks(root, blocks).await
    }

    async fn add_blocks(&self, root: Cid, blocks: Vec<Block>) -> Result<Cid, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Add {
            root,
            blocks,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::Stopped)?
    }

    /// Fetches `cid` from peers (and from `<origin base>/<cid>` when the node has an origin
    /// base URL) and returns the verified bytes.
    pub async fn fetch(&self, cid: Cid) -> Result<Fetched, NodeError> {
        self.fetch_from(cid, None).await
    }

    /// Fetches `cid`, with `origin` as the asset's HTTP URL if peers fall short.
    pub async fn fetch_from(&self, cid: Cid, origin: Option<Url>) -> Result<Fetched, NodeError> {
        let mut stream = self.fetch_stream(cid, origin).await?;
        let mut data = BytesMut::new();
        // Bounded: the planner delivers at most its asset-size limit, checked here again.
        loop {
            match stream.next().await {
                Some(FetchChunk::Data { data: piece, .. }) => {
                    if (data.len() + piece.len()) as u64 > self.max_asset_size {
                        return Err(NodeError::TooLarge {
                            max: self.max_asset_size,
                        });
                    }
                    data.extend_from_slice(&piece);
                }
                Some(FetchChunk::Done(report)) => {
                    return Ok(Fetched {
                        data: data.freeze(),
                        report,
                    });
                }
                Some(FetchChunk::Failed(e)) => return Err(NodeError::Fetch(e)),
                None => return Err(NodeError::Stopped),
            }
        }
    }

    /// Starts fetching `cid` and returns its stream of verified chunks.
    pub async fn fetch_stream(
        &self,
        cid: Cid,
        origin: Option<Url>,
    ) -> Result<FetchStream, NodeError> {
        let (output, chunks) = mpsc::unbounded_channel();
        self.send(Command::Fetch {
            cid,
            origin,
            output,
        })
        .await?;
        Ok(FetchStream { chunks })
    }

    /// Counters.
    pub async fn stats(&self) -> Result<NodeStats, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Stats { reply }).await?;
        answer.await.map_err(|_| NodeError::Stopped)
    }

    /// The current status.
    pub fn status(&self) -> NodeStatus {
        self.status.borrow().clone()
    }

    /// Waits until the status satisfies `condition` (checked now and on every change).
    pub async fn wait_for(
        &self,
        condition: impl FnMut(&NodeStatus) -> bool,
    ) -> Result<NodeStatus, NodeError> {
        let mut status = self.status.clone();
        let seen = status
            .wait_for(condition)
            .await
            .map_err(|_| NodeError::Stopped)?;
        Ok(seen.clone())
    }

    /// Stops the node; its task ends soon after.
    pub async fn shutdown(&self) {
        // Already stopped is fine.
        let _ = self.commands.send(Command::Shutdown).await;
    }

    async fn send(&self, command: Command) -> Result<(), NodeError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NodeError::Stopped)
    }
}

/// Reads a file and chunks it into its DAG.
fn chunk_file(path: &Path) -> Result<(Cid, Vec<Block>), NodeError> {
    let read_error = |source| NodeError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut blocks = Vec::new();
    let mut builder = DagBuilder::new();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = file.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            break;
        }
        builder.push(&buf[..n], &mut |b| blocks.push(b));
    }
    let root = builder.finish(&mut |b| blocks.push(b));
    Ok((root.cid, blocks))
}
