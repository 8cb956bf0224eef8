//! Errors of starting a node and of its operations.

use std::io;
use std::path::PathBuf;

use cid::Cid;
use libp2p::Multiaddr;
use mesh_core::fetch::FetchError;
use mesh_core::store::StoreError;

/// Why a node could not start. Each message is one line naming the culprit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The identity key file cannot be read or written.
    #[error("identity key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The identity key file does not hold a valid key.
    #[error("identity key file {path} does not hold a libp2p key: {reason}")]
    KeyDecode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A bootstrap address without `/p2p/<peer id>`.
    #[error("bootstrap address {addr} must end in /p2p/<peer id>")]
    BootstrapWithoutPeerId {
        /// The address.
        addr: Multiaddr,
    },
    /// The transport could not be built (e.g. no DNS configuration).
    #[error("cannot build the transport: {0}")]
    Transport(String),
    /// Listening failed (address in use, unsupported address).
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The node task ended before it was ready.
    #[error("the node stopped while starting")]
    Stopped,
}

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The node has shut down.
    #[error("the node has stopped")]
    Stopped,
    /// A file to add cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A block cannot be kept: the store budget is too small for what is added.
    #[error("cannot store the added content: {0}")]
    Store(#[source] StoreError),
    /// The node cannot announce more assets (its provider-record limit).
    #[error("cannot announce {cid}: {reason}")]
    Announce {
        /// The asset.
        cid: Cid,
        /// Why.
        reason: String,
    },
    /// A peer could not be connected to, or is not a peer of this mesh.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The fetch failed; nothing unverified was delivered.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The fetch delivered more bytes than the asset-size limit allows.
    #[error("asset exceeds the {max}-byte limit")]
    TooLarge {
        /// The limit.
        max: u64,
    },
}
