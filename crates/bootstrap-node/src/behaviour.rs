//! The composed `NetworkBehaviour` of a bootstrap node.
//!
//! Limits come first so that a refused connection never reaches the protocols. There is no
//! block exchange: the node never serves or relays asset bytes, and the relay's circuit limits
//! make sure relayed connections can only carry signaling.

use std::time::Duration;

use libp2p::{
    PeerId, connection_limits, identify,
    identity::Keypair,
    kad, memory_connection_limits, ping, relay,
    request_response::{self, ProtocolSupport},
    swarm::NetworkBehaviour,
};
use mesh_protocol::routing::RoutingCodec;

use crate::{
    config::Config,
    relay_limits::relay_config,
    routing::FORWARD_TIMEOUT,
    source_limits::{self, SourceLimitsConfig},
    store::{ProviderStore, StoreConfig},
};

/// How often the node refreshes its routing table against joined bootstrap nodes.
pub(crate) const KAD_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Share of the machine's memory the process may use before it refuses new connections, when
/// `--max-memory-mib` is not given.
pub(crate) const DEFAULT_MAX_MEMORY_FRACTION: f64 = 0.8;

/// Protocols of a bootstrap node.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Connection counts per source (IP address, IPv6 /64); knows each peer's source.
    pub(crate) sources: source_limits::Behaviour,
    /// Connection counts: per peer, total, pending.
    pub(crate) limits: connection_limits::Behaviour,
    /// Refuses connections while the process is over its memory budget.
    pub(crate) memory: memory_connection_limits::Behaviour,
    /// Tells peers our protocols and listen addresses, and learns theirs.
    pub(crate) identify: identify::Behaviour,
    /// Liveness checks.
    pub(crate) ping: ping::Behaviour,
    /// Kademlia in server mode, holding provider records.
    pub(crate) kad: kad::Behaviour<ProviderStore>,
    /// Circuit relay v2 server, for WebRTC signaling between browsers.
    pub(crate) relay: relay::Behaviour,
    /// Delegated routing: browsers find providers and announce through it (`routing.rs`).
    pub(crate) routing: request_response::Behaviour<RoutingCodec>,
}

impl Behaviour {
    /// Builds the behaviour of the node with identity `key`.
    pub(crate) fn new(key: &Keypair, config: &Config) -> Self {
        let peer_id = key.public().to_peer_id();
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections.get()))
            .with_max_established_per_peer(Some(config.max_connections_per_peer.get()))
            .with_max_pending_incoming(Some(config.max_pending_incoming.get()));
        let sources = source_limits::Behaviour::new(SourceLimitsConfig {
            max_established_per_ip: config.max_connections_per_ip.get(),
            max_established_per_net64: config.max_connections_per_ipv6_64.get(),
            max_pending_per_ip: config.max_pending_incoming_per_ip.get(),
        });
        let memory = match config.max_memory_mib {
            Some(mib) => memory_connection_limits::Behaviour::with_max_bytes(
                usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX),
            ),
            None => memory_connection_limits::Behaviour::with_max_percentage(
                DEFAULT_MAX_MEMORY_FRACTION,
            ),
        };
        let identify = identify::Behaviour::new(
            identify::Config::new(config.namespace.identify_protocol_version(), key.public())
                .with_agent_version(format!("mesh-bootstrap/{}", env!("CARGO_PKG_VERSION"))),
        );
        Self {
            sources,
            limits: connection_limits::Behaviour::new(limits),
            memory,
            identify,
            ping: ping::Behaviour::default(),
            kad: kademlia(peer_id, config),
            relay: relay::Behaviour::new(peer_id, relay_config(config)),
            // Full: it answers browsers and asks the bootstrap nodes it joined on their behalf.
            routing: request_response::Behaviour::with_codec(
                RoutingCodec,
                [(config.namespace.routing_protocol(), ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(FORWARD_TIMEOUT),
            ),
        }
    }
}

fn kademlia(peer_id: PeerId, config: &Config) -> kad::Behaviour<ProviderStore> {
    let mut kad_config = kad::Config::new(config.namespace.kad_protocol());
    kad_config
        .set_provider_record_ttl(Some(config.provider_ttl))
        // The node provides nothing and stores no values: nothing to republish or replicate.
        .set_provider_publication_interval(None)
        .set_publication_interval(None)
        .set_replication_interval(None)
        // Records from the network reach the store through the node, which knows the source
        // address each one is charged to.
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        // A lone node has nobody to refresh its routing table against.
        .set_periodic_bootstrap_interval(
            (!config.peers.is_empty()).then_some(KAD_BOOTSTRAP_INTERVAL),
        );
    let store = ProviderStore::new(
        peer_id,
        StoreConfig {
            max_providers_per_key: config.max_providers_per_key.get(),
            max_records: config.max_provider_records.get(),
            max_records_per_peer: config.max_provider_records_per_peer.get(),
            max_records_per_ip: config.max_provider_records_per_ip.get(),
            max_records_per_net64: config.max_provider_records_per_ipv6_64.get(),
            max_address_bytes_per_ip: config.max_provider_address_bytes_per_ip.get(),
            max_address_bytes_per_net64: config.max_provider_address_bytes_per_ipv6_64.get(),
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    // Explicit: the default (automatic) would stay in client mode until an external address is
    // confirmed, and a bootstrap node exists to answer queries.
    kad.set_mode(Some(kad::Mode::Server));
    kad
}
