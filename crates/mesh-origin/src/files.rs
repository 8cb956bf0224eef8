//! Mapping URL paths to files: the root and the mounts, and the CIDs used as ETags.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use mesh_core::Cid;
use mesh_site::walk::{Lookup, Site};

use crate::config::Mount;
use crate::error::OriginError;

/// The index file of a directory URL (`/docs/` serves `/docs/index.html`).
pub(crate) const INDEX_FILE: &str = "index.html";

/// The served directories, longest prefix first.
#[derive(Debug)]
pub(crate) struct Mounts {
    /// `(prefix, site)`; the root's prefix is empty.
    sites: Vec<(String, Site)>,
}

/// What a decoded URL path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A published file.
    File(PathBuf),
    /// A directory: redirect to the path with a trailing `/`.
    Directory,
    /// Nothing.
    Missing,
}

impl Mounts {
    /// Opens the root and every mount; fails on a directory that cannot be served or a prefix
    /// given twice.
    pub(crate) fn open(root: &Path, mounts: &[Mount]) -> Result<Self, OriginError> {
        let open = |dir: &Path| {
            Site::open(dir).map_err(|source| OriginError::Directory {
                path: dir.to_owned(),
                source,
            })
        };
        let mut sites = vec![(String::new(), open(root)?)];
        for mount in mounts {
            if sites.iter().any(|(prefix, _)| prefix == mount.prefix()) {
                return Err(OriginError::DuplicateMount(mount.prefix().to_owned()));
            }
            sites.push((mount.prefix().to_owned(), open(mount.dir())?));
        }
        sites.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Self { sites })
    }

    /// What the decoded path `path` names. A path ending in `/` names that directory's
    /// [`INDEX_FILE`]; a mount's bare prefix (`/pkg`) is a directory.
    pub(crate) fn resolve(&self, path: &str) -> Resolved {
        let with_index;
        let path = if path.ends_with('/') {
            with_index = format!("{path}{INDEX_FILE}");
            with_index.as_str()
        } else {
            path
        };
        for (prefix, site) in &self.sites {
            if path == prefix {
                return Resolved::Directory;
            }
            let Some(rest) = path.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if !rest.starts_with('/') {
                continue;
            }
            return match site.lookup(rest) {
                Lookup::File(file) => Resolved::File(file),
                Lookup::Directory => Resolved::Directory,
                _ => Resolved::Missing,
            };
        }
        Resolved::Missing
    }
}

/// Most CIDs remembered; past it the cache starts over (sites are far smaller).
pub(crate) const MAX_CACHED_CIDS: usize = 100_000;

/// CIDs of files, keyed by path and invalidated by a change of size or modification time, so
/// each file is hashed once however often it is served.
#[derive(Debug, Default)]
pub(crate) struct CidCache {
    entries: Mutex<HashMap<PathBuf, Remembered>>,
}

/// A file's size and modification time when it hashed to the CID.
type Remembered = (u64, Option<SystemTime>, Cid);

impl CidCache {
    /// The remembered CID of `path` if its size and mtime are still `len` and `mtime`.
    pub(crate) fn get(&self, path: &Path, len: u64, mtime: Option<SystemTime>) -> Option<Cid> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match entries.get(path) {
            Some(&(l, m, cid)) if l == len && m == mtime => Some(cid),
            _ => None,
        }
    }

    /// Remembers `cid` for `path` at `len` and `mtime`.
    pub(crate) fn insert(&self, path: PathBuf, len: u64, mtime: Option<SystemTime>, cid: Cid) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_CACHED_CIDS && !entries.contains_key(&path) {
            entries.clear();
        }
        entries.insert(path, (len, mtime, cid));
    }

    /// The CID of the file at `path`, whose metadata says `len` and `mtime`: remembered, or
    /// computed (on a blocking thread) and remembered.
    pub(crate) async fn cid_of(
        &self,
        path: &Path,
        len: u64,
        mtime: Option<SystemTime>,
    ) -> Result<Cid, mesh_site::SiteError> {
        if let Some(cid) = self.get(path, len, mtime) {
            return Ok(cid);
        }
        let owned = path.to_owned();
        let root = tokio::task::spawn_blocking(move || mesh_site::digest::root_of_file(&owned))
            .await
            .map_err(|e| mesh_site::SiteError::read(path, std::io::Error::other(e)))??;
        // Only remember a digest of the size we were told: otherwise the file changed while
        // being read, and the next request hashes it again.
        if root.size == len {
            self.insert(path.to_owned(), len, mtime, root.cid);
        }
        Ok(root.cid)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn longest_prefix_wins_and_index_files() {
        let root = tempfile::tempdir().unwrap();
        let pkg = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("index.html"), "root").unwrap();
        std::fs::create_dir(root.path().join("pkg")).unwrap();
        std::fs::write(root.path().join("pkg/shadowed.js"), "x").unwrap();
        std::fs::write(pkg.path().join("mesh.js"), "pkg").unwrap();
        std::fs::write(pkg.path().join("index.html"), "pkg index").unwrap();
        let mounts = Mounts::open(root.path(), &[Mount::new("/pkg", pkg.path()).unwrap()]).unwrap();
        assert_eq!(
            mounts.resolve("/"),
            Resolved::File(root.path().join("index.html"))
        );
        assert_eq!(
            mounts.resolve("/pkg/mesh.js"),
            Resolved::File(pkg.path().join("mesh.js"))
        );
        assert_eq!(
            mounts.resolve("/pkg/"),
            Resolved::File(pkg.path().join("index.html"))
        );
        assert_eq!(mounts.resolve("/pkg"), Resolved::Directory);
        assert_eq!(mounts.resolve("/pkg/shadowed.js"), Resolved::Missing);
        assert_eq!(mounts.resolve("/pkgx"), Resolved::Missing);
        assert_eq!(mounts.resolve("/../etc/passwd"), Resolved::Missing);
    }

    #[test]
    fn a_prefix_twice_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let mount = Mount::new("/a", root.path()).unwrap();
        let err = Mounts::open(root.path(), &[mount.clone(), mount]).unwrap_err();
        assert!(matches!(err, OriginError::DuplicateMount(_)), "{err}");
    }
}
