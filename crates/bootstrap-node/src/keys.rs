//! The node's long-lived secrets, persisted in the data directory.
//!
//! Browsers are configured with addresses such as
//! `/ip4/…/udp/4001/webrtc-direct/certhash/<hash>/p2p/<peer id>`: both the peer id (from the
//! identity key) and the certhash (from the WebRTC certificate) must survive restarts, or every
//! deployed page's bootstrap list breaks. A missing file is created; a present but unreadable or
//! corrupt one is an error and is never overwritten, because replacing it silently would change
//! the node's addresses.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use libp2p::identity::Keypair;
use libp2p_webrtc::tokio::Certificate;

/// File holding the identity keypair (libp2p protobuf encoding).
pub const IDENTITY_FILE: &str = "identity.key";
/// File holding the WebRTC certificate and its private key (PEM).
pub const CERTIFICATE_FILE: &str = "webrtc-cert.pem";
/// Largest key file read; real ones are well under 1 KiB, so anything bigger is not ours.
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Why the node's keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The data directory could not be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A key file exists but could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A key file exists but does not hold a valid key.
    #[error("key file {} is corrupt ({reason}); restore it from a backup or remove it to get new addresses", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A new key could not be written.
    #[error("cannot write key file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Generating a new WebRTC certificate failed.
    #[error("cannot generate a WebRTC certificate: {0}")]
    Generate(String),
}

/// The identity keypair and WebRTC certificate of a node.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// Identity: determines the peer id.
    pub identity: Keypair,
    /// WebRTC-direct certificate: determines the `/certhash` of `/webrtc-direct` addresses.
    pub certificate: Certificate,
    /// Key files that did not exist and were created now. Reported by the caller once the node
    /// is up, so that a configuration error stays the only line on stderr.
    pub created: Vec<PathBuf>,
}

impl NodeKeys {
    /// Loads the keys from `dir`, creating the directory (mode 0700) and any missing key (mode
    /// 0600) first.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        ensure_dir(dir)?;
        let mut created = Vec::new();
        let identity = load_or_create_identity(&dir.join(IDENTITY_FILE), &mut created)?;
        let certificate = load_or_create_certificate(&dir.join(CERTIFICATE_FILE), &mut created)?;
        Ok(Self {
            identity,
            certificate,
            created,
        })
    }
}

fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    let err = |source| KeyError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    if dir.is_dir() {
        // An existing directory keeps the operator's permissions (a mounted volume may need
        // others); a missing key that cannot be written there is reported by `write_secret`.
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    // `mode` is filtered by the umask; set it explicitly so the secrets are never group-readable.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)
}

fn load_or_create_identity(path: &Path, created: &mut Vec<PathBuf>) -> Result<Keypair, KeyError> {
    match read_small(path)? {
        Some(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| KeyError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
        None => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair
                .to_protobuf_encoding()
                .expect("an ed25519 keypair always encodes");
            write_secret(path, &bytes)?;
            created.push(path.to_owned());
            Ok(keypair)
        }
    }
}

fn load_or_create_certificate(
    path: &Path,
    created: &mut Vec<PathBuf>,
) -> Result<Certificate, KeyError> {
    match read_small(path)? {
        Some(bytes) => {
            let corrupt = |reason: String| KeyError::Corrupt {
                path: path.to_owned(),
                reason,
            };
            let pem = String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8 PEM".to_owned()))?;
            Certificate::from_pem(&pem).map_err(|e| corrupt(error_chain(&e)))
        }
        None => {
            let certificate = Certificate::generate(&mut rand::rng())
                .map_err(|e| KeyError::Generate(error_chain(&e)))?;
            write_secret(path, certificate.serialize_pem().as_bytes())?;
            created.push(path.to_owned());
            Ok(certificate)
        }
    }
}

/// Reads a key file of at most [`MAX_KEY_FILE_BYTES`]; `None` if it does not exist.
fn read_small(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::Corrupt {
            path: path.to_owned(),
            reason: format!("{} bytes, larger than any key", meta.len()),
        });
    }
    fs::read(path).map(Some).map_err(read_err)
}

/// Writes `bytes` to `path` with mode 0600, atomically: a crash leaves either no key or a whole
/// one, never a truncated file that would then be reported as corrupt.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

/// Joins an error and its sources into one line, skipping empty and repeated messages.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    // Bounded: error chains are short, but a cyclic `source` must not hang the process.
    for _ in 0..MAX_ERROR_CHAIN {
        let Some(current) = next else { break };
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    if parts.is_empty() {
        "unknown error".to_owned()
    } else {
        parts.join(": ")
    }
}

/// Most error sources joined by [`error_chain`].
const MAX_ERROR_CHAIN: usize = 8;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_persist_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = NodeKeys::load_or_create(&dir).unwrap();
        assert_eq!(first.created.len(), 2);
        let second = NodeKeys::load_or_create(&dir).unwrap();
        assert!(second.created.is_empty());
        assert_eq!(
            first.identity.public().to_peer_id(),
            second.identity.public().to_peer_id()
        );
        assert_eq!(
            first.certificate.fingerprint(),
            second.certificate.fingerprint()
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(IDENTITY_FILE)), 0o600);
        assert_eq!(mode(&dir.join(CERTIFICATE_FILE)), 0o600);
    }

    #[test]
    fn corrupt_files_are_reported_not_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(IDENTITY_FILE), b"not a key").unwrap();
        let err = NodeKeys::load_or_create(tmp.path()).unwrap_err();
        assert!(matches!(err, KeyError::Corrupt { .. }), "{err}");
        assert_eq!(
            fs::read(tmp.path().join(IDENTITY_FILE)).unwrap(),
            b"not a key"
        );

        let tmp = tempfile::tempdir().unwrap();
        NodeKeys::load_or_create(tmp.path()).unwrap();
        fs::write(tmp.path().join(CERTIFICATE_FILE), b"-----BEGIN nonsense").unwrap();
        let err = NodeKeys::load_or_create(tmp.path()).unwrap_err();
        assert!(matches!(err, KeyError::Corrupt { .. }), "{err}");
    }
}
