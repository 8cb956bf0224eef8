//! The transport stack: TCP, WebSocket and WebRTC-direct, each authenticated and multiplexed,
//! with every connection's muxer wrapped to count relayed bytes.
//!
//! Built by hand rather than with the `SwarmBuilder`'s per-transport steps because the builder
//! offers no hook to wrap the muxer of TCP and WebSocket connections.

use libp2p::{
    PeerId, Transport,
    core::{muxing::StreamMuxerBox, transport::Boxed, upgrade::Version},
    dns,
    identity::Keypair,
    noise, tcp, websocket, yamux,
};
use libp2p_webrtc::tokio::Certificate;
use prometheus_client::metrics::counter::Counter;

use crate::{error::Error, keys::error_chain, relay_bytes::RelayByteCounter};

/// Builds the node's transport for identity `key`; `relayed` counts bytes carried by circuits.
pub(crate) fn build(
    key: &Keypair,
    certificate: Certificate,
    relayed: Counter,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Error> {
    let err = |transport: &'static str| {
        move |e: &dyn std::error::Error| Error::Transport {
            transport,
            reason: error_chain(e),
        }
    };
    let noise = noise::Config::new(key).map_err(|e| err("noise")(&e))?;
    let tcp_config = tcp::Config::default().nodelay(true);

    let tcp = dns::tokio::Transport::system(tcp::tokio::Transport::new(tcp_config.clone()))
        .map_err(|e| err("dns")(&e))?
        .upgrade(Version::V1Lazy)
        .authenticate(noise.clone())
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    // WebSocket wraps DNS itself so that a dialled `/dns` name reaches the Host header.
    let ws = websocket::Config::new(
        dns::tokio::Transport::system(tcp::tokio::Transport::new(tcp_config))
            .map_err(|e| err("dns")(&e))?,
    )
    .upgrade(Version::V1Lazy)
    .authenticate(noise)
    .multiplex(yamux::Config::default())
    .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    let webrtc = libp2p_webrtc::tokio::Transport::new(key.clone(), certificate)
        .map(|(peer, connection), _| (peer, StreamMuxerBox::new(connection)));

    // TCP refuses `/ws` addresses, so the order of the alternatives decides nothing.
    Ok(tcp
        .or_transport(ws)
        .map(|either, _| either.into_inner())
        .or_transport(webrtc)
        .map(|either, _| either.into_inner())
        .map(move |(peer, muxer), _| {
            let counted = RelayByteCounter::new(muxer, relayed.clone());
            (peer, StreamMuxerBox::new(counted))
        })
        .boxed())
}
