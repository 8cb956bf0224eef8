//! Command-line flags (each with a `MESH_BOOTSTRAP_*` environment variable) and their defaults.
//!
//! Defaults are sized for one node serving about ten thousand browser tabs: every tab holds one
//! connection and one relay reservation, and announces a handful of provider records.

use std::{
    net::SocketAddr,
    num::{NonZeroU32, NonZeroU64, NonZeroUsize},
    path::PathBuf,
    time::Duration,
};

use clap::{Parser, ValueEnum};
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

use mesh_protocol::{Namespace, namespace::DEFAULT_NAMESPACE};

use crate::duration::{parse_duration, parse_positive_duration};
use crate::store;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricsAccess {
    /// Nobody: `/metrics` answers 404.
    Off,
    /// Clients on a loopback address.
    Loopback,
    /// Clients on loopback, private (RFC 1918, IPv6 ULA) or link-local addresses, when the
    /// request carries no proxy headers.
    Private,
    /// Anyone presenting `Authorization: Bearer <--metrics-token>`.
    Token,
    /// Anyone.
    Public,
}

/// A secret from the command line or the environment; `Debug` does not show it, so logging a
/// configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

/// Shortest `--metrics-token` accepted: a guessable token is no access control.
pub const MIN_METRICS_TOKEN_LEN: usize = 16;

/// A configuration the node cannot start with, beyond what each flag checks on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--metrics-access token` without a token.
    #[error("--metrics-access token needs --metrics-token (or MESH_BOOTSTRAP_METRICS_TOKEN)")]
    MissingMetricsToken,
    /// The token is too short.
    #[error("--metrics-token must be at least {MIN_METRICS_TOKEN_LEN} characters")]
    ShortMetricsToken,
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

    /// Who may read /metrics: `off`; `loopback`; `private` (loopback and private-network
    /// addresses — an in-cluster Prometheus — unless the request came through a proxy, which
    /// adds `Forwarded`/`X-Forwarded-For`); `token` (`Authorization: Bearer` with
    /// `--metrics-token`, from anywhere); `public`.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_METRICS_ACCESS",
        value_enum,
        default_value = "private"
    )]
    pub metrics_access: MetricsAccess,

    /// The bearer token for `--metrics-access token` (at least 16 characters).
    #[arg(long, env = "MESH_BOOTSTRAP_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// HTTP requests one client may make at once; then one more per `--http-refill-per-ip`.
    /// Beyond that: 429 with Retry-After. IPv6 clients count per /64.
    #[arg(long, env = "MESH_BOOTSTRAP_HTTP_BURST_PER_IP", default_value = "300")]
    pub http_burst_per_ip: NonZeroU32,

    /// Time to regain one HTTP request per client.
    #[arg(long, env = "MESH_BOOTSTRAP_HTTP_REFILL_PER_IP", default_value = "10ms", value_parser = parse_positive_duration)]
    pub http_refill_per_ip: Duration,

    /// Take the HTTP client's address from the last `X-Forwarded-For` entry (set this only
    /// behind a load balancer that appends it; otherwise every client shares the balancer's
    /// address, or can claim any address).
    #[arg(long, env = "MESH_BOOTSTRAP_HTTP_TRUST_FORWARDED_FOR")]
    pub http_trust_forwarded_for: bool,

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
        default_value_t = store::DEFAULT_MAX_RECORDS
    )]
    pub max_provider_records: NonZeroUsize,

    /// Provider records one peer may hold.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_RECORDS_PER_PEER",
        default_value_t = store::DEFAULT_MAX_RECORDS_PER_PEER
    )]
    pub max_provider_records_per_peer: NonZeroUsize,

    /// Provider records announced from one IP address, whatever the peer ids. Sized for a NAT
    /// full of tabs (an office, a campus, carrier-grade NAT).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_RECORDS_PER_IP",
        default_value_t = store::DEFAULT_MAX_RECORDS_PER_IP
    )]
    pub max_provider_records_per_ip: NonZeroUsize,

    /// Provider records announced from one IPv6 /64 (a host may use any address in its /64).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_RECORDS_PER_IPV6_64",
        default_value_t = store::DEFAULT_MAX_RECORDS_PER_NET64
    )]
    pub max_provider_records_per_ipv6_64: NonZeroUsize,

    /// Bytes of self-asserted addresses in the provider records from one IP address.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_ADDRESS_BYTES_PER_IP",
        default_value_t = store::DEFAULT_MAX_ADDRESS_BYTES_PER_IP
    )]
    pub max_provider_address_bytes_per_ip: NonZeroUsize,

    /// Bytes of self-asserted addresses in the provider records from one IPv6 /64.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDER_ADDRESS_BYTES_PER_IPV6_64",
        default_value_t = store::DEFAULT_MAX_ADDRESS_BYTES_PER_NET64
    )]
    pub max_provider_address_bytes_per_ipv6_64: NonZeroUsize,

    /// Providers kept per key (CID). A full key refuses newcomers; it never evicts a live record.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PROVIDERS_PER_KEY",
        default_value_t = store::DEFAULT_MAX_PROVIDERS_PER_KEY
    )]
    pub max_providers_per_key: NonZeroUsize,

    /// Relay reservations held at once (one per reachable browser tab).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_RESERVATIONS",
        default_value = "16384"
    )]
    pub relay_max_reservations: NonZeroUsize,

    /// Relay reservations one peer may hold.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_RESERVATIONS_PER_PEER",
        default_value = "4"
    )]
    pub relay_max_reservations_per_peer: NonZeroUsize,

    /// Lifetime of a relay reservation before the client must renew it.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_RESERVATION_DURATION", default_value = "1h", value_parser = parse_positive_duration)]
    pub relay_reservation_duration: Duration,

    /// Reservation requests (new or renewed) one peer may make at once; then one more per
    /// `--relay-reservation-refill-per-peer`.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_RESERVATION_BURST_PER_PEER",
        default_value = "30"
    )]
    pub relay_reservation_burst_per_peer: NonZeroU32,

    /// Time to regain one reservation request per peer.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_RESERVATION_REFILL_PER_PEER", default_value = "2m", value_parser = parse_positive_duration)]
    pub relay_reservation_refill_per_peer: Duration,

    /// Reservation requests one IP address may make at once (libp2p's default of 60 turns away
    /// the 61st tab behind a NAT); then one more per `--relay-reservation-refill-per-ip`.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_RESERVATION_BURST_PER_IP",
        default_value = "1024"
    )]
    pub relay_reservation_burst_per_ip: NonZeroU32,

    /// Time to regain one reservation request per IP address.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_RESERVATION_REFILL_PER_IP", default_value = "100ms", value_parser = parse_positive_duration)]
    pub relay_reservation_refill_per_ip: Duration,

    /// Reservation requests one IPv6 /64 may make at once.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_RESERVATION_BURST_PER_IPV6_64",
        default_value = "1024"
    )]
    pub relay_reservation_burst_per_ipv6_64: NonZeroU32,

    /// Time to regain one reservation request per IPv6 /64.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_RESERVATION_REFILL_PER_IPV6_64", default_value = "100ms", value_parser = parse_positive_duration)]
    pub relay_reservation_refill_per_ipv6_64: Duration,

    /// Relayed circuits open at once.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUITS",
        default_value = "4096"
    )]
    pub relay_max_circuits: NonZeroUsize,

    /// Relayed circuits one peer may be an end of. A popular provider is the far end of a
    /// circuit from every tab that looks its CID up (Kademlia dials the providers it finds).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUITS_PER_PEER",
        default_value = "64"
    )]
    pub relay_max_circuits_per_peer: NonZeroUsize,

    /// Lifetime of a relayed circuit: long enough for WebRTC signaling, too short for data.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUIT_DURATION", default_value = "2m", value_parser = parse_positive_duration)]
    pub relay_max_circuit_duration: Duration,

    /// Bytes a relayed circuit may carry (both directions): enough for signaling, not for data.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_MAX_CIRCUIT_BYTES",
        default_value = "131072"
    )]
    pub relay_max_circuit_bytes: NonZeroU64,

    /// Circuits one peer may open at once; then one more per `--relay-circuit-refill-per-peer`.
    /// Each provider lookup can open a circuit to every provider it finds, so a tab fetching
    /// many assets opens many (libp2p's default, 30 then one per 2 minutes, would starve it).
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_CIRCUIT_BURST_PER_PEER",
        default_value = "256"
    )]
    pub relay_circuit_burst_per_peer: NonZeroU32,

    /// Time to regain one circuit per peer.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_CIRCUIT_REFILL_PER_PEER", default_value = "1s", value_parser = parse_positive_duration)]
    pub relay_circuit_refill_per_peer: Duration,

    /// Circuits one IP address may open at once; then one more per
    /// `--relay-circuit-refill-per-ip`. Also bounds the circuits one address holds open: at most
    /// burst + max circuit duration / refill.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_CIRCUIT_BURST_PER_IP",
        default_value = "1024"
    )]
    pub relay_circuit_burst_per_ip: NonZeroU32,

    /// Time to regain one circuit per IP address.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_CIRCUIT_REFILL_PER_IP", default_value = "100ms", value_parser = parse_positive_duration)]
    pub relay_circuit_refill_per_ip: Duration,

    /// Circuits one IPv6 /64 may open at once.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_RELAY_CIRCUIT_BURST_PER_IPV6_64",
        default_value = "1024"
    )]
    pub relay_circuit_burst_per_ipv6_64: NonZeroU32,

    /// Time to regain one circuit per IPv6 /64.
    #[arg(long, env = "MESH_BOOTSTRAP_RELAY_CIRCUIT_REFILL_PER_IPV6_64", default_value = "100ms", value_parser = parse_positive_duration)]
    pub relay_circuit_refill_per_ipv6_64: Duration,

    /// Established connections in total.
    #[arg(long, env = "MESH_BOOTSTRAP_MAX_CONNECTIONS", default_value = "16384")]
    pub max_connections: NonZeroU32,

    /// Established connections per peer.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_CONNECTIONS_PER_PEER",
        default_value = "8"
    )]
    pub max_connections_per_peer: NonZeroU32,

    /// Established incoming connections from one IP address (a NAT full of tabs shares one).
    /// Every relay reservation lives on a connection, so this also caps an address's
    /// reservations.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_CONNECTIONS_PER_IP",
        default_value = "1024"
    )]
    pub max_connections_per_ip: NonZeroUsize,

    /// Established incoming connections from one IPv6 /64.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_CONNECTIONS_PER_IPV6_64",
        default_value = "1024"
    )]
    pub max_connections_per_ipv6_64: NonZeroUsize,

    /// Incoming connections still in their handshake.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PENDING_INCOMING",
        default_value = "512"
    )]
    pub max_pending_incoming: NonZeroU32,

    /// Incoming connections from one IP address still in their handshake.
    #[arg(
        long,
        env = "MESH_BOOTSTRAP_MAX_PENDING_INCOMING_PER_IP",
        default_value = "256"
    )]
    pub max_pending_incoming_per_ip: NonZeroUsize,

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
    /// Checks what clap cannot check flag by flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.metrics_access, &self.metrics_token) {
            (MetricsAccess::Token, None) => Err(ConfigError::MissingMetricsToken),
            (MetricsAccess::Token, Some(token)) if token.expose().len() < MIN_METRICS_TOKEN_LEN => {
                Err(ConfigError::ShortMetricsToken)
            }
            _ => Ok(()),
        }
    }

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
        assert_eq!(config.relay_max_circuit_bytes.get(), 128 * 1024);
        assert_eq!(config.namespace, Namespace::default());
        assert_eq!(config.metrics_access, MetricsAccess::Private);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn token_access_needs_a_long_enough_token() {
        let mut config = Config::parse_from(["bootstrap-node", "--metrics-access", "token"]);
        assert_eq!(config.validate(), Err(ConfigError::MissingMetricsToken));
        config.metrics_token = Some("short".parse().unwrap());
        assert_eq!(config.validate(), Err(ConfigError::ShortMetricsToken));
        config.metrics_token = Some("0123456789abcdef".parse().unwrap());
        assert_eq!(config.validate(), Ok(()));
        // Logging the configuration does not leak the token.
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn zero_limits_and_intervals_are_refused_by_the_parser() {
        for (flag, value) in [
            ("--relay-reservation-refill-per-ip", "0s"),
            ("--relay-circuit-burst-per-ip", "0"),
            ("--max-connections-per-ip", "0"),
            ("--http-refill-per-ip", "0ms"),
        ] {
            assert!(
                Config::try_parse_from(["bootstrap-node", flag, value]).is_err(),
                "{flag} {value}"
            );
        }
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
