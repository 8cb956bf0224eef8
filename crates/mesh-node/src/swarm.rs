//! Building the libp2p swarm: TCP (and WebSocket with the `websocket` feature), Noise, Yamux,
//! DNS, and mesh-protocol's behaviour.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Swarm, noise, tcp, yamux};
use mesh_protocol::blocks::BlockCodec;
use mesh_protocol::{Behaviour, NoExtra};

use crate::error::StartError;

/// How long a connection with no open stream stays up. Long enough that a peer found for one
/// asset is still connected (warm) for the next page load's assets.
pub(crate) const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

/// A swarm for `keypair` running mesh-protocol's behaviour with `codec`.
pub(crate) async fn build(
    keypair: Keypair,
    config: &mesh_protocol::Config,
    codec: BlockCodec,
) -> Result<Swarm<Behaviour<NoExtra>>, StartError> {
    let transport_error = |e: &dyn std::fmt::Display| StartError::Transport(e.to_string());
    let builder = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| transport_error(&e))?
        .with_dns()
        .map_err(|e| transport_error(&e))?;
    #[cfg(feature = "websocket")]
    let builder = builder
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await
        .map_err(|e| transport_error(&e))?;
    let swarm = builder
        .with_behaviour(|key| Behaviour::with_codec(key, config, None, codec))
        .map_err(|e| transport_error(&e))?
        .with_swarm_config(|c| {
            mesh_protocol::swarm_config(c).with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT)
        })
        .build();
    Ok(swarm)
}
