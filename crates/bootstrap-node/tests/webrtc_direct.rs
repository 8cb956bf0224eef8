//! WebRTC-direct, the transport browsers dial: a native WebRTC client connects to the printed
//! address, and after a restart with the same data directory the *old* printed address (same
//! port, same certhash, same peer id) still connects — the DTLS fingerprint check passes only if
//! the persisted certificate is the one actually in use.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;

use common::{BootNode, EVENT_TIMEOUT};
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, ping,
    swarm::{NetworkBehaviour, SwarmEvent},
};

#[derive(NetworkBehaviour)]
struct Pinger {
    ping: ping::Behaviour,
}

fn webrtc_client() -> Swarm<Pinger> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            let certificate =
                libp2p_webrtc::tokio::Certificate::generate(&mut rand::rng()).unwrap();
            libp2p_webrtc::tokio::Transport::new(key.clone(), certificate)
        })
        .unwrap()
        .with_behaviour(|_| Pinger {
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .build()
}

/// Dials `addr` and waits for a ping round trip over the connection.
async fn ping_over(addr: &Multiaddr, expect: PeerId) {
    let mut client = webrtc_client();
    // Native WebRTC dials from the UDP socket of a listener.
    client
        .listen_on("/ip4/127.0.0.1/udp/0/webrtc-direct".parse().unwrap())
        .unwrap();
    let wait = async {
        loop {
            if let SwarmEvent::NewListenAddr { .. } = client.select_next_some().await {
                break;
            }
        }
        client.dial(addr.clone()).unwrap();
        loop {
            match client.select_next_some().await {
                SwarmEvent::Behaviour(PingerEvent::Ping(ping::Event {
                    peer,
                    result: Ok(_),
                    ..
                })) => {
                    assert_eq!(peer, expect);
                    return;
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => panic!("dial {addr}: {error}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(EVENT_TIMEOUT, wait).await.unwrap();
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_webrtc_address_stays_dialable_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let listen = format!("/ip4/127.0.0.1/udp/{}/webrtc-direct", free_udp_port());
    let args: Vec<String> = [
        "--data-dir",
        &data,
        "--http-listen",
        "127.0.0.1:0",
        "--listen",
        &listen,
    ]
    .map(String::from)
    .to_vec();

    let first = BootNode::start_with(&args, 1);
    let printed = first.addrs[0].clone();
    let peer = first.peer_id();
    ping_over(&printed, peer).await;
    first.wait_metric("bootstrap_connections{transport=\"webrtc-direct\"}", |v| {
        v >= 1.0
    });
    assert!(first.terminate().0.success());

    let second = BootNode::start_with(&args, 1);
    assert_eq!(second.addrs[0], printed);
    ping_over(&printed, peer).await;
}
