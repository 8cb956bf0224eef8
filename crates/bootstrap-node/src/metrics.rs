//! Prometheus metrics of the node.
//!
//! libp2p's own recorders (`libp2p_*`: swarm, identify, ping, Kademlia queries and their
//! latencies, relay events, bytes per transport) share one registry with the families below,
//! which describe what an operator watches: connections by transport, relay reservations and
//! circuits, provider records.

use libp2p::{
    Multiaddr,
    core::ConnectedPoint,
    metrics::{Metrics as Libp2pMetrics, Recorder},
    multiaddr::Protocol,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::{
    routing::RequestKind,
    source_limits::SourceLimitExceeded,
    store::{ProviderRefusal, StoreStats},
};

/// The transport a connection runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    /// Plain TCP.
    Tcp,
    /// WebSocket over TCP.
    Websocket,
    /// WebRTC-direct over UDP (browsers).
    WebrtcDirect,
    /// A relayed circuit.
    Relayed,
    /// Anything else.
    Other,
}

impl Transport {
    /// Classifies the address of a connection.
    pub(crate) fn of_address(addr: &Multiaddr) -> Self {
        let mut transport = Self::Other;
        for protocol in addr.iter() {
            transport = match protocol {
                Protocol::P2pCircuit => return Self::Relayed,
                Protocol::WebRTCDirect => Self::WebrtcDirect,
                Protocol::Ws(_) | Protocol::Wss(_) => Self::Websocket,
                Protocol::Tcp(_) if transport == Self::Other => Self::Tcp,
                _ => transport,
            };
        }
        transport
    }

    /// Classifies a connection by its remote address (listener) or dialed address (dialer).
    pub(crate) fn of_endpoint(endpoint: &ConnectedPoint) -> Self {
        Self::of_address(endpoint.get_remote_address())
    }
}

/// Label values are the snake-case names operators write in queries.
macro_rules! label_values {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The label value.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values!(Transport {
    Tcp => "tcp",
    Websocket => "websocket",
    WebrtcDirect => "webrtc-direct",
    Relayed => "relayed",
    Other => "other",
});

label_values!(CircuitEnd {
    Closed => "closed",
    ByteLimit => "byte_limit",
    DurationLimit => "duration_limit",
    Error => "error",
});

label_values!(RecordRemoval {
    Disconnect => "disconnect",
    Expired => "expired",
});

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabel {
    transport: Transport,
}

/// Why a relayed circuit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CircuitEnd {
    /// Both ends closed it.
    Closed,
    /// It reached its byte limit.
    ByteLimit,
    /// It reached its duration limit.
    DurationLimit,
    /// An I/O error or a closed connection ended it.
    Error,
}

impl CircuitEnd {
    /// Classifies the error of a relay `CircuitClosed` event.
    pub(crate) fn of_error(error: Option<&std::io::Error>) -> Self {
        match error {
            None => Self::Closed,
            Some(e) if e.kind() == std::io::ErrorKind::TimedOut => Self::DurationLimit,
            // libp2p-relay reports the byte limit only through this message.
            Some(e) if e.to_string().contains("Max circuit bytes") => Self::ByteLimit,
            Some(_) => Self::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CircuitEndLabel {
    reason: CircuitEnd,
}

/// Why provider records were removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RecordRemoval {
    /// Their provider's last connection closed.
    Disconnect,
    /// Their TTL ran out.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RemovalLabel {
    reason: RecordRemoval,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusalLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RoutingLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLimitLabel {
    limit: &'static str,
}

/// Every metric the node updates.
pub(crate) struct Metrics {
    libp2p: Libp2pMetrics,
    connections: Family<TransportLabel, Gauge>,
    connections_denied: Counter,
    reservations: Gauge,
    reservations_denied: Counter,
    circuits: Gauge,
    circuits_denied: Counter,
    circuits_closed: Family<CircuitEndLabel, Counter>,
    provider_records: Gauge,
    provider_keys: Gauge,
    provider_peers: Gauge,
    provider_records_removed: Family<RemovalLabel, Counter>,
    provider_records_refused: Family<RefusalLabel, Counter>,
    connections_denied_by_source: Family<SourceLimitLabel, Counter>,
    http_requests_limited: Counter,
    routing_peers: Gauge,
    relayed_bytes: Counter,
    routing_requests: Family<RoutingLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every family in `registry`.
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let libp2p = Libp2pMetrics::new(registry);
        let r = registry.sub_registry_with_prefix("bootstrap");
        let metrics = Self {
            libp2p,
            connections: Family::default(),
            connections_denied: Counter::default(),
            reservations: Gauge::default(),
            reservations_denied: Counter::default(),
            circuits: Gauge::default(),
            circuits_denied: Counter::default(),
            circuits_closed: Family::default(),
            provider_records: Gauge::default(),
            provider_keys: Gauge::default(),
            provider_peers: Gauge::default(),
            provider_records_removed: Family::default(),
            provider_records_refused: Family::default(),
            connections_denied_by_source: Family::default(),
            http_requests_limited: Counter::default(),
            routing_peers: Gauge::default(),
            relayed_bytes: Counter::default(),
            routing_requests: Family::default(),
        };
        r.register(
            "connections",
            "Open connections by transport",
            metrics.connections.clone(),
        );
        r.register(
            "connections_denied",
            "Incoming connections refused by connection or memory limits",
            metrics.connections_denied.clone(),
        );
        r.register(
            "relay_reservations",
            "Relay reservations held",
            metrics.reservations.clone(),
        );
        r.register(
            "relay_reservations_denied",
            "Relay reservation requests denied",
            metrics.reservations_denied.clone(),
        );
        r.register(
            "relay_circuits",
            "Relayed circuits open",
            metrics.circuits.clone(),
        );
        r.register(
            "relay_circuits_denied",
            "Relayed circuit requests denied",
            metrics.circuits_denied.clone(),
        );
        r.register(
            "relay_circuits_closed",
            "Relayed circuits ended, by reason",
            metrics.circuits_closed.clone(),
        );
        r.register(
            "provider_records",
            "Provider records held",
            metrics.provider_records.clone(),
        );
        r.register(
            "provider_keys",
            "Keys with at least one provider",
            metrics.provider_keys.clone(),
        );
        r.register(
            "provider_peers",
            "Peers providing at least one key",
            metrics.provider_peers.clone(),
        );
        r.register(
            "provider_records_removed",
            "Provider records removed, by reason",
            metrics.provider_records_removed.clone(),
        );
        r.register(
            "provider_records_refused",
            "Provider records refused, by the limit that refused them",
            metrics.provider_records_refused.clone(),
        );
        r.register(
            "connections_denied_by_source",
            "Incoming connections refused by a per-source limit (ip, net64 = IPv6 /64, pending_ip)",
            metrics.connections_denied_by_source.clone(),
        );
        r.register(
            "http_requests_limited",
            "HTTP requests answered 429 by the per-client rate limit",
            metrics.http_requests_limited.clone(),
        );
        r.register(
            "relay_bytes",
            "Bytes carried by relayed circuits, both directions (including each circuit's STOP handshake)",
            metrics.relayed_bytes.clone(),
        );
        r.register(
            "routing_requests",
            "Delegated routing requests, by kind: find, provide, withdraw (from browsers), find_held (lookups other bootstrap nodes passed on)",
            metrics.routing_requests.clone(),
        );
        r.register(
            "kad_routing_peers",
            "Peers in the Kademlia routing table (other bootstrap nodes and server-mode peers)",
            metrics.routing_peers.clone(),
        );
        // Every series exists from the start, at zero: dashboards and alerts see a value rather
        // than a missing family before the first event.
        for transport in [
            Transport::Tcp,
            Transport::Websocket,
            Transport::WebrtcDirect,
        ] {
            let _ = metrics
                .connections
                .get_or_create(&TransportLabel { transport });
        }
        for reason in [
            CircuitEnd::Closed,
            CircuitEnd::ByteLimit,
            CircuitEnd::DurationLimit,
            CircuitEnd::Error,
        ] {
            let _ = metrics
                .circuits_closed
                .get_or_create(&CircuitEndLabel { reason });
        }
        for refusal in ProviderRefusal::ALL {
            let _ = metrics
                .provider_records_refused
                .get_or_create(&RefusalLabel {
                    reason: refusal.as_str(),
                });
        }
        for kind in RequestKind::ALL {
            let _ = metrics.routing_requests.get_or_create(&RoutingLabel {
                kind: kind.as_str(),
            });
        }
        for limit in ["ip", "net64", "pending_ip"] {
            let _ = metrics
                .connections_denied_by_source
                .get_or_create(&SourceLimitLabel { limit });
        }
        for reason in [RecordRemoval::Disconnect, RecordRemoval::Expired] {
            let _ = metrics
                .provider_records_removed
                .get_or_create(&RemovalLabel { reason });
        }
        metrics
    }

    /// Records an event with libp2p's recorders.
    pub(crate) fn record<E>(&self, event: &E)
    where
        Libp2pMetrics: Recorder<E>,
    {
        self.libp2p.record(event);
    }

    /// A connection opened.
    pub(crate) fn connection_opened(&self, transport: Transport) {
        self.connections
            .get_or_create(&TransportLabel { transport })
            .inc();
    }

    /// A connection closed.
    pub(crate) fn connection_closed(&self, transport: Transport) {
        self.connections
            .get_or_create(&TransportLabel { transport })
            .dec();
    }

    /// An incoming connection was refused by a limit.
    pub(crate) fn connection_denied(&self) {
        self.connections_denied.inc();
    }

    /// A new relay reservation was accepted.
    pub(crate) fn reservation_accepted(&self) {
        self.reservations.inc();
    }

    /// A relay reservation ended.
    pub(crate) fn reservation_ended(&self) {
        self.reservations.dec();
    }

    /// A relay reservation request was denied.
    pub(crate) fn reservation_denied(&self) {
        self.reservations_denied.inc();
    }

    /// A circuit was accepted.
    pub(crate) fn circuit_opened(&self) {
        self.circuits.inc();
    }

    /// A circuit request was denied.
    pub(crate) fn circuit_denied(&self) {
        self.circuits_denied.inc();
    }

    /// A circuit ended.
    pub(crate) fn circuit_closed(&self, reason: CircuitEnd) {
        self.circuits.dec();
        self.circuits_closed
            .get_or_create(&CircuitEndLabel { reason })
            .inc();
    }

    /// Provider records were removed.
    pub(crate) fn records_removed(&self, reason: RecordRemoval, count: usize) {
        self.provider_records_removed
            .get_or_create(&RemovalLabel { reason })
            .inc_by(count as u64);
    }

    /// A delegated routing request arrived.
    pub(crate) fn routing_request(&self, kind: RequestKind) {
        self.routing_requests
            .get_or_create(&RoutingLabel {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// A provider record was refused.
    pub(crate) fn provider_refused(&self, refusal: ProviderRefusal) {
        self.provider_records_refused
            .get_or_create(&RefusalLabel {
                reason: refusal.as_str(),
            })
            .inc();
    }

    /// An incoming connection was refused by a per-source limit.
    pub(crate) fn connection_denied_by_source(&self, limit: SourceLimitExceeded) {
        self.connections_denied_by_source
            .get_or_create(&SourceLimitLabel {
                limit: limit.as_str(),
            })
            .inc();
    }

    /// The counter of rate-limited HTTP requests, for the HTTP server to update.
    pub(crate) fn http_requests_limited(&self) -> Counter {
        self.http_requests_limited.clone()
    }

    /// The counter of relayed bytes, for the transport to update.
    pub(crate) fn relayed_bytes(&self) -> Counter {
        self.relayed_bytes.clone()
    }

    /// Sets the routing-table gauge.
    pub(crate) fn set_routing_peers(&self, peers: usize) {
        self.routing_peers
            .set(i64::try_from(peers).unwrap_or(i64::MAX));
    }

    /// Sets the provider-record gauges.
    pub(crate) fn set_store(&self, stats: StoreStats) {
        let as_gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.provider_records.set(as_gauge(stats.records));
        self.provider_keys.set(as_gauge(stats.keys));
        self.provider_peers.set(as_gauge(stats.peers));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classifies_transports() {
        let t = |s: &str| Transport::of_address(&s.parse().unwrap());
        assert_eq!(t("/ip4/1.2.3.4/tcp/1"), Transport::Tcp);
        assert_eq!(t("/ip4/1.2.3.4/tcp/1/ws"), Transport::Websocket);
        assert_eq!(
            t("/ip4/1.2.3.4/udp/1/webrtc-direct"),
            Transport::WebrtcDirect
        );
        assert_eq!(
            t(
                "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
            ),
            Transport::Relayed
        );
        assert_eq!(t("/ip4/1.2.3.4/udp/1/quic-v1"), Transport::Other);
    }

    #[test]
    fn classifies_circuit_ends() {
        use std::io::{Error, ErrorKind};
        assert_eq!(CircuitEnd::of_error(None), CircuitEnd::Closed);
        let timeout = Error::from(ErrorKind::TimedOut);
        assert_eq!(
            CircuitEnd::of_error(Some(&timeout)),
            CircuitEnd::DurationLimit
        );
        let bytes = Error::other("Max circuit bytes reached.");
        assert_eq!(CircuitEnd::of_error(Some(&bytes)), CircuitEnd::ByteLimit);
        let other = Error::from(ErrorKind::ConnectionAborted);
        assert_eq!(CircuitEnd::of_error(Some(&other)), CircuitEnd::Error);
    }
}
