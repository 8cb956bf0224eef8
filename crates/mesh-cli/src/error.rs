//! The errors `mesh` reports, and the exit code each one maps to.
//!
//! Every failure a user can cause (a missing file, a malformed CID, content that does not match)
//! gets its own variant so that `main` can print one plain line and pick the documented exit
//! code, instead of a debug dump.

use std::io;
use std::path::PathBuf;

use mesh_core::Cid;
use mesh_core::manifest::ManifestError;

use crate::output::io_reason;

/// Exit status when the content does not match the expected CID (`mesh verify`).
pub(crate) const EXIT_MISMATCH: u8 = 1;
/// Exit status for every other failure: bad usage, an invalid or unsupported CID, unreadable
/// input, unwritable output. The same code clap uses for usage errors, as `cmp` and `diff` do.
pub(crate) const EXIT_TROUBLE: u8 = 2;

/// What went wrong in a subcommand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// Reading an input file, directory or stdin failed.
    #[error("cannot read {}: {}", .path.display(), io_reason(.source))]
    Read {
        /// The path as given (`-` for stdin).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write {}: {}", .path.display(), io_reason(.source))]
    Write {
        /// The path as given (`-` for stdout).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A CID argument that does not parse.
    #[error("invalid CID {text:?}: {reason}")]
    InvalidCid {
        /// The argument.
        text: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A well-formed CID that no file DAG built by mesh can ever have, so comparing would only
    /// produce a misleading "mismatch".
    #[error("unsupported CID {cid}: {reason}")]
    UnsupportedCid {
        /// The CID (boxed, as CIDs are large and errors are rare).
        cid: Box<Cid>,
        /// Why mesh cannot produce it.
        reason: &'static str,
    },
    /// The content hashes to another CID than expected.
    #[error("{} does not match {expected}: its content hashes to {actual}", .path.display())]
    Mismatch {
        /// The file checked.
        path: PathBuf,
        /// The CID given on the command line (boxed, as CIDs are large and errors are rare).
        expected: Box<Cid>,
        /// The CID of the content.
        actual: Box<Cid>,
    },
    /// The site root is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The site holds more files than one manifest may list.
    #[error("{} holds more than {max} files, the most one manifest may list", .root.display())]
    TooManyFiles {
        /// The site root.
        root: PathBuf,
        /// The limit.
        max: usize,
    },
    /// Starting a mesh node, or one of its operations (seeding, fetching), failed.
    #[error("{0}")]
    Node(String),
    /// The manifest refused an entry.
    #[error("cannot add {} to the manifest: {source}", .path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ManifestError,
    },
}

/// Site reading errors keep the messages (and exit status) `mesh` has always printed.
impl From<mesh_site::SiteError> for CliError {
    fn from(err: mesh_site::SiteError) -> Self {
        use mesh_site::SiteError;
        match err {
            SiteError::Read { path, source } => Self::Read { path, source },
            SiteError::NotADirectory(path) => Self::NotADirectory(path),
            SiteError::TooManyFiles { root, max } => Self::TooManyFiles { root, max },
            SiteError::Manifest { path, source } => Self::Manifest { path, source },
            // A variant added later: its own message is already one plain line.
            other => Self::Node(other.to_string()),
        }
    }
}

impl CliError {
    /// The process exit status for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Mismatch { .. } => EXIT_MISMATCH,
            _ => EXIT_TROUBLE,
        }
    }

    /// Wraps a read failure on `path`.
    pub(crate) fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Read {
            path: path.into(),
            source,
        }
    }

    /// Wraps a write failure on `path`.
    pub(crate) fn write(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Write {
            path: path.into(),
            source,
        }
    }
}
