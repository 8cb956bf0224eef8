//! Browser-to-browser libp2p WebRTC (`/webrtc`) for rust-libp2p on wasm32.
//!
//! Implements libp2p/specs `webrtc/webrtc.md`: a peer B holding a relay v2 reservation listens
//! on `<relay>/p2p-circuit/webrtc`; a peer A dialing `<relay>/p2p-circuit/webrtc/p2p/<B>` opens
//! a relayed connection, exchanges SDP offer, answer and ICE candidates with B over a
//! `/webrtc-signaling/0.0.1` stream on it, and then uses a direct `RTCPeerConnection` whose data
//! channels carry libp2p streams (framed per the spec, with FIN / FIN_ACK half-close). The
//! remote peer is authenticated by the relayed connection the DTLS fingerprints travelled over.
//!
//! Pure parts (addresses, wire format, the stream state machine) build and are tested on every
//! target; the transport itself needs a browser and exists only on `wasm32`.
//!
//! # Usage (wasm32)
//!
//! `new` (wasm32 only) returns the transport and a behaviour; both go into the same swarm. The transport
//! must come **before** the relay client's, which would otherwise accept `/webrtc` addresses as
//! plain circuits:
//!
//! ```rust,ignore
//! // wasm32 only: the transport needs RTCPeerConnection.
//! let (relay_transport, relay_behaviour) = libp2p::relay::client::new(peer_id);
//! let (webrtc, webrtc_behaviour) = mesh_webrtc::new(
//!     peer_id,
//!     mesh_webrtc::Config::new().with_ice_servers(vec![
//!         mesh_webrtc::IceServer::new("stun:stun.example.org:3478"),
//!         mesh_webrtc::IceServer::with_credentials("turn:turn.example.org:3478", "user", "secret"),
//!     ]),
//! );
//! let transport = webrtc
//!     .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
//!     .or_transport(relay_transport.upgrade(V1Lazy).authenticate(noise).multiplex(yamux)
//!         .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn))))
//!     .or_transport(/* websocket-websys ∘ noise ∘ yamux, webrtc-websys */);
//! // behaviours: relay_behaviour, webrtc_behaviour, ...
//!
//! // Listener: reserve on the relay, and listen on /webrtc (the addresses appear as the
//! // reservation is accepted: `<relay>/p2p/<R>/p2p-circuit/webrtc`).
//! swarm.listen_on("/webrtc".parse()?)?;
//! swarm.listen_on(relay_addr.with(Protocol::P2pCircuit))?;
//! // Dialer:
//! swarm.dial(listener_webrtc_addr.with(Protocol::P2p(listener_peer)))?;
//! ```
//!
//! The address helpers and the wire format work on every target:
//!
//! ```
//! use mesh_webrtc::{addr, proto::{SignalingMessage, SignalingType}};
//!
//! let a: libp2p::Multiaddr = "/ip4/192.0.2.1/tcp/443/wss/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit/webrtc/p2p/12D3KooWMtPPgkuJoYaJZL1dNPUhMrSeM4ENzd5PwWyiNaXcGHrR".parse()?;
//! let dial = addr::parse_dial_addr(&a).expect("a /webrtc address");
//! assert!(dial.circuit.expect("behind a relay").to_string().ends_with("/p2p-circuit/p2p/12D3KooWMtPPgkuJoYaJZL1dNPUhMrSeM4ENzd5PwWyiNaXcGHrR"));
//!
//! let offer = SignalingMessage { kind: SignalingType::SdpOffer, data: "v=0".into() };
//! assert_eq!(offer.encode_framed(), [0x07, 0x08, 0x00, 0x12, 0x03, 0x76, 0x3d, 0x30]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Once the direct connection is up the relayed one carries nothing more (the relay's circuit
//! limits can stay sized for signaling); it is left to the swarm's idle timeout, as js-libp2p
//! leaves it open.
//!
//! Not covered: relay reservations themselves (use libp2p's relay client), `/webrtc-direct`
//! (libp2p-webrtc-websys), and choosing ICE servers (see [`Config`]: the default is none,
//! host candidates only; a real deployment names its own STUN and TURN servers).

pub mod addr;
pub mod proto;
mod stream;

pub use stream::{FIN_ACK_TIMEOUT, MAX_READ_BUFFER, StreamState};
// Only the browser transport constructs the behaviour; natively it is type-checked only.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod behaviour;
mod config;
mod error;
pub mod handler;
// Used by the browser transport; natively only by their tests.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod limits;
/// Public so that it is fuzzed natively (fuzz/fuzz_targets/webrtc_signaling.rs).
pub mod offer;

pub use behaviour::Behaviour;
pub use config::{
    Config, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES, DEFAULT_MAX_INBOUND_STREAMS,
    DEFAULT_MAX_RECEIVE_BUFFER, IceServer,
};
pub use error::Error;
pub use handler::SIGNALING_PROTOCOL;

#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
mod handshake;
#[cfg(target_arch = "wasm32")]
mod peer_connection;
#[cfg(target_arch = "wasm32")]
mod transport;

#[cfg(target_arch = "wasm32")]
pub use connection::{Connection, WebRtcStream};
#[cfg(target_arch = "wasm32")]
pub use transport::{Transport, Upgrade, new};
