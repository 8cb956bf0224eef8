//! Deployment namespaces and the protocol ids derived from them.
//!
//! Every protocol id carries the namespace so that two sites' meshes never mix and a node never
//! joins the public IPFS DHT by accident. This module is the only place that spells the ids; when
//! `mesh-protocol` lands it can replace this file one for one.

use std::{fmt, str::FromStr};

use libp2p::StreamProtocol;

/// Longest namespace accepted: ids stay short enough to log and to fit in multistream-select.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// A validated deployment namespace: 1 to [`MAX_NAMESPACE_LEN`] characters of `[a-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

/// Why a string is not a [`Namespace`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The namespace is empty.
    #[error("namespace is empty")]
    Empty,
    /// The namespace is longer than [`MAX_NAMESPACE_LEN`].
    #[error("namespace is {len} characters long, at most {MAX_NAMESPACE_LEN} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The namespace contains a character outside `[a-z0-9-]`.
    #[error("namespace may only contain a-z, 0-9 and '-', found {found:?}")]
    InvalidChar {
        /// The first offending character.
        found: char,
    },
}

impl Namespace {
    /// The namespace used when an operator names none.
    pub const DEFAULT: &'static str = "default";

    /// Validates `name` as a namespace.
    pub fn new(name: &str) -> Result<Self, NamespaceError> {
        if name.is_empty() {
            return Err(NamespaceError::Empty);
        }
        if name.len() > MAX_NAMESPACE_LEN {
            return Err(NamespaceError::TooLong { len: name.len() });
        }
        if let Some(found) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NamespaceError::InvalidChar { found });
        }
        Ok(Self(name.to_owned()))
    }

    /// The namespace as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Kademlia protocol id: `/mesh/<ns>/kad/1.0.0`.
    pub fn kad_protocol(&self) -> StreamProtocol {
        self.protocol("kad/1.0.0")
    }

    /// Block-exchange protocol id: `/mesh/<ns>/blocks/1.0.0`. The bootstrap node never serves it;
    /// it is here so that every id of the namespace is spelled in one place.
    pub fn blocks_protocol(&self) -> StreamProtocol {
        self.protocol("blocks/1.0.0")
    }

    /// Identify protocol version: `/mesh/<ns>/1.0.0`.
    pub fn identify_protocol_version(&self) -> String {
        format!("/mesh/{}/1.0.0", self.0)
    }

    fn protocol(&self, suffix: &str) -> StreamProtocol {
        // Validation above guarantees a leading '/' and ASCII only, which is all
        // `StreamProtocol` requires.
        StreamProtocol::try_from_owned(format!("/mesh/{}/{suffix}", self.0))
            .expect("a validated namespace always forms a valid protocol id")
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_carry_the_namespace() {
        let ns = Namespace::new("shop-eu1").unwrap();
        assert_eq!(ns.kad_protocol().as_ref(), "/mesh/shop-eu1/kad/1.0.0");
        assert_eq!(ns.blocks_protocol().as_ref(), "/mesh/shop-eu1/blocks/1.0.0");
        assert_eq!(ns.identify_protocol_version(), "/mesh/shop-eu1/1.0.0");
        assert_eq!(Namespace::default().as_str(), "default");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Namespace::new(""), Err(NamespaceError::Empty));
        assert_eq!(
            Namespace::new(&"a".repeat(MAX_NAMESPACE_LEN + 1)),
            Err(NamespaceError::TooLong {
                len: MAX_NAMESPACE_LEN + 1
            })
        );
        assert!(Namespace::new(&"a".repeat(MAX_NAMESPACE_LEN)).is_ok());
        for bad in ["A", "a/b", "a b", "é", "a_b", "a.b"] {
            assert!(
                matches!(Namespace::new(bad), Err(NamespaceError::InvalidChar { .. })),
                "{bad}"
            );
        }
    }
}
