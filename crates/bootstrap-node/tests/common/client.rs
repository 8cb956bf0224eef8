//! A native libp2p client of the bootstrap node: Kademlia in client mode with the namespaced
//! protocol, delegated routing as browsers use it, identify, relay client, and raw streams for
//! pushing bytes through circuits.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identify, kad, noise, ping, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};

use super::EVENT_TIMEOUT;

pub const KAD_PROTOCOL: &str = "/mesh/default/kad/1.0.0";
pub const IDENTIFY_VERSION: &str = "/mesh/default/1.0.0";
/// A test-only protocol whose streams the receiving client reads and counts.
pub const SINK_PROTOCOL: StreamProtocol = StreamProtocol::new("/mesh-test/sink/1.0.0");

#[derive(NetworkBehaviour)]
pub struct ClientBehaviour {
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub relay: relay::client::Behaviour,
    pub stream: libp2p_stream::Behaviour,
    /// Delegated routing, the browser's way (mesh-protocol's own client).
    pub routing: mesh_protocol::routing::Behaviour,
}

pub type Client = Swarm<ClientBehaviour>;
pub type ClientEvent = SwarmEvent<ClientBehaviourEvent>;

/// A client with a fresh identity over TCP and WebSocket (plus relayed circuits).
pub async fn new_client() -> Client {
    new_client_with_kad(KAD_PROTOCOL).await
}

pub async fn new_client_with_kad(kad_protocol: &'static str) -> Client {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_dns()
        .unwrap()
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| {
            let peer = key.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(
                peer,
                kad::store::MemoryStore::new(peer),
                kad::Config::new(StreamProtocol::new(kad_protocol)),
            );
            // Like a browser: it cannot be dialled, so it only asks.
            kad.set_mode(Some(kad::Mode::Client));
            let delegated = mesh_protocol::Config::new("default".parse().unwrap())
                .with_routing(mesh_protocol::RoutingMode::Delegated);
            ClientBehaviour {
                routing: mesh_protocol::routing::Behaviour::new(peer, &delegated),
                identify: identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_VERSION.to_owned(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                kad,
                relay,
                stream: libp2p_stream::Behaviour::new(),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build()
}

/// Drives `swarm` until `f` returns `Some`, or panics after [`EVENT_TIMEOUT`].
pub async fn drive_until<T>(
    swarm: &mut Client,
    what: &str,
    mut f: impl FnMut(&mut Client, ClientEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            let event = swarm.select_next_some().await;
            if let Some(out) = f(swarm, event) {
                return out;
            }
        }
    };
    tokio::time::timeout(EVENT_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Dials `addr` (ending in `/p2p/<peer>`) and waits for the connection.
pub async fn connect(swarm: &mut Client, addr: &Multiaddr) -> PeerId {
    let peer = match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => panic!("{addr} has no /p2p"),
    };
    swarm.dial(addr.clone()).unwrap();
    drive_until(swarm, "connection", |_, event| match event {
        SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == peer => Some(()),
        SwarmEvent::OutgoingConnectionError { error, .. } => panic!("dial {addr}: {error}"),
        _ => None,
    })
    .await;
    peer
}

/// Connects to a bootstrap node and puts it in the routing table.
pub async fn join(swarm: &mut Client, addr: &Multiaddr) -> PeerId {
    let peer = connect(swarm, addr).await;
    let mut transport = addr.clone();
    transport.pop();
    swarm
        .behaviour_mut()
        .kad
        .add_address(&peer, transport.clone());
    swarm.behaviour_mut().routing.add_server(peer, [transport]);
    peer
}

/// Announces `key` and waits for the announcement to complete.
pub async fn provide(swarm: &mut Client, key: &kad::RecordKey) {
    let query = swarm
        .behaviour_mut()
        .kad
        .start_providing(key.clone())
        .unwrap();
    drive_until(swarm, "start_providing", |_, event| match event {
        SwarmEvent::Behaviour(ClientBehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
            id,
            result: kad::QueryResult::StartProviding(result),
            ..
        })) if id == query => Some(result.expect("providing succeeds")),
        _ => None,
    })
    .await;
}

/// Looks up the providers of `key` until the query finishes.
pub async fn find_providers(swarm: &mut Client, key: &kad::RecordKey) -> Vec<PeerId> {
    let query = swarm.behaviour_mut().kad.get_providers(key.clone());
    let mut found = Vec::new();
    drive_until(swarm, "get_providers", |_, event| match event {
        SwarmEvent::Behaviour(ClientBehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
            id,
            result: kad::QueryResult::GetProviders(result),
            step,
            ..
        })) if id == query => {
            if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                found.extend(providers);
            }
            step.last.then_some(())
        }
        _ => None,
    })
    .await;
    found.sort();
    found.dedup();
    found
}

/// Announces `cid` through the connected routing servers, the browser's way, and returns the
/// outcome.
pub async fn delegated_provide(
    swarm: &mut Client,
    cid: &cid::Cid,
) -> Result<(), mesh_protocol::ProvideError> {
    use mesh_protocol::routing::Event;
    let lookup = swarm.behaviour_mut().routing.start_providing(cid).unwrap();
    drive_until(swarm, "delegated provide", |_, event| match event {
        SwarmEvent::Behaviour(ClientBehaviourEvent::Routing(Event::Provided { id, result }))
            if id == lookup =>
        {
            Some(result)
        }
        _ => None,
    })
    .await
}

/// Looks up providers of `cid` through the connected routing servers, the browser's way;
/// returns them with the addresses they were named with.
pub async fn delegated_find(swarm: &mut Client, cid: &cid::Cid) -> Vec<PeerId> {
    use mesh_protocol::routing::Event;
    let lookup = swarm.behaviour_mut().routing.get_providers(cid);
    let mut found = Vec::new();
    drive_until(swarm, "delegated lookup", |_, event| match event {
        SwarmEvent::Behaviour(ClientBehaviourEvent::Routing(Event::Providers {
            id,
            providers,
            last,
            ..
        })) if id == lookup => {
            found.extend(providers);
            last.then_some(())
        }
        _ => None,
    })
    .await;
    found.sort();
    found.dedup();
    found
}

/// A client driven by a background task, so its connections stay serviced while the test
/// blocks on HTTP; dropping it drops the swarm, which closes every connection.
pub struct Background(tokio::task::JoinHandle<()>);

impl Background {
    pub fn spawn(mut swarm: Client) -> Self {
        Self(tokio::spawn(async move {
            loop {
                swarm.select_next_some().await;
            }
        }))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes a relay reservation at `relay` (an address ending in `/p2p/<relay>`) and, like a
/// browser, announces the relayed address as its own external address so that provider records
/// carry it. Returns that address.
pub async fn reserve(swarm: &mut Client, relay: &Multiaddr) -> Multiaddr {
    let circuit = relay.clone().with(libp2p::multiaddr::Protocol::P2pCircuit);
    swarm.listen_on(circuit.clone()).unwrap();
    drive_until(swarm, "relay reservation", |_, event| match event {
        SwarmEvent::Behaviour(ClientBehaviourEvent::Relay(
            relay::client::Event::ReservationReqAccepted { .. },
        )) => Some(()),
        SwarmEvent::ListenerClosed { reason, .. } => panic!("reservation failed: {reason:?}"),
        _ => None,
    })
    .await;
    swarm.add_external_address(circuit.clone());
    circuit
}
