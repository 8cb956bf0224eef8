//! # mesh-site
//!
//! The native, file-system side of a mesh site: which files of a directory are published
//! ([`walk`]), how a file is streamed into its CID in constant memory ([`digest`]), which media
//! type it gets ([`content_type`]) and how those become mesh-core's [`Manifest`]
//! ([`manifest`]).
//!
//! It exists so that every tool that turns a directory into CIDs agrees byte for byte: the
//! `mesh` CLI (`mesh manifest`, `mesh seed`, `mesh cid`) and the origin server (`mesh-origin`,
//! whose ETags are CIDs and which serves the manifest) call the same code. Chunking, hashing
//! and the manifest format stay in mesh-core, which is sans-IO; this crate only adds the
//! reading.
//!
//! Non-goals: progress bars, output formats and messages belong to the callers (hooks such as
//! `on_bytes` let them draw progress).
//!
//! ```
//! # fn main() -> Result<(), mesh_site::SiteError> {
//! let dir = std::env::temp_dir().join(format!("mesh-site-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).map_err(|e| mesh_site::SiteError::read(&dir, e))?;
//! std::fs::write(dir.join("index.html"), b"").map_err(|e| mesh_site::SiteError::read(&dir, e))?;
//! let site = mesh_site::manifest::manifest_of_dir(&dir, None)?;
//! let entry = site.manifest.get("/index.html").expect("listed");
//! assert_eq!(entry.content_type, "text/html");
//! // The empty file's CID, as kubo prints it.
//! assert_eq!(entry.cid.to_string(), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! [`Manifest`]: mesh_core::manifest::Manifest

pub mod content_type;
pub mod digest;
mod error;
pub mod manifest;
pub mod walk;

pub use error::{SiteError, io_reason};
