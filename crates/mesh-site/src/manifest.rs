//! Describing files and whole site directories as mesh-core manifests.

use std::path::Path;

use mesh_core::manifest::{Manifest, ManifestEntry};

use crate::SiteError;
use crate::content_type::content_type_of;
use crate::digest::digest_file;
use crate::walk::{SiteFile, SiteWalk, walk_site};

/// Hashes one listed file into its manifest entry (CID, size actually hashed, media type from
/// the site path), reporting bytes hashed to `on_bytes`.
pub fn describe(
    file: &SiteFile,
    on_bytes: &mut impl FnMut(u64),
) -> Result<ManifestEntry, SiteError> {
    let root = digest_file(&file.path, on_bytes, &mut |_| {})?;
    Ok(ManifestEntry {
        cid: root.cid,
        size: root.size,
        content_type: content_type_of(&file.site_path).to_owned(),
    })
}

/// Adds `file`'s `entry` to `manifest`, naming the file if the manifest refuses it.
pub fn insert(
    manifest: &mut Manifest,
    file: &SiteFile,
    entry: ManifestEntry,
) -> Result<(), SiteError> {
    manifest
        .insert(&file.site_path, entry)
        .map_err(|source| SiteError::Manifest {
            path: file.path.clone(),
            source,
        })
}

/// A site directory's manifest and the walk it came from.
#[derive(Debug)]
pub struct SiteManifest {
    /// The manifest, as `mesh manifest` writes it.
    pub manifest: Manifest,
    /// The files listed (each one's site path is a key of `manifest`) and the entries skipped
    /// with a warning.
    pub walk: SiteWalk,
}

/// Walks `root` (leaving out `exclude`, see [`walk_site`]) and describes every file: the
/// manifest `mesh manifest root` prints.
pub fn manifest_of_dir(root: &Path, exclude: Option<&Path>) -> Result<SiteManifest, SiteError> {
    let walk = walk_site(root, exclude)?;
    let mut manifest = Manifest::new();
    for file in &walk.files {
        let entry = describe(file, &mut |_| {})?;
        insert(&mut manifest, file, entry)?;
    }
    Ok(SiteManifest { manifest, walk })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_listed_file_is_described() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/mesh_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.path().join("index.html"), b"<!doctype html>").unwrap();
        std::fs::write(dir.path().join(".secret"), b"x").unwrap();
        let site = manifest_of_dir(dir.path(), None).unwrap();
        let paths: Vec<_> = site.manifest.assets.keys().map(String::as_str).collect();
        assert_eq!(paths, ["/index.html", "/pkg/mesh_bg.wasm"]);
        let wasm = site.manifest.get("/pkg/mesh_bg.wasm").unwrap();
        assert_eq!(wasm.content_type, "application/wasm");
        assert_eq!(wasm.size, 4);
        assert_eq!(wasm.cid, mesh_core::dag::cid_of(b"\0asm"));
    }
}
