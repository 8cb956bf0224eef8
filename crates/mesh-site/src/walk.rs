//! Finding the files of a site directory, deterministically and without leaving it.
//!
//! Rules, in order:
//! * Entries are visited sorted by file name, so the same tree always gives the same list.
//! * Hidden entries (name starting with `.`) are skipped, and hidden directories are not entered:
//!   `.git`, `.DS_Store` and editor droppings are never published.
//! * `exclude` (the manifest being written, when it lies inside the site) is skipped.
//! * A symlink is listed only when it resolves to a regular, non-hidden file inside the site;
//!   it is then listed under its own path (as a web server would serve it). Symlinks to
//!   directories are not entered, and symlinks that dangle or lead out of the site are skipped
//!   with a warning: publishing must never pick up files from elsewhere on the machine.
//! * Other special files (sockets, FIFOs, devices) are skipped with a warning.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use mesh_core::manifest::{site_path, validate_site_path};
use walkdir::{DirEntry, WalkDir};

use crate::SiteError;

/// Most files one manifest may list. Sites are far smaller; beyond this the directory is
/// almost certainly the wrong one (a home directory, `/`), and we stop rather than hash it all.
pub const MAX_SITE_FILES: usize = 100_000;

/// A file to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// Where to read it: the site root joined with its relative path.
    pub path: PathBuf,
    /// Its URL path: `/` + the relative path with `/` separators.
    pub site_path: String,
    /// Its size when listed, for progress; the manifest records the size actually hashed.
    pub size: u64,
}

/// An entry left out, with the reason, for a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry.
    pub path: PathBuf,
    /// Why it is not published.
    pub reason: &'static str,
}

/// The outcome of a walk.
#[derive(Debug, Default)]
pub struct SiteWalk {
    /// Files to publish, in walk order.
    pub files: Vec<SiteFile>,
    /// Entries left out that deserve a warning (hidden files are left out silently).
    pub skipped: Vec<Skipped>,
}

impl SiteWalk {
    /// Total bytes of all listed files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Lists the files of the site rooted at `root` following the module's rules, leaving out
/// `exclude` if it lies inside.
pub fn walk_site(root: &Path, exclude: Option<&Path>) -> Result<SiteWalk, SiteError> {
    let meta = fs::metadata(root).map_err(|e| SiteError::read(root, e))?;
    if !meta.is_dir() {
        return Err(SiteError::NotADirectory(root.to_owned()));
    }
    let real_root = fs::canonicalize(root).map_err(|e| SiteError::read(root, e))?;
    let exclude = exclude.and_then(canonical_target);

    let mut walk = SiteWalk::default();
    let entries = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in entries {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        if entry.depth() == 0 {
            continue;
        }
        let file_type = entry.file_type();
        let real_path = if file_type.is_symlink() {
            match resolve_symlink(&entry, &real_root) {
                Ok(target) => Some(target),
                Err(reason) => {
                    walk.skipped.push(Skipped {
                        path: entry.path().to_owned(),
                        reason,
                    });
                    continue;
                }
            }
        } else if file_type.is_dir() {
            continue;
        } else if !file_type.is_file() {
            walk.skipped.push(Skipped {
                path: entry.path().to_owned(),
                reason: "not a regular file",
            });
            continue;
        } else {
            None
        };
        if let Some(exclude) = &exclude {
            let real = match real_path.clone() {
                Some(real) => Some(real),
                // Canonicalising every file is wasted work: only a name match can be it.
                None if Some(entry.file_name()) == exclude.file_name() => {
                    canonical_target(entry.path())
                }
                None => None,
            };
            if real.as_deref() == Some(exclude.as_path()) {
                continue;
            }
        }
        if walk.files.len() >= MAX_SITE_FILES {
            return Err(SiteError::TooManyFiles {
                root: root.to_owned(),
                max: MAX_SITE_FILES,
            });
        }
        let size = fs::metadata(entry.path())
            .map_err(|e| SiteError::read(entry.path(), e))?
            .len();
        walk.files.push(SiteFile {
            path: entry.path().to_owned(),
            site_path: site_path_of(entry.path(), root)?,
            size,
        });
    }
    Ok(walk)
}

/// What a site path names in a site directory, by the same rules as [`walk_site`] (so a
/// server using it serves exactly the files a manifest of the directory lists).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup {
    /// A published regular file; the path to open (a symlink's target, resolved).
    File(PathBuf),
    /// A real directory (not a symlink to one): a server may redirect to `path/` and serve its
    /// index file.
    Directory,
    /// Nothing published: absent, hidden, not a valid site path, a symlink leading out of the
    /// site, under a symlinked directory, a special file, or unreadable.
    Missing,
}

/// A site directory to look paths up in, one at a time (for servers; [`walk_site`] lists them
/// all).
#[derive(Debug, Clone)]
pub struct Site {
    root: PathBuf,
    real_root: PathBuf,
}

impl Site {
    /// Opens the site rooted at `root`, which must be a directory.
    pub fn open(root: &Path) -> Result<Self, SiteError> {
        let meta = fs::metadata(root).map_err(|e| SiteError::read(root, e))?;
        if !meta.is_dir() {
            return Err(SiteError::NotADirectory(root.to_owned()));
        }
        let real_root = fs::canonicalize(root).map_err(|e| SiteError::read(root, e))?;
        Ok(Self {
            root: root.to_owned(),
            real_root,
        })
    }

    /// The root directory as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the decoded site path `site_path` (`/img/a b.svg`; see
    /// [`mesh_core::manifest::validate_site_path`]) names in this site. Reads the file system
    /// afresh on every call, so files added or removed since are seen.
    pub fn lookup(&self, site_path: &str) -> Lookup {
        if validate_site_path(site_path).is_err() {
            return Lookup::Missing;
        }
        let segments: Vec<&str> = site_path.split('/').skip(1).collect();
        if segments.iter().any(|s| is_hidden(std::ffi::OsStr::new(s))) {
            return Lookup::Missing;
        }
        let Some((last, parents)) = segments.split_last() else {
            return Lookup::Missing;
        };
        let mut path = self.root.clone();
        for segment in parents {
            path.push(segment);
            // The walk does not enter symlinked directories; neither do we.
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                _ => return Lookup::Missing,
            }
        }
        path.push(last);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return Lookup::Missing;
        };
        let file_type = meta.file_type();
        if file_type.is_dir() {
            Lookup::Directory
        } else if file_type.is_file() {
            Lookup::File(path)
        } else if file_type.is_symlink() {
            match resolve_symlink_path(&path, &self.real_root) {
                Ok(target) => Lookup::File(target),
                Err(_) => Lookup::Missing,
            }
        } else {
            Lookup::Missing
        }
    }
}

/// Whether a file name is hidden by Unix convention.
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Where a symlink leads, if it is one we publish: a regular, non-hidden file inside the site.
fn resolve_symlink(entry: &DirEntry, real_root: &Path) -> Result<PathBuf, &'static str> {
    resolve_symlink_path(entry.path(), real_root)
}

/// [`resolve_symlink`] for a path.
fn resolve_symlink_path(path: &Path, real_root: &Path) -> Result<PathBuf, &'static str> {
    let target = fs::canonicalize(path).map_err(|_| "broken symlink")?;
    let Ok(inside) = target.strip_prefix(real_root) else {
        return Err("symlink leads outside the site");
    };
    let hidden = inside.components().any(|c| match c {
        Component::Normal(name) => is_hidden(name),
        _ => false,
    });
    if hidden {
        return Err("symlink leads to a hidden file");
    }
    let meta = fs::metadata(&target).map_err(|_| "broken symlink")?;
    if meta.is_dir() {
        return Err("symlink to a directory (not followed)");
    }
    if !meta.is_file() {
        return Err("symlink to something other than a regular file");
    }
    Ok(target)
}

/// The canonical path `path` names, also when the file does not exist yet (an output file):
/// then its canonical parent joined with its name.
fn canonical_target(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = fs::canonicalize(path) {
        return Some(real);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(fs::canonicalize(parent).ok()?.join(name))
}

/// The site path of `path` under `root`, by mesh-core's rules (so it is one `Manifest` accepts).
fn site_path_of(path: &Path, root: &Path) -> Result<String, SiteError> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    site_path(relative).map_err(|source| SiteError::Manifest {
        path: path.to_owned(),
        source,
    })
}

/// A walkdir failure as a read error on the entry it concerns.
fn walk_error(root: &Path, err: walkdir::Error) -> SiteError {
    let path = err.path().unwrap_or(root).to_owned();
    let source = err
        .into_io_error()
        .unwrap_or_else(|| io::Error::other("filesystem loop"));
    SiteError::read(path, source)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, file.as_bytes()).unwrap();
        }
        dir
    }

    fn site_paths(walk: &SiteWalk) -> Vec<&str> {
        walk.files.iter().map(|f| f.site_path.as_str()).collect()
    }

    #[test]
    fn lists_sorted_and_skips_hidden() {
        let dir = tree(&[
            "z.txt",
            "a/b/c.css",
            "a/.hidden/x.js",
            ".git/config",
            ".env",
            "a/ok.svg",
            "B.html",
        ]);
        let walk = walk_site(dir.path(), None).unwrap();
        assert_eq!(
            site_paths(&walk),
            ["/B.html", "/a/b/c.css", "/a/ok.svg", "/z.txt"]
        );
        assert!(walk.skipped.is_empty());
        assert_eq!(walk.total_bytes(), (6 + 9 + 8 + 5) as u64);
    }

    #[test]
    fn excludes_the_output_file_even_before_it_exists() {
        let dir = tree(&["index.html", "out/keep.json"]);
        let out = dir.path().join("out").join("manifest.json");
        let walk = walk_site(dir.path(), Some(&out)).unwrap();
        assert_eq!(site_paths(&walk), ["/index.html", "/out/keep.json"]);
        fs::write(&out, "{}").unwrap();
        let walk = walk_site(dir.path(), Some(&out)).unwrap();
        assert_eq!(site_paths(&walk), ["/index.html", "/out/keep.json"]);
        let walk = walk_site(dir.path(), None).unwrap();
        assert_eq!(
            site_paths(&walk),
            ["/index.html", "/out/keep.json", "/out/manifest.json"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_stay_inside_the_site() {
        use std::os::unix::fs::symlink;
        let outside = tree(&["secret.txt"]);
        let dir = tree(&["img/logo.svg", ".private"]);
        let root = dir.path();
        symlink("img/logo.svg", root.join("alias.svg")).unwrap();
        symlink(outside.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink("img", root.join("images")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        symlink(".private", root.join("peek")).unwrap();
        let walk = walk_site(root, None).unwrap();
        assert_eq!(site_paths(&walk), ["/alias.svg", "/img/logo.svg"]);
        let skipped: Vec<_> = walk
            .skipped
            .iter()
            .map(|s| (s.path.file_name().unwrap().to_str().unwrap(), s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                ("dangling", "broken symlink"),
                ("images", "symlink to a directory (not followed)"),
                ("leak.txt", "symlink leads outside the site"),
                ("peek", "symlink leads to a hidden file"),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn names_that_cannot_be_site_paths_are_errors() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tree(&["ok.txt"]);
        fs::write(dir.path().join("what?.txt"), "").unwrap();
        let err = walk_site(dir.path(), None).unwrap_err();
        assert!(matches!(err, SiteError::Manifest { .. }), "{err:?}");
        assert!(err.to_string().contains("what?.txt"), "{err}");

        let dir = tree(&["ok.txt"]);
        let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        fs::write(dir.path().join(latin1), "").unwrap();
        let err = walk_site(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn a_file_is_not_a_site() {
        let dir = tree(&["index.html"]);
        let err = walk_site(&dir.path().join("index.html"), None).unwrap_err();
        assert!(matches!(err, SiteError::NotADirectory(_)), "{err:?}");
    }

    #[test]
    fn lookup_agrees_with_the_walk() {
        let dir = tree(&["index.html", "img/logo.svg", ".env", "a/.hidden/x.js"]);
        let site = Site::open(dir.path()).unwrap();
        assert_eq!(
            site.lookup("/img/logo.svg"),
            Lookup::File(dir.path().join("img/logo.svg"))
        );
        assert_eq!(site.lookup("/img"), Lookup::Directory);
        for missing in [
            "/nope.html",
            "/.env",
            "/a/.hidden/x.js",
            "/img/../index.html",
            "/img//logo.svg",
            "/img/",
            "img/logo.svg",
            "/",
        ] {
            assert_eq!(site.lookup(missing), Lookup::Missing, "{missing}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn lookup_follows_symlinks_only_inside_the_site() {
        use std::os::unix::fs::symlink;
        let outside = tree(&["secret.txt"]);
        let dir = tree(&["img/logo.svg", ".private"]);
        let root = dir.path();
        symlink("img/logo.svg", root.join("alias.svg")).unwrap();
        symlink(outside.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink("img", root.join("images")).unwrap();
        symlink(outside.path(), root.join("out")).unwrap();
        symlink(".private", root.join("peek")).unwrap();
        let site = Site::open(root).unwrap();
        let real = fs::canonicalize(root.join("img/logo.svg")).unwrap();
        assert_eq!(site.lookup("/alias.svg"), Lookup::File(real));
        for missing in [
            "/leak.txt",
            "/images",
            "/images/logo.svg",
            "/out/secret.txt",
            "/peek",
        ] {
            assert_eq!(site.lookup(missing), Lookup::Missing, "{missing}");
        }
    }
}
