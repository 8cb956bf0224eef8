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
/// Defaults: no ICE servers, so host candidates only and no request to a third party (a browser
/// behind NAT needs a STUN server to learn its public address: the application names its own,
/// and TURN for symmetric NATs; docs/SECURITY.md, "Browser node privacy"), a
/// 10 s handshake timeout (js-libp2p's inbound limit), and the resource caps below, which bound
/// what remote peers can make a tab hold (docs/SECURITY.md, "Browser node").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) ice_servers: Vec<IceServer>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_handshakes: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_inbound_streams: usize,
    pub(crate) max_receive_buffer: usize,
}

/// Default [`Config::with_max_handshakes`]: a tab dials its few warm peers at once and is
/// dialled by a few others; each handshake holds an `RTCPeerConnection` gathering candidates.
pub const DEFAULT_MAX_HANDSHAKES: usize = 8;
/// Default [`Config::with_max_connections`]: room for the most warm peers a page may ask for
/// (32) and as many peers fetching from this tab; Chromium itself refuses new
/// `RTCPeerConnection`s past a few hundred per page.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Default [`Config::with_max_inbound_streams`]: a peer pipelines at most 16 block requests
/// (the planner's default), plus identify, ping and the DHT.
pub const DEFAULT_MAX_INBOUND_STREAMS: usize = 64;
/// Default [`Config::with_max_receive_buffer`]: 16 requested 256 KiB blocks in flight at once
/// (4 MiB) twice over. A peer only sends that much unread when it sends what nobody asked for.
pub const DEFAULT_MAX_RECEIVE_BUFFER: usize = 8 << 20;

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults described on [`Config`].
    pub fn new() -> Self {
        Self {
            ice_servers: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_inbound_streams: DEFAULT_MAX_INBOUND_STREAMS,
            max_receive_buffer: DEFAULT_MAX_RECEIVE_BUFFER,
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

    /// Handshakes (signaling, ICE, DTLS) in progress at once, both directions. One more dial
    /// fails with [`crate::Error::TooManyHandshakes`]; one more inbound signaling stream is
    /// reset before anything is read from it. At least 1.
    pub fn with_max_handshakes(mut self, n: usize) -> Self {
        self.max_handshakes = n.max(1);
        self
    }

    /// `RTCPeerConnection`s at once, counting those still in their handshake. One more dial
    /// fails with [`crate::Error::TooManyConnections`]; one more inbound signaling stream is
    /// reset. At least 1.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Streams the remote may have open on one connection at once; a data channel it opens
    /// past that is closed at once. Our own outbound streams are not counted (our protocols
    /// bound them). At least 1.
    pub fn with_max_inbound_streams(mut self, n: usize) -> Self {
        self.max_inbound_streams = n.max(1);
        self
    }

    /// Bytes one connection may have received and its streams' readers not yet read, over all
    /// its channels (queued in a channel, or read ahead by a stream: at most
    /// [`crate::MAX_READ_BUFFER`] unless its close waits for the FIN_ACK); the channel whose
    /// message would go past it is closed (its queued bytes are dropped, and its stream's
    /// reader gets `ConnectionReset`, not a clean end). At least one largest frame
    /// ([`crate::proto::MAX_FRAME_LEN`]).
    pub fn with_max_receive_buffer(mut self, bytes: usize) -> Self {
        self.max_receive_buffer = bytes.max(crate::proto::MAX_FRAME_LEN);
        self
    }
}
