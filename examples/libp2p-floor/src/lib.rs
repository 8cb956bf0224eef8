//! The rust-libp2p part of the browser node, with none of mesh's own code: a floor for the
//! size of the npm package's wasm (issue 13's budget is 300 KiB gzipped for wasm and JS).
//!
//! It builds the browser node's transports the way `mesh-wasm`'s `transport.rs` does (relay
//! client, WebSocket and WebRTC-direct to bootstrap nodes, Noise and Yamux over the stream
//! transports) and runs the libp2p behaviours it runs (identify, ping, the relay client,
//! request-response, which the delegated routing uses). The one exported function drives all
//! of it from the page, so the linker keeps what a real node keeps: it dials, listens through
//! a relay, sends a request on every connection and answers every request.
//!
//! What it leaves out is mesh: browser-to-browser `/webrtc` (mesh-webrtc), the block exchange,
//! CIDs and verification, the planner, the store, the persistent cache, the origin fetch and
//! the JS API. `scripts/size-floor.sh` builds it like the npm package and prints its size.
#![cfg(target_arch = "wasm32")]

use std::io;

use futures::future::Either;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, OrTransport, Transport as _, upgrade::Version};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, identity, noise, relay, request_response,
    websocket_websys, yamux,
};
use wasm_bindgen::prelude::*;

/// The largest message the codec reads, as a real protocol would cap it.
const MAX_MESSAGE: usize = 64 * 1024;

/// Length-prefixed byte messages, one request and one response per stream.
#[derive(Clone, Default)]
struct Codec;

async fn read_message<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too long",
        ));
    }
    let mut message = vec![0; len];
    io.read_exact(&mut message).await?;
    Ok(message)
}

async fn write_message<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    message: Vec<u8>,
) -> io::Result<()> {
    let len = u32::try_from(message.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&message).await?;
    io.close().await
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        read_message(io)
    }

    fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
        read_message(io)
    }

    fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> impl Future<Output = io::Result<()>> + Send {
        write_message(io, request)
    }

    fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> impl Future<Output = io::Result<()>> + Send {
        write_message(io, response)
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    #[cfg(feature = "identify-ping")]
    identify: libp2p::identify::Behaviour,
    #[cfg(feature = "identify-ping")]
    ping: libp2p::ping::Behaviour,
    requests: request_response::Behaviour<Codec>,
    relay: relay::client::Behaviour,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The transports, chained as the browser node chains them (less `/webrtc`).
fn transport(
    keypair: &identity::Keypair,
    relay_transport: relay::client::Transport,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, JsError> {
    let relayed = relay_transport
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(keypair).map_err(js_error)?)
        .multiplex(yamux::Config::default());
    let websocket = websocket_websys::Transport::default()
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(keypair).map_err(js_error)?)
        .multiplex(yamux::Config::default());
    let streams = OrTransport::new(relayed, websocket).map(|either, _| match either {
        Either::Left((peer, muxer)) => (peer, StreamMuxerBox::new(muxer)),
        Either::Right((peer, muxer)) => (peer, StreamMuxerBox::new(muxer)),
    });
    #[cfg(feature = "webrtc-direct")]
    let streams = {
        use libp2p::webrtc_websys;
        let direct = webrtc_websys::Transport::new(webrtc_websys::Config::new(keypair));
        OrTransport::new(streams, direct).map(|either, _| match either {
            Either::Left(out) => out,
            Either::Right((peer, conn)) => (peer, StreamMuxerBox::new(conn)),
        })
    };
    Ok(streams.boxed())
}

/// Dials every address in `addrs` (bootstrap nodes' multiaddrs), listens through the first as a
/// relay, sends one request on every connection and answers every request. Calls `on_event`
/// with a number for each event (and an error's text for a failed dial); never returns unless
/// an address is malformed or cannot be dialled.
#[wasm_bindgen]
pub async fn run(addrs: Vec<String>, on_event: js_sys::Function) -> Result<(), JsError> {
    let keypair = identity::Keypair::generate_ed25519();
    let peer_id = keypair.public().to_peer_id();
    let (relay_transport, relay) = relay::client::new(peer_id);
    let protocol = StreamProtocol::new("/libp2p-floor/1.0.0");
    let behaviour = Behaviour {
        #[cfg(feature = "identify-ping")]
        identify: libp2p::identify::Behaviour::new(libp2p::identify::Config::new(
            protocol.to_string(),
            keypair.public(),
        )),
        #[cfg(feature = "identify-ping")]
        ping: libp2p::ping::Behaviour::default(),
        requests: request_response::Behaviour::new(
            [(protocol, request_response::ProtocolSupport::Full)],
            request_response::Config::default(),
        ),
        relay,
    };
    let mut swarm = Swarm::new(
        transport(&keypair, relay_transport)?,
        behaviour,
        peer_id,
        libp2p::swarm::Config::with_wasm_executor(),
    );
    let mut listening = false;
    for addr in &addrs {
        let addr: Multiaddr = addr.parse().map_err(js_error)?;
        swarm.dial(addr.clone()).map_err(js_error)?;
        if !listening {
            listening = swarm.listen_on(addr.with(Protocol::P2pCircuit)).is_ok();
        }
    }
    loop {
        let event = match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                let request = peer_id.to_bytes();
                swarm
                    .behaviour_mut()
                    .requests
                    .send_request(&peer_id, request);
                1
            }
            SwarmEvent::Behaviour(BehaviourEvent::Requests(request_response::Event::Message {
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let answered = swarm
                        .behaviour_mut()
                        .requests
                        .send_response(channel, request);
                    2 + u32::from(answered.is_ok())
                }
                request_response::Message::Response { response, .. } => {
                    4 + u32::try_from(response.len()).unwrap_or(u32::MAX - 4)
                }
            },
            #[cfg(feature = "identify-ping")]
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { info, .. },
            )) => {
                swarm.add_external_address(info.observed_addr);
                5
            }
            #[cfg(feature = "identify-ping")]
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                6 + event.result.map_or(0, |rtt| rtt.as_millis() as u32)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Relay(_)) => 7,
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                let text = JsValue::from_str(&error.to_string());
                on_event.call1(&JsValue::NULL, &text).ok();
                8
            }
            _ => 0,
        };
        on_event.call1(&JsValue::NULL, &JsValue::from(event)).ok();
    }
}
