//! Why the server could not start.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use mesh_site::io_reason;

/// A configuration or start-up failure; each prints as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The site root or a mounted directory cannot be served.
    #[error("cannot serve {}: {source}", .path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: mesh_site::SiteError,
    },
    /// A `--mount` that does not parse or is not allowed.
    #[error("bad mount {spec:?}: {reason}")]
    BadMount {
        /// The mount as given.
        spec: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two mounts with the same prefix.
    #[error("mount prefix {0} given twice")]
    DuplicateMount(String),
    /// The root's manifest could not be computed.
    #[error("cannot build the manifest of {}: {source}", .root.display())]
    Manifest {
        /// The site root.
        root: PathBuf,
        /// Why.
        #[source]
        source: mesh_site::SiteError,
    },
    /// The `--manifest` file cannot be read.
    #[error("cannot read manifest {}: {}", .path.display(), io_reason(.source))]
    ManifestRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The `--manifest` file is not a valid manifest.
    #[error("invalid manifest {}: {source}", .path.display())]
    ManifestInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: mesh_core::manifest::ManifestError,
    },
    /// `Cache-Control` that cannot be a header value.
    #[error("invalid --cache-control value {0:?}: not printable ASCII")]
    BadCacheControl(String),
    /// Binding the listen address failed (port in use, address not local, …).
    #[error("cannot listen on {addr}: {}", io_reason(.source))]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The async runtime could not be created.
    #[error("cannot start the async runtime: {}", io_reason(.0))]
    Runtime(#[source] io::Error),
}
