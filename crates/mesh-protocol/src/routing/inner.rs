//! The protocols routing composes: Kademlia (when built with it) and request-response for
//! delegated routing. Public only so the routing behaviour can name its handler type; the
//! module is private.

#[cfg(feature = "kad")]
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response;
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;

use super::RoutingCodec;

#[cfg(feature = "kad")]
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub struct Inner {
    pub kad: Toggle<kad::Behaviour<MemoryStore>>,
    pub rr: Toggle<request_response::Behaviour<RoutingCodec>>,
}

#[cfg(not(feature = "kad"))]
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub struct Inner {
    pub rr: Toggle<request_response::Behaviour<RoutingCodec>>,
}
