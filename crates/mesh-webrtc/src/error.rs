//! Errors of the `/webrtc` transport.

use thiserror::Error;

use crate::proto::DecodeError;

/// Why a `/webrtc` connection could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A bare `/webrtc/p2p/<peer>` was dialed while no connection to that peer is open to
    /// signal over.
    #[error("no connection to signal over; dial <relay>/p2p-circuit/webrtc/p2p/<peer>")]
    NoSignalingConnection,
    /// The relayed connection to signal over could not be opened.
    #[error("cannot open the relayed connection: {0}")]
    RelayedDial(String),
    /// The signaling stream could not be opened (the remote may not speak `/webrtc`).
    #[error("cannot open a signaling stream: {0}")]
    SignalingStream(String),
    /// Reading or writing the signaling stream failed.
    #[error("signaling stream: {0}")]
    Io(#[from] std::io::Error),
    /// The remote sent a malformed signaling message.
    #[error("malformed signaling message: {0}")]
    Decode(#[from] DecodeError),
    /// The remote sent a well-formed message at the wrong time.
    #[error("signaling protocol violation: {0}")]
    Protocol(&'static str),
    /// The remote's SDP offer is not one for libp2p data channels; no `RTCPeerConnection` was
    /// created for it.
    #[error("refused SDP offer: {0}")]
    BadOffer(&'static str),
    /// As many `/webrtc` handshakes as [`crate::Config::with_max_handshakes`] allows are in
    /// progress already.
    #[error("too many WebRTC handshakes in progress")]
    TooManyHandshakes,
    /// As many `RTCPeerConnection`s as [`crate::Config::with_max_connections`] allows are open
    /// already.
    #[error("too many WebRTC connections open")]
    TooManyConnections,
    /// A browser API call threw.
    #[error("browser WebRTC API: {0}")]
    Js(String),
    /// ICE or DTLS failed, or the peer connection closed during setup.
    #[error("peer connection {0}")]
    PeerConnection(&'static str),
    /// The handshake took longer than the configured timeout.
    #[error("WebRTC handshake timed out")]
    Timeout,
    /// The swarm dropped the behaviour that goes with this transport.
    #[error("the mesh-webrtc behaviour is not part of the swarm")]
    BehaviourGone,
}
