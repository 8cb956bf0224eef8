//! Loading or creating the node's key.

use std::io;
use std::path::Path;

use libp2p::identity::Keypair;

use crate::config::Identity;
use crate::error::StartError;

/// Largest key file read: an Ed25519 key takes 68 bytes in libp2p's protobuf encoding; RSA keys
/// a few KiB.
const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

/// The keypair `identity` names, creating the key file if it does not exist.
pub(crate) fn load(identity: &Identity) -> Result<Keypair, StartError> {
    match identity {
        Identity::Ephemeral => Ok(Keypair::generate_ed25519()),
        Identity::KeyFile(path) => load_or_create(path),
    }
}

fn load_or_create(path: &Path) -> Result<Keypair, StartError> {
    let key_error = |source| StartError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_KEY_FILE_LEN => Err(StartError::KeyDecode {
            path: path.to_owned(),
            reason: format!("{} bytes is too long for a key", meta.len()),
        }),
        Ok(_) => {
            let bytes = std::fs::read(path).map_err(key_error)?;
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| StartError::KeyDecode {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair
                .to_protobuf_encoding()
                .map_err(|e| key_error(io::Error::other(e.to_string())))?;
            write_private(path, &bytes).map_err(key_error)?;
            Ok(keypair)
        }
        Err(e) => Err(key_error(e)),
    }
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn key_file_is_created_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let first = load(&Identity::KeyFile(path.clone())).unwrap();
        let again = load(&Identity::KeyFile(path.clone())).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
    }

    #[test]
    fn garbage_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        std::fs::write(&path, b"not a key").unwrap();
        let err = load(&Identity::KeyFile(path)).unwrap_err();
        assert!(matches!(err, StartError::KeyDecode { .. }), "{err}");
    }
}
