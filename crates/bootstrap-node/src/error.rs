//! Errors that stop the node from starting. Each renders as one line for the operator.

use std::net::SocketAddr;

use libp2p::Multiaddr;

use crate::{addrs::AddressError, config::ConfigError, keys::KeyError};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The flags contradict each other.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The identity key or WebRTC certificate could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// A transport could not be set up.
    #[error("cannot set up the {transport} transport: {reason}")]
    Transport {
        /// Which transport.
        transport: &'static str,
        /// Why.
        reason: String,
    },
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why (e.g. the port is in use, or no transport supports the address).
        reason: String,
    },
    /// An external address is not usable.
    #[error(transparent)]
    ExternalAddress(#[from] AddressError),
    /// The HTTP port could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    HttpListen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
