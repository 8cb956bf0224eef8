//! The composed `NetworkBehaviour` of a mesh node: identify, ping, provider routing
//! (Kademlia or delegated), the block exchange, (optionally) the relay client, and one
//! behaviour the node adds itself (the browser's `/webrtc` signaling), so that this crate names
//! no transport.

use std::convert::Infallible;
use std::time::Duration;

use libp2p::identity::{Keypair, PublicKey};
#[cfg(feature = "kad")]
use libp2p::kad::{self, store::MemoryStoreConfig};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dummy;
use libp2p::{identify, ping, relay};

use crate::blocks::{BlockCodec, session};
use crate::namespace::Namespace;
#[cfg(feature = "kad")]
use crate::routing::KadMode;
use crate::routing::{self, RoutingMode};

#[cfg(feature = "kad")]
/// Provider keys a node keeps by default (its own and, in server mode, other peers'): mesh
/// announces one key per asset root, so this is thousands of assets, while bounding the
/// store's memory (at most 20 providers per key).
pub const DEFAULT_MAX_PROVIDER_KEYS: usize = 8192;

/// Settings of [`Behaviour`]. Start from [`Config::new`] and adjust with the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The deployment namespace every protocol id carries.
    pub namespace: Namespace,
    /// How providers are found and announced. Default: Kademlia as a client with the `kad`
    /// feature, delegated without it.
    pub routing: RoutingMode,
    /// Identify agent version. Default `mesh/<crate version>`.
    pub agent_version: String,
    /// Time allowed for one block-exchange or routing request, both directions. Default 10 s.
    pub request_timeout: Duration,
    #[cfg(feature = "kad")]
    /// Time allowed for one Kademlia query. Default 10 s (a loopback lookup takes ~30 ms; a
    /// fetch never waits for the query to end, only for its first providers).
    pub kad_query_timeout: Duration,
    #[cfg(feature = "kad")]
    /// Lifetime of provider records stored by this node; `None` keeps them until restart.
    /// Default 24 h (Kademlia's). Bootstrap nodes tune this.
    pub provider_record_ttl: Option<Duration>,
    #[cfg(feature = "kad")]
    /// How often this node re-announces what it provides; `None` never. Default 12 h. Must be
    /// well under the TTL other nodes use.
    pub provider_publication_interval: Option<Duration>,
    #[cfg(feature = "kad")]
    /// Limits of the provider/record store. Default: [`DEFAULT_MAX_PROVIDER_KEYS`] provider
    /// keys, Kademlia's 20 providers per key, and no value records at all (mesh uses only
    /// provider records, so a peer cannot park data in our memory with PUT_VALUE).
    pub kad_store: MemoryStoreConfig,
}

impl Config {
    /// The defaults for `namespace`.
    pub fn new(namespace: Namespace) -> Self {
        Self {
            namespace,
            #[cfg(feature = "kad")]
            routing: RoutingMode::Kademlia(KadMode::Client),
            #[cfg(not(feature = "kad"))]
            routing: RoutingMode::Delegated,
            agent_version: format!("mesh/{}", env!("CARGO_PKG_VERSION")),
            request_timeout: Duration::from_secs(10),
            #[cfg(feature = "kad")]
            kad_query_timeout: Duration::from_secs(10),
            #[cfg(feature = "kad")]
            provider_record_ttl: Some(Duration::from_secs(24 * 3600)),
            #[cfg(feature = "kad")]
            provider_publication_interval: Some(Duration::from_secs(12 * 3600)),
            #[cfg(feature = "kad")]
            kad_store: MemoryStoreConfig {
                max_records: 0,
                max_value_bytes: 0,
                max_provided_keys: DEFAULT_MAX_PROVIDER_KEYS,
                ..MemoryStoreConfig::default()
            },
        }
    }

    /// Sets [`Config::routing`].
    pub fn with_routing(mut self, routing: RoutingMode) -> Self {
        self.routing = routing;
        self
    }

    /// Routes by Kademlia in `mode`.
    #[cfg(feature = "kad")]
    pub fn with_kad_mode(self, mode: KadMode) -> Self {
        self.with_routing(RoutingMode::Kademlia(mode))
    }

    /// Sets [`Config::agent_version`].
    pub fn with_agent_version(mut self, agent: impl Into<String>) -> Self {
        self.agent_version = agent.into();
        self
    }

    /// Sets [`Config::request_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    #[cfg(feature = "kad")]
    /// Sets [`Config::kad_query_timeout`].
    pub fn with_kad_query_timeout(mut self, timeout: Duration) -> Self {
        self.kad_query_timeout = timeout;
        self
    }

    #[cfg(feature = "kad")]
    /// Sets [`Config::provider_record_ttl`].
    pub fn with_provider_record_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.provider_record_ttl = ttl;
        self
    }

    #[cfg(feature = "kad")]
    /// Sets [`Config::provider_publication_interval`].
    pub fn with_provider_publication_interval(mut self, interval: Option<Duration>) -> Self {
        self.provider_publication_interval = interval;
        self
    }

    #[cfg(feature = "kad")]
    /// Sets [`Config::kad_store`].
    pub fn with_kad_store(mut self, store: MemoryStoreConfig) -> Self {
        self.kad_store = store;
        self
    }

    #[cfg(feature = "kad")]
    /// The Kademlia configuration: this namespace's protocol and the settings above. Public so
    /// that a node composing its own behaviour (the bootstrap node) speaks the same DHT.
    pub fn kad_config(&self) -> kad::Config {
        let mut kad = kad::Config::new(self.namespace.kad_protocol());
        kad.set_query_timeout(self.kad_query_timeout);
        kad.set_provider_record_ttl(self.provider_record_ttl);
        kad.set_provider_publication_interval(self.provider_publication_interval);
        // Records (PUT_VALUE) are not used by mesh; only provider records are.
        kad.set_record_ttl(None);
        kad.set_replication_interval(None);
        kad.set_publication_interval(None);
        kad
    }

    /// The identify configuration: the namespace's protocol version and the agent version.
    pub fn identify_config(&self, public_key: PublicKey) -> identify::Config {
        identify::Config::new(self.namespace.identify_protocol_version(), public_key)
            .with_agent_version(self.agent_version.clone())
    }

    /// The block-exchange session behaviour, with `codec` (keep a clone to read its
    /// counter).
    pub fn blocks_behaviour(&self, codec: BlockCodec) -> session::Behaviour {
        session::Behaviour::new(
            self.namespace.blocks_protocol(),
            codec,
            session::Config {
                request_timeout: self.request_timeout,
                ..session::Config::default()
            },
        )
    }
}

/// Everything the composed behaviour reports.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Events are moved once, from the swarm to the driver.
pub enum Event {
    /// From identify.
    Identify(identify::Event),
    /// From ping.
    Ping(ping::Event),
    /// From provider routing.
    Routing(routing::Event),
    /// From the block exchange.
    Blocks(session::Event),
    /// From the relay client.
    Relay(relay::client::Event),
}

/// An [`Extra`] behaviour reports nothing.
impl From<Infallible> for Event {
    fn from(e: Infallible) -> Self {
        match e {}
    }
}

impl From<identify::Event> for Event {
    fn from(e: identify::Event) -> Self {
        Self::Identify(e)
    }
}

impl From<ping::Event> for Event {
    fn from(e: ping::Event) -> Self {
        Self::Ping(e)
    }
}

impl From<routing::Event> for Event {
    fn from(e: routing::Event) -> Self {
        Self::Routing(e)
    }
}

impl From<session::Event> for Event {
    fn from(e: session::Event) -> Self {
        Self::Blocks(e)
    }
}

impl From<relay::client::Event> for Event {
    fn from(e: relay::client::Event) -> Self {
        Self::Relay(e)
    }
}

/// A behaviour a node composes into [`Behaviour`] beside the mesh's own protocols: the browser
/// node's `/webrtc` signaling (which must sit in the same swarm as the transport it feeds).
/// It reports nothing to the swarm; native nodes use [`NoExtra`].
pub trait Extra: NetworkBehaviour<ToSwarm = Infallible> {}

impl<T: NetworkBehaviour<ToSwarm = Infallible>> Extra for T {}

/// The [`Extra`] of nodes that add nothing (native nodes).
pub type NoExtra = dummy::Behaviour;

/// The mesh node behaviour. Fields are public so drivers can call each protocol
/// (`routing.get_providers`, `blocks.send_request`, ...).
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "Event")]
pub struct Behaviour<X: Extra> {
    /// Identify: protocol version `/mesh/<ns>/1.0.0`, listen addresses.
    pub identify: identify::Behaviour,
    /// Ping: keeps idle connections alive through NATs and measures RTT.
    pub ping: ping::Behaviour,
    /// Provider routing: Kademlia under `/mesh/<ns>/kad/1.0.0` (provider records only), or
    /// delegated under `/mesh/<ns>/routing/1.0.0`.
    pub routing: routing::Behaviour,
    /// The block exchange under `/mesh/<ns>/blocks/2.0.0`.
    pub blocks: session::Behaviour,
    /// Relay v2 client (browsers reach each other through it); disabled on native nodes.
    pub relay: Toggle<relay::client::Behaviour>,
    /// What the node added (see [`Behaviour::with_extra`]).
    pub extra: X,
}

impl Behaviour<NoExtra> {
    /// Builds the behaviour. `relay` is the client half returned by the swarm builder's
    /// `with_relay_client`, or `None` to run without.
    pub fn new(
        keypair: &Keypair,
        config: &Config,
        relay: Option<relay::client::Behaviour>,
    ) -> Self {
        Self::with_codec(keypair, config, relay, BlockCodec::new())
    }

    /// Like [`Behaviour::new`], with the block codec given, so the caller can keep a clone and
    /// read [`BlockCodec::rejected_requests`].
    pub fn with_codec(
        keypair: &Keypair,
        config: &Config,
        relay: Option<relay::client::Behaviour>,
        codec: BlockCodec,
    ) -> Self {
        let peer_id = keypair.public().to_peer_id();
        Self {
            identify: identify::Behaviour::new(config.identify_config(keypair.public())),
            ping: ping::Behaviour::new(ping::Config::new()),
            routing: routing::Behaviour::new(peer_id, config),
            blocks: config.blocks_behaviour(codec),
            relay: Toggle::from(relay),
            extra: dummy::Behaviour,
        }
    }
}

impl<X: Extra> Behaviour<X> {
    /// The same behaviour with `extra` composed in (the browser node's `/webrtc` signaling).
    pub fn with_extra<Y: Extra>(self, extra: Y) -> Behaviour<Y> {
        Behaviour {
            identify: self.identify,
            ping: self.ping,
            routing: self.routing,
            blocks: self.blocks,
            relay: self.relay,
            extra,
        }
    }
}

/// The swarm settings every mesh node builds on: `base` (the executor, idle timeout) with
/// lazy multistream-select on outbound streams. Plain multistream-select waits for the listener
/// to confirm the protocol before the first message leaves: a round trip before a
/// connection's first block request (and each routing request). Lazily, the proposal and the
/// first request travel together; a peer that lacks the protocol fails the request as before,
/// one round trip later.
pub fn swarm_config(base: libp2p::swarm::Config) -> libp2p::swarm::Config {
    base.with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
}

/// Replication factor used for provider records (Kademlia's k).
#[cfg(feature = "kad")]
pub fn replication_factor() -> std::num::NonZeroUsize {
    kad::K_VALUE
}
