//! Site manifests: path → `{cid, size, type}`.
//!
//! INTERFACE SKELETON: bodies to be implemented (owner: store helper).

use std::collections::BTreeMap;

use cid::Cid;

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
}

/// Site paths (starting with `/`) mapped to assets.
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
        todo!()
    }
    /// Adds or replaces `path`.
    pub fn insert(&mut self, _path: &str, _entry: ManifestEntry) -> Result<(), ManifestError> {
        todo!()
    }
    /// The asset at `path`.
    pub fn get(&self, _path: &str) -> Option<&ManifestEntry> {
        todo!()
    }
    /// The first path holding `cid`.
    pub fn find_cid(&self, _cid: &Cid) -> Option<(&str, &ManifestEntry)> {
        todo!()
    }
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        todo!()
    }
    /// Parses and validates JSON.
    pub fn from_json(_json: &str) -> Result<Self, ManifestError> {
        todo!()
    }
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
