//! The routing behaviour driven by hand: connections, address changes and polls, no swarm.
use std::task::Waker;

use libp2p::core::ConnectedPoint;
use libp2p::swarm::behaviour::{ConnectionEstablished, ExternalAddrConfirmed, ExternalAddrExpired};
use mesh_core::block::{RAW_CODEC, cid_for};

use super::*;
use crate::Namespace;

fn delegated() -> Behaviour {
    let config =
        Config::new(Namespace::new("test").expect("valid")).with_routing(RoutingMode::Delegated);
    Behaviour::new(PeerId::random(), &config)
}

/// What the behaviour has for the swarm now: events, and whether a request went out.
fn drain(routing: &mut Behaviour) -> (Vec<Event>, usize) {
    let mut cx = Context::from_waker(Waker::noop());
    let (mut events, mut sent) = (Vec::new(), 0);
    while let Poll::Ready(out) = routing.poll(&mut cx) {
        match out {
            ToSwarm::GenerateEvent(e) => events.push(e),
            ToSwarm::NotifyHandler { .. } => sent += 1,
            _ => {}
        }
    }
    (events, sent)
}

fn connect(routing: &mut Behaviour, peer: PeerId) {
    let addr: Multiaddr = "/ip4/10.0.0.1/tcp/1".parse().expect("valid");
    let endpoint = ConnectedPoint::Dialer {
        address: addr.clone(),
        role_override: Endpoint::Dialer,
        port_use: PortUse::Reuse,
    };
    // What the swarm does on a new connection: the handler first, then the event.
    let connection_id = ConnectionId::new_unchecked(1);
    routing
        .handle_established_outbound_connection(
            connection_id,
            peer,
            &addr,
            Endpoint::Dialer,
            PortUse::Reuse,
        )
        .expect("no behaviour denies it");
    routing.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
        peer_id: peer,
        connection_id,
        endpoint: &endpoint,
        failed_addresses: &[],
        other_established: 0,
    }));
    routing.add_server(peer, [addr]);
}

#[test]
fn with_no_server_lookups_and_announcements_end_at_once() {
    let mut routing = delegated();
    let cid = cid_for(RAW_CODEC, b"x");
    let lookup = routing.get_providers(&cid);
    let announce = routing
        .start_providing(&cid)
        .expect("delegated never refuses");
    let (events, sent) = drain(&mut routing);
    assert_eq!(sent, 0);
    assert_eq!(
        events,
        vec![
            Event::Providers {
                id: lookup,
                providers: Vec::new(),
                last: true,
                requests: 0
            },
            Event::Provided {
                id: announce,
                result: Err(ProvideError::NoServer)
            },
        ]
    );
    assert_eq!(routing.known_peers(), 0);
}

#[test]
fn a_server_counts_only_while_connected_and_announcements_wait_for_an_address() {
    let mut routing = delegated();
    let server = PeerId::random();
    routing.add_server(server, []);
    assert_eq!(routing.known_peers(), 0, "not connected: not a server");
    connect(&mut routing, server);
    assert_eq!(routing.known_peers(), 1);

    let cid = cid_for(RAW_CODEC, b"x");
    routing
        .start_providing(&cid)
        .expect("delegated never refuses");
    assert_eq!(drain(&mut routing), (Vec::new(), 0), "held: no address yet");
    let addr: Multiaddr = "/ip4/10.0.0.2/udp/1/webrtc-direct".parse().expect("valid");
    routing.on_swarm_event(FromSwarm::ExternalAddrConfirmed(ExternalAddrConfirmed {
        addr: &addr,
    }));
    assert_eq!(drain(&mut routing), (Vec::new(), 1), "sent once it has one");

    // The address set changes: what is provided is announced again with the new set,
    // once however many changes came between two polls; a withdrawn key is not.
    let other = cid_for(RAW_CODEC, b"y");
    routing
        .start_providing(&other)
        .expect("delegated never refuses");
    routing.stop_providing(&other);
    assert_eq!(
        drain(&mut routing).1,
        2,
        "the announcement and the withdrawal"
    );
    let moved: Multiaddr = "/ip4/10.0.0.3/udp/1/webrtc-direct".parse().expect("valid");
    let expired: Multiaddr = "/ip4/10.0.0.4/udp/1/webrtc-direct".parse().expect("valid");
    for added in [&moved, &expired] {
        routing.on_swarm_event(FromSwarm::ExternalAddrConfirmed(ExternalAddrConfirmed {
            addr: added,
        }));
    }
    routing.on_swarm_event(FromSwarm::ExternalAddrExpired(ExternalAddrExpired {
        addr: &expired,
    }));
    assert_eq!(
        drain(&mut routing),
        (Vec::new(), 1),
        "one key, announced again once"
    );
    assert_eq!(
        drain(&mut routing),
        (Vec::new(), 0),
        "nothing changed since"
    );

    // A lookup asks the one server; finishing it early ends it with no request left.
    let lookup = routing.get_providers(&cid);
    assert_eq!(drain(&mut routing).1, 1);
    routing.finish(lookup);
    let (events, _) = drain(&mut routing);
    assert_eq!(
        events,
        vec![Event::Providers {
            id: lookup,
            providers: Vec::new(),
            last: true,
            requests: 1
        }]
    );
    routing.forget_all();
    assert_eq!(routing.known_peers(), 0);
}
