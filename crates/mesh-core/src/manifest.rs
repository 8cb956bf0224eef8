//! Site manifests: path → `{cid, size, type}`.
//!
//! A manifest tells a page which CID to fetch for each asset URL:
//!
//! ```json
//! {"version":1,"assets":{"/img/banner.jpg":{"cid":"bafk…","size":123,"type":"image/jpeg"}}}
//! ```
//!
//! It may come from anywhere the page trusts to name content (the origin, usually) but is
//! still checked: every path must be a [site path](validate_site_path) and every media type
//! safe to put in a `Content-Type` header, so a bad manifest is refused as a whole instead of
//! failing later, one asset at a time. Keys are *decoded* paths (see [below](#site-paths)); use
//! [`Manifest::get_url_path`] to look up a browser's percent-encoded `pathname`.
//!
//! # Site paths
//!
//! A site path is the decoded path of an asset's URL, as its file is named on disk:
//! `/img/a b.jpg`, not `/img/a%20b.jpg`. That keeps manifests readable and gives each asset one
//! spelling (a URL path has many: `%41` and `A`, `%c3%a9` and `%C3%A9`). Comparison is byte
//! for byte, with no Unicode normalisation or case folding, as in the browser.

mod path;

use std::collections::BTreeMap;

use cid::Cid;

pub use path::{MAX_PATH_BYTES, decode_url_path, site_path, validate_site_path};

/// The manifest format version this build reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// Largest manifest JSON [`Manifest::from_json`] parses, in bytes (about 200 000 assets).
/// Checked before parsing, so a hostile document cannot make us allocate without bound.
pub const MAX_MANIFEST_BYTES: usize = 32 << 20;

/// Longest media type accepted, in bytes (RFC 6838 allows 127 for type and subtype each, plus
/// a little for parameters such as `charset`).
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// One asset of a site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    /// Its CID (serialised as the base32 string).
    #[serde(with = "cid_string")]
    pub cid: Cid,
    /// Size in bytes.
    pub size: u64,
    /// Media type, e.g. `image/jpeg`.
    #[serde(rename = "type")]
    pub content_type: String,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not valid manifest JSON.
    #[error("invalid manifest JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A path that is not an absolute, normalised URL path.
    #[error("invalid site path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A manifest version this build does not read.
    #[error("unsupported manifest version {0}")]
    UnsupportedVersion(u32),
    /// A media type that cannot go into a `Content-Type` header.
    #[error("invalid media type for {path:?}: {reason}")]
    InvalidContentType {
        /// The asset's path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// JSON over [`MAX_MANIFEST_BYTES`].
    #[error("manifest of {size} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Bytes given.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Site paths (starting with `/`) mapped to assets.
///
/// The fields are public for reading; build manifests with [`insert`](Self::insert) and parse
/// them with [`from_json`](Self::from_json), which validate. A manifest put together by hand
/// (or deserialised directly with serde) can be checked with [`validate`](Self::validate).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Format version, currently 1.
    pub version: u32,
    /// Assets by site path.
    pub assets: BTreeMap<String, ManifestEntry>,
}

impl Manifest {
    /// An empty version-1 manifest.
    pub fn new() -> Self {
        Self {
            version: MANIFEST_VERSION,
            assets: BTreeMap::new(),
        }
    }

    /// Adds or replaces `path`, which must be a valid site path (see [`validate_site_path`]);
    /// the entry's media type must be header-safe.
    pub fn insert(&mut self, path: &str, entry: ManifestEntry) -> Result<(), ManifestError> {
        validate_site_path(path)?;
        validate_content_type(path, &entry.content_type)?;
        self.assets.insert(path.to_owned(), entry);
        Ok(())
    }

    /// The asset at the decoded site `path` (`/img/a b.jpg`). For a browser's percent-encoded
    /// `location.pathname`, use [`get_url_path`](Self::get_url_path).
    pub fn get(&self, path: &str) -> Option<&ManifestEntry> {
        self.assets.get(path)
    }

    /// The asset at a percent-encoded URL path, as `location.pathname` or
    /// `new URL(..).pathname` give it (`/img/a%20b.jpg`). `None` if absent, if the decoded
    /// path is not UTF-8, or if it encodes a `/` as `%2F` (a different URL from `/`).
    pub fn get_url_path(&self, url_path: &str) -> Option<&ManifestEntry> {
        self.get(&path::decode_url_path(url_path)?)
    }

    /// The first path holding `cid`, in byte order of paths (so the same on every run), with
    /// its entry. A scan over all assets: for occasional lookups such as naming a block in a
    /// log, not for a hot path.
    pub fn find_cid(&self, cid: &Cid) -> Option<(&str, &ManifestEntry)> {
        self.assets
            .iter()
            .find(|(_, entry)| entry.cid == *cid)
            .map(|(path, entry)| (path.as_str(), entry))
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// Whether there is no asset.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// Checks the version, every path and every media type, as [`from_json`](Self::from_json)
    /// does.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(self.version));
        }
        for (path, entry) in &self.assets {
            validate_site_path(path)?;
            validate_content_type(path, &entry.content_type)?;
        }
        Ok(())
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Only string keys, integers and strings: serde_json cannot fail on them.
        serde_json::to_string_pretty(self).expect("a manifest always serialises to JSON")
    }

    /// Parses and validates JSON. The version is read first, so a document of another version
    /// is refused as [`ManifestError::UnsupportedVersion`] even if its shape changed. Unknown
    /// fields are ignored, so later versions can add optional ones.
    pub fn from_json(json: &str) -> Result<Self, ManifestError> {
        /// The one field every version has, read before committing to a shape.
        #[derive(serde::Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        if json.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size: json.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        let VersionOnly { version } = serde_json::from_str(json)?;
        if version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        let manifest: Manifest = serde_json::from_str(json)?;
        manifest.validate()?;
        Ok(manifest)
    }
}

/// Checks that `content_type` can be sent as a `Content-Type` header value: printable ASCII
/// (a newline would split the header; the browser's `Headers` throws on such values) and at
/// most [`MAX_CONTENT_TYPE_BYTES`]. Empty is allowed: the asset's type is then unknown.
fn validate_content_type(path: &str, content_type: &str) -> Result<(), ManifestError> {
    let invalid = |reason| ManifestError::InvalidContentType {
        path: path.to_owned(),
        reason,
    };
    if content_type.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(invalid("longer than 255 bytes"));
    }
    if !content_type.bytes().all(|b| matches!(b, b' '..=b'~')) {
        return Err(invalid("not printable ASCII"));
    }
    Ok(())
}

/// Serde for a CID as its canonical string (base32 for v1), as people and browsers read it.
mod cid_string {
    use cid::Cid;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(cid: &Cid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(cid)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cid, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Cid::try_from(text.as_ref())
            .map_err(|e| D::Error::custom(format!("invalid CID {text:?}: {e}")))
    }
}
