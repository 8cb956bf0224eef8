//! Settings of the `/webrtc` transport.

use std::time::Duration;

/// One STUN or TURN server, as in `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, ….
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN credential.
    pub credential: Option<String>,
}

impl IceServer {
    /// A server that needs no credentials (STUN).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            urls: vec![url.into()],
            username: None,
            credential: None,
        }
    }

    /// A server with credentials (TURN).
    pub fn with_credentials(
        url: impl Into<String>,
        username: impl Into<String>,
        credential: impl Into<String>,
    ) -> Self {
        Self {
            urls: vec![url.into()],
            username: Some(username.into()),
            credential: Some(credential.into()),
        }
    }
}

/// Transport settings: `Config::new()` and `with_*`.
///
/// Defaults: the public STUN servers js-libp2p uses (a browser behind NAT needs one to learn
/// its public address; pass your own for a real deployment, and TURN for symmetric NATs), and a
/// 10 s handshake timeout (js-libp2p's inbound limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) ice_servers: Vec<IceServer>,
    pub(crate) handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults described on [`Config`].
    pub fn new() -> Self {
        Self {
            ice_servers: [
                "stun:stun.l.google.com:19302",
                "stun:global.stun.twilio.com:3478",
                "stun:stun.cloudflare.com:3478",
                "stun:stun.services.mozilla.com:3478",
            ]
            .into_iter()
            .map(IceServer::new)
            .collect(),
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// The STUN/TURN servers; an empty list means host candidates only (LAN, loopback tests).
    pub fn with_ice_servers(mut self, servers: Vec<IceServer>) -> Self {
        self.ice_servers = servers;
        self
    }

    /// How long signaling plus ICE and DTLS may take, from the signaling stream to a usable
    /// connection.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}
