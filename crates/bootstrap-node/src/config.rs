//! Command-line flags (each with a `MESH_BOOTSTRAP_*` environment variable) and their defaults.
//!
//! Defaults are sized for one node serving about ten thousand browser tabs: every tab holds one
//! connection and one relay reservation, and announces a handful of provider records.

use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

use mesh_protocol::{Namespace, namespace::DEFAULT_NAMESPACE};

use crate::duration::parse_duration;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Configuration of a bootstrap node.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "bootstrap-node",
    version,
    about = "Mesh bootstrap node: introduces peers, holds the DHT, relays WebRTC signaling",
    long_about = "Mesh bootstrap node: introduces peers to each other (Kademlia server), holds \
                  provider records, and relays WebRTC signaling for browsers (circuit relay v2). \
                  It never serves or relays asset bytes.\n\nOn start it prints its dialable \
                  multiaddrs on stdout, one per line."
)]
pub struct Config {
    /// Directory for the identity key and WebRTC certificate (created with mode 0700).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_DATA_DIR",
        default_value = "mesh-bootstrap-data"
    )]
    pub data_dir: PathBuf,

    /// Address to listen on (repeatable): TCP, WebSocket (`/ws`) and WebRTC-direct (UDP).
    #[arg(
        long = "listen",
        env = "MESH_BOOTSTRAP_LISTEN",
        value_name = "MULTIADDR",
        value_delimiter = ',',
        default_values = [
            "/ip4/0.0.0.0/tcp/4001",
            "/ip4/0.0.0.0/tcp/4002/ws",
            "/ip4/0.0.0.0/udp/4001/webrtc-direct",
        ]
    )]
    pub listen: Vec<Multiaddr>,

    /// Public address of this node (repeatable). Announced to peers and needed for relay
    /// reservations; `/certhash` is appended to `/webrtc-direct` addresses that lack it. When
    /// given, these are the addresses printed and served on /addrs.
    #[arg(
        long = "external-address",
        env = "MESH_BOOTSTRAP_EXTERNAL_ADDRESS",
        value_name = "MULTIADDR",
        value_delimiter = ','
    )]
    pub external_addresses: Vec<Multiaddr>,

    /// Announce every listen address as external (hosts whose interfaces carry their public
    /// addresses, and tests on loopback).
    #[arg(long, env = "MESH_BOOTSTRAP_ANNOUNCE_LISTEN_ADDRS")]
    pub announce_listen_addrs: bool,

    /// Another bootstrap node to join, ending in `/p2p/<peer id>` (repeatable).
    #[arg(
        long = "peer",
        env = "MESH_BOOTSTRAP_PEER",
        value_name = "MULTIADDR",
        value_delimiter = ',',
        value_parser = parse_peer_addr
    )]
    pub peers: Vec<Multiaddr>,

    /// Deployment namespace: protocol ids are `/mesh/<namespace>/...`.
    #[arg(long, env = "MESH_BOOTSTRAP_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub namespace: Namespace,

    /// Address of the HTTP server for /metrics, /healthz and /addrs.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_HTTP_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub http_listen: SocketAddr,

    /// Log format on stderr. The level is set with RUST_LOG (default: info).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    pub log_format: LogFormat,

    /// Lifetime of a provider record unless re-announced (e.g. 90s, 30m, 48h).
    #[arg(long, env = "MESH_BOOTSTRAP_PROVIDER_TTL", default_value = "48h", value_parser = parse_duration)]
    pub provider_ttl: Duration,

    /// Provider records held in total.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_RECORDS",
        default_value = "1000000"
    )]
    pub max_provider_records: NonZeroUsize,

    /// Provider records one peer may hold.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_RECORDS_PER_PEER",
        default_value = "10000"
    )]
    pub max_provider_records_per_peer: NonZeroUsize,

    /// Providers kept per key (CID).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDERS_PER_KEY",
        default_value = "20"
    )]
    pub max_providers_per_key: NonZeroUsize,

    /// Relay reservations held at once (one per reachable browser tab).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_RESERVATIONS",
        default_value = "16384"
    )]
    pub relay_max_reservations: usize,

    /// Relay reservations one peer may hold.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_RESERVATIONS_PER_PEER",
        default_value = "4"
    )]
    pub relay_max_reservations_per_peer: usize,

    /// Lifetime of a relay reservation before the client must renew it.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_RESERVATION_DURATION", default_value = "1h", value_parser = parse_duration)]
    pub relay_reservation_duration: Duration,

    /// Relayed circuits open at once.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUITS",
        default_value = "1024"
    )]
    pub relay_max_circuits: usize,

    /// Relayed circuits one peer may be an end of.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUITS_PER_PEER",
        default_value = "16"
    )]
    pub relay_max_circuits_per_peer: usize,

    /// Lifetime of a relayed circuit: long enough for WebRTC signaling, too short for data.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUIT_DURATION", default_value = "2m", value_parser = parse_duration)]
    pub relay_max_circuit_duration: Duration,

    /// Bytes a relayed circuit may carry (both directions): enough for signaling, not for data.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUIT_BYTES",
        default_value = "131072"
    )]
    pub relay_max_circuit_bytes: u64,

    /// Established connections in total.
    #[arg(long, env = "MESH_BOOTSTRAP_MAX_CONNECTIONS", default_value = "16384")]
    pub max_connections: u32,

    /// Established connections per peer.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_CONNECTIONS_PER_PEER",
        default_value = "8"
    )]
    pub max_connections_per_peer: u32,

    /// Incoming connections still in their handshake.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PENDING_INCOMING",
        default_value = "512"
    )]
    pub max_pending_incoming: u32,

    /// Refuse new connections while the process uses more than this much memory (MiB).
    /// Default: 80 % of the machine's memory.
    #[arg(long, env = "MESH_BOOTSTRAP_MAX_MEMORY_MIB")]
    pub max_memory_mib: Option<u64>,

    /// A connection without open streams or relay reservation is closed after this long. Provider
    /// records follow connections, so clients stay connected while they provide.
    #[arg(long, env = "MESH_BOOTSTRAP_IDLE_TIMEOUT", default_value = "1h", value_parser = parse_duration)]
    pub idle_timeout: Duration,
}

impl Config {
    /// The configuration with every default, listening where `listen` says.
    pub fn with_listen(listen: Vec<Multiaddr>) -> Self {
        let mut config = Self::parse_from(["bootstrap-node"]);
        config.listen = listen;
        config
    }
}

/// Parses a `--peer` address, which must name the peer (`.../p2p/<peer id>`).
pub fn parse_peer_addr(text: &str) -> Result<Multiaddr, String> {
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| format!("invalid multiaddr: {e}"))?;
    peer_id_of(&addr).ok_or_else(|| "peer address must end in /p2p/<peer id>".to_owned())?;
    Ok(addr)
}

/// The peer id that `addr` ends with, if any.
pub(crate) fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_parse() {
        let config = Config::parse_from(["bootstrap-node"]);
        assert_eq!(config.listen.len(), 3);
        assert_eq!(config.provider_ttl, Duration::from_secs(48 * 3600));
        assert_eq!(config.relay_max_circuit_bytes, 128 * 1024);
        assert_eq!(config.namespace, Namespace::default());
    }

    #[test]
    fn peer_addresses_must_name_the_peer() {
        assert!(parse_peer_addr("/ip4/127.0.0.1/tcp/1").is_err());
        assert!(parse_peer_addr("garbage").is_err());
        let peer = PeerId::random();
        let addr = parse_peer_addr(&format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")).unwrap();
        assert_eq!(peer_id_of(&addr), Some(peer));
    }
}
