//! The site manifest served at [`MANIFEST_PATH`](crate::config::MANIFEST_PATH).

use std::path::Path;

use bytes::Bytes;
use mesh_core::manifest::Manifest;

use crate::error::OriginError;
use crate::files::CidCache;

/// The manifest document, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct ManifestDoc {
    /// The JSON bytes.
    pub(crate) body: Bytes,
    /// Its strong ETag: the CID of those bytes, quoted.
    pub(crate) etag: String,
    /// The parsed manifest, for callers that want to look at it.
    pub(crate) manifest: Manifest,
}

impl ManifestDoc {
    fn new(body: Bytes, manifest: Manifest) -> Self {
        let etag = format!("\"{}\"", mesh_core::dag::cid_of(&body));
        Self {
            body,
            etag,
            manifest,
        }
    }

    /// Walks and hashes `root` exactly as `mesh manifest root` does, and remembers each file's
    /// CID in `cids` so serving it does not hash it again. Blocking: hashes every file.
    pub(crate) fn compute(root: &Path, cids: &CidCache) -> Result<Self, OriginError> {
        let site = mesh_site::manifest::manifest_of_dir(root, None).map_err(|source| {
            OriginError::Manifest {
                root: root.to_owned(),
                source,
            }
        })?;
        for file in &site.walk.files {
            let (Some(entry), Ok(meta)) = (
                site.manifest.get(&file.site_path),
                std::fs::symlink_metadata(&file.path),
            ) else {
                continue;
            };
            // Symlinks are served through their target's path; those are hashed on first use.
            if meta.is_file() && meta.len() == entry.size {
                cids.insert(
                    file.path.clone(),
                    entry.size,
                    meta.modified().ok(),
                    entry.cid,
                );
            }
        }
        let mut json = site.manifest.to_json();
        json.push('\n');
        Ok(Self::new(Bytes::from(json), site.manifest))
    }

    /// Reads a prebuilt manifest, refusing one mesh-core would refuse; served byte for byte.
    pub(crate) fn load(path: &Path) -> Result<Self, OriginError> {
        let body = std::fs::read(path).map_err(|source| OriginError::ManifestRead {
            path: path.to_owned(),
            source,
        })?;
        let text = std::str::from_utf8(&body).map_err(|e| OriginError::ManifestRead {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let manifest =
            Manifest::from_json(text).map_err(|source| OriginError::ManifestInvalid {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self::new(Bytes::from(body), manifest))
    }
}
