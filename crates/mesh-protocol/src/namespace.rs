//! Deployment namespaces and the protocol ids built from them.
//!
//! Every protocol id of a mesh carries its namespace, so two sites' meshes never exchange a
//! single message (libp2p refuses to negotiate a protocol the other side does not speak), and a
//! mesh node never joins the public IPFS DHT (`/ipfs/kad/1.0.0`) by accident.

use std::fmt;
use std::str::FromStr;

use libp2p::StreamProtocol;

/// Longest namespace, in characters. Keeps protocol ids well under libp2p's 140-byte limit.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// The namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A validated deployment namespace: 1 to [`MAX_NAMESPACE_LEN`] characters of `[a-z0-9-]`.
///
/// The character set keeps the name safe inside a protocol id (no `/`), in a URL and on a
/// command line, and makes it case-exact (no `Site`/`site` twins).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

/// Why a string is not a [`Namespace`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The empty string.
    #[error("namespace is empty")]
    Empty,
    /// Longer than [`MAX_NAMESPACE_LEN`].
    #[error("namespace is {len} characters long, over the {MAX_NAMESPACE_LEN}-character limit")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `[a-z0-9-]`.
    #[error("namespace contains {found:?} at byte {index}; only a-z, 0-9 and '-' are allowed")]
    InvalidChar {
        /// The offending character.
        found: char,
        /// Its byte offset.
        index: usize,
    },
}

impl Namespace {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, NamespaceError> {
        let name = name.into();
        if name.is_empty() {
            return Err(NamespaceError::Empty);
        }
        if name.len() > MAX_NAMESPACE_LEN {
            return Err(NamespaceError::TooLong { len: name.len() });
        }
        if let Some((index, found)) = name
            .char_indices()
            .find(|(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(NamespaceError::InvalidChar { found, index });
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Kademlia protocol: `/mesh/<ns>/kad/1.0.0`.
    pub fn kad_protocol(&self) -> StreamProtocol {
        self.protocol(&format!("/mesh/{}/kad/1.0.0", self.0))
    }

    /// The delegated routing protocol: `/mesh/<ns>/routing/1.0.0` (browsers ask their bootstrap
    /// nodes for providers, and announce to them, by it).
    pub fn routing_protocol(&self) -> StreamProtocol {
        self.protocol(&format!("/mesh/{}/routing/1.0.0", self.0))
    }

    /// The block-exchange protocol: `/mesh/<ns>/blocks/2.0.0` (2.0.0: a session per connection;
    /// 1.1.0 added notices: have-summaries, withdrawals and cancels).
    pub fn blocks_protocol(&self) -> StreamProtocol {
        self.protocol(&format!("/mesh/{}/blocks/2.0.0", self.0))
    }

    /// The identify protocol version a node announces: `/mesh/<ns>/1.0.0`. Peers announcing
    /// another version belong to another mesh (or are no mesh node at all).
    pub fn identify_protocol_version(&self) -> String {
        format!("/mesh/{}/1.0.0", self.0)
    }

    fn protocol(&self, id: &str) -> StreamProtocol {
        // Always valid: it starts with '/' and the namespace holds no exotic characters.
        StreamProtocol::try_from_owned(id.to_owned())
            .unwrap_or_else(|_| StreamProtocol::new("/mesh/invalid/1.0.0"))
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self(DEFAULT_NAMESPACE.to_owned())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The Kademlia protocol of `namespace` (see [`Namespace::kad_protocol`]).
pub fn kad_protocol(namespace: &Namespace) -> StreamProtocol {
    namespace.kad_protocol()
}

/// The block-exchange protocol of `namespace` (see [`Namespace::blocks_protocol`]).
pub fn blocks_protocol(namespace: &Namespace) -> StreamProtocol {
    namespace.blocks_protocol()
}

/// The identify protocol version of `namespace` (see [`Namespace::identify_protocol_version`]).
pub fn identify_protocol_version(namespace: &Namespace) -> String {
    namespace.identify_protocol_version()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn builds_protocol_ids() {
        let ns = Namespace::new("shop-eu-1").unwrap();
        assert_eq!(ns.kad_protocol().as_ref(), "/mesh/shop-eu-1/kad/1.0.0");
        assert_eq!(
            ns.blocks_protocol().as_ref(),
            "/mesh/shop-eu-1/blocks/2.0.0"
        );
        assert_eq!(ns.identify_protocol_version(), "/mesh/shop-eu-1/1.0.0");
        assert_ne!(ns.kad_protocol().as_ref(), "/ipfs/kad/1.0.0");
    }

    #[test]
    fn validates() {
        assert_eq!(Namespace::new(""), Err(NamespaceError::Empty));
        assert!(Namespace::new("a").is_ok());
        assert!(Namespace::new("a".repeat(MAX_NAMESPACE_LEN)).is_ok());
        assert_eq!(
            Namespace::new("a".repeat(MAX_NAMESPACE_LEN + 1)),
            Err(NamespaceError::TooLong { len: 65 })
        );
        for bad in ["Site", "a/b", "a b", "é", "a_b", "a.b"] {
            assert!(
                matches!(Namespace::new(bad), Err(NamespaceError::InvalidChar { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            "x/y".parse::<Namespace>(),
            Err(NamespaceError::InvalidChar {
                found: '/',
                index: 1
            })
        );
        assert_eq!(Namespace::default().as_str(), DEFAULT_NAMESPACE);
    }
}
