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
//! Not covered: relay reservations themselves (use libp2p's relay client), `/webrtc-direct`
//! (libp2p-webrtc-websys), and choosing ICE servers (see `Config`).

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

pub use behaviour::Behaviour;
pub use config::{Config, IceServer};
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
