//! The browser swarm: browser-to-browser `/webrtc` (mesh-webrtc), the relay client for
//! reservations and signaling, WebSocket and WebRTC-direct to bootstrap nodes; Noise + Yamux
//! over the stream transports.
//!
//! Built by hand rather than with `SwarmBuilder::with_relay_client`: the `/webrtc` transport
//! must come *before* the relay transport in the chain, or the relay transport would claim
//! `…/p2p-circuit/webrtc/…` addresses as plain circuits.

use std::time::Duration;

use futures::future::Either;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, OrTransport, Transport as _, upgrade::Version};
use libp2p::identity::Keypair;
use libp2p::{PeerId, Swarm, noise, relay, webrtc_websys, websocket_websys, yamux};
use mesh_engine::Engine;
use mesh_protocol::Behaviour;
use mesh_protocol::blocks::BlockCodec;

/// The browser node's engine: mesh-protocol's behaviour with `/webrtc` signaling composed in.
pub(crate) type BrowserEngine = Engine<mesh_webrtc::Behaviour>;

/// How long a connection with no open stream stays up: long enough that a peer found for one
/// asset is still warm for the page's next assets.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the browser transport: {0}")]
pub(crate) struct TransportError(String);

/// A swarm for `keypair` running mesh-protocol's behaviour (with the relay client).
pub(crate) fn build(
    keypair: &Keypair,
    config: &mesh_protocol::Config,
    codec: BlockCodec,
    webrtc: mesh_webrtc::Config,
) -> Result<Swarm<Behaviour<mesh_webrtc::Behaviour>>, TransportError> {
    let peer_id = keypair.public().to_peer_id();
    let noise = || noise::Config::new(keypair).map_err(|e| TransportError(format!("noise: {e}")));
    let (browser_to_browser, webrtc_behaviour) = mesh_webrtc::new(peer_id, webrtc);
    let (relay_transport, relay_behaviour) = relay::client::new(peer_id);
    let relayed = relay_transport
        .upgrade(Version::V1Lazy)
        .authenticate(noise()?)
        .multiplex(yamux::Config::default());
    let websocket = websocket_websys::Transport::default()
        .upgrade(Version::V1Lazy)
        .authenticate(noise()?)
        .multiplex(yamux::Config::default());
    let webrtc_direct = webrtc_websys::Transport::new(webrtc_websys::Config::new(keypair));
    let browser_to_browser =
        browser_to_browser.map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
    let transport: Boxed<(PeerId, StreamMuxerBox)> = OrTransport::new(
        browser_to_browser,
        OrTransport::new(OrTransport::new(relayed, websocket), webrtc_direct),
    )
    .map(|either, _| match either {
        Either::Left(out) => out,
        Either::Right(Either::Left(Either::Left((peer, muxer)))) => {
            (peer, StreamMuxerBox::new(muxer))
        }
        Either::Right(Either::Left(Either::Right((peer, muxer)))) => {
            (peer, StreamMuxerBox::new(muxer))
        }
        Either::Right(Either::Right((peer, conn))) => (peer, StreamMuxerBox::new(conn)),
    })
    .boxed();
    let behaviour = Behaviour::with_codec(keypair, config, Some(relay_behaviour), codec)
        .with_extra(webrtc_behaviour);
    Ok(Swarm::new(
        transport,
        behaviour,
        peer_id,
        mesh_protocol::swarm_config(libp2p::swarm::Config::with_wasm_executor())
            .with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT),
    ))
}
