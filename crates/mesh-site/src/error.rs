//! The one error type of site reading.

use std::io;
use std::path::PathBuf;

use mesh_core::manifest::ManifestError;

/// Why a site (or one of its files) could not be read or described.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SiteError {
    /// Reading a file or directory failed.
    #[error("cannot read {}: {}", .path.display(), io_reason(.source))]
    Read {
        /// The path concerned.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
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
    /// The manifest refused an entry (a file name that cannot be a site path, say).
    #[error("cannot add {} to the manifest: {source}", .path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ManifestError,
    },
}

impl SiteError {
    /// Wraps a read failure on `path`.
    pub fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Read {
            path: path.into(),
            source,
        }
    }
}

/// An I/O error's message without the `(os error N)` suffix, which says nothing to a user.
pub fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => {
            let suffix = format!(" (os error {code})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_are_one_plain_line() {
        let err = SiteError::read("www/x.png", io::Error::from_raw_os_error(2));
        assert_eq!(
            err.to_string(),
            "cannot read www/x.png: No such file or directory"
        );
    }
}
