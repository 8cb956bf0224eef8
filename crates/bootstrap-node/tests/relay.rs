//! Relay v2: a client takes a reservation, another reaches it through a circuit, and the
//! circuit is cut when it exceeds its byte limit. Reservation caps are enforced.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    BootNode, EVENT_TIMEOUT,
    client::{Background, SINK_PROTOCOL, drive_until, join, new_client, reserve},
};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{multiaddr::Protocol, swarm::SwarmEvent};
use tokio::sync::mpsc;

/// Tabs behind one NAT in the crowd test: beyond libp2p-relay's default of 60 per IP address,
/// small enough for a debug build on two cores. `examples/loadgen.rs --relay` runs 500.
const CROWD: usize = 100;
/// Bound on the crowd test's dial phase: a hang fails the test instead of stalling it.
const CROWD_TIMEOUT: Duration = Duration::from_secs(120);

/// Small enough that a test crosses it quickly, large enough for the handshakes on the circuit
/// (noise, yamux, identify) and a 1 KiB message.
const CIRCUIT_BYTES: u64 = 16 * 1024;
/// libp2p-relay copies through 8 KiB buffers and checks the limit between copies, one per
/// direction: a circuit can carry this much beyond its limit before it is cut.
const LIMIT_OVERSHOOT: u64 = 2 * 8 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_is_cut_at_its_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(
        dir.path(),
        &[
            "--announce-listen-addrs",
            "--relay-max-circuit-bytes",
            &CIRCUIT_BYTES.to_string(),
        ],
    );
    let relay = node.addr("tcp");

    // The listener: reachable only through its reservation, counts what arrives on each stream.
    let mut listener = new_client().await;
    join(&mut listener, &relay).await;
    reserve(&mut listener, &relay).await;
    node.wait_metric("bootstrap_relay_reservations", |v| v == 1.0);
    let listener_id = *listener.local_peer_id();
    let mut incoming = listener
        .behaviour()
        .stream
        .new_control()
        .accept(SINK_PROTOCOL)
        .unwrap();
    let (received_tx, mut received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let tx = received_tx.clone();
            tokio::spawn(async move {
                let mut total = 0usize;
                let mut buf = [0u8; 4096];
                // Ends at EOF or when the circuit is cut.
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                let _ = tx.send(total);
            });
        }
    });
    let _listener = Background::spawn(listener);

    // The dialer reaches the listener through the relay.
    let mut dialer = new_client().await;
    let circuit = relay
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(listener_id));
    dialer.dial(circuit).unwrap();
    drive_until(&mut dialer, "relayed connection", |_, event| match event {
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        } if peer_id == listener_id => {
            assert!(endpoint.is_relayed());
            Some(())
        }
        SwarmEvent::OutgoingConnectionError { error, .. } => panic!("circuit dial: {error}"),
        _ => None,
    })
    .await;
    let mut control = dialer.behaviour().stream.new_control();
    let _dialer = Background::spawn(dialer);
    node.wait_metric("bootstrap_relay_circuits", |v| v == 1.0);

    // Signaling-sized traffic passes.
    let mut small = control
        .open_stream(listener_id, SINK_PROTOCOL)
        .await
        .unwrap();
    small.write_all(&[7u8; 1024]).await.unwrap();
    small.close().await.unwrap();
    let got = tokio::time::timeout(EVENT_TIMEOUT, received.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(1024));

    // Bulk traffic is cut: writing 1 MiB fails once the relay has copied its limit.
    let mut bulk = control
        .open_stream(listener_id, SINK_PROTOCOL)
        .await
        .unwrap();
    let chunk = [9u8; 4096];
    let write_all = async {
        for _ in 0..256 {
            bulk.write_all(&chunk).await?;
        }
        bulk.close().await
    };
    let outcome = tokio::time::timeout(EVENT_TIMEOUT, write_all).await;
    assert!(
        matches!(outcome, Ok(Err(_))),
        "the write must fail, not finish or hang: {outcome:?}"
    );
    let delivered = tokio::time::timeout(EVENT_TIMEOUT, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        (delivered as u64) < CIRCUIT_BYTES + LIMIT_OVERSHOOT,
        "{delivered} bytes crossed a {CIRCUIT_BYTES}-byte circuit"
    );

    node.wait_metric(
        "bootstrap_relay_circuits_closed_total{reason=\"byte_limit\"}",
        |v| v == 1.0,
    );
    node.wait_metric("bootstrap_relay_circuits", |v| v == 0.0);
    // The limit counts both directions; the STOP handshake adds about a hundred bytes.
    let relayed = node.metric("bootstrap_relay_bytes_total").unwrap();
    assert!(
        relayed > CIRCUIT_BYTES as f64 && relayed <= (CIRCUIT_BYTES + LIMIT_OVERSHOOT + 512) as f64,
        "{relayed} bytes counted on a {CIRCUIT_BYTES}-byte circuit"
    );
    assert!(
        node.get("/metrics")
            .body
            .contains("# TYPE libp2p_relay_events counter")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(
        dir.path(),
        &["--announce-listen-addrs", "--relay-max-reservations", "1"],
    );
    let relay = node.addr("tcp");

    let mut first = new_client().await;
    join(&mut first, &relay).await;
    reserve(&mut first, &relay).await;
    let _first = Background::spawn(first);

    let mut second = new_client().await;
    join(&mut second, &relay).await;
    second
        .listen_on(relay.clone().with(Protocol::P2pCircuit))
        .unwrap();
    drive_until(&mut second, "reservation refusal", |_, event| match event {
        SwarmEvent::ListenerClosed { .. } => Some(()),
        SwarmEvent::Behaviour(common::client::ClientBehaviourEvent::Relay(
            libp2p::relay::client::Event::ReservationReqAccepted { .. },
        )) => panic!("a second reservation beyond the cap was accepted"),
        _ => None,
    })
    .await;
    node.wait_metric("bootstrap_relay_reservations_denied_total", |v| v == 1.0);
    node.wait_metric("bootstrap_relay_reservations", |v| v == 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reservations_without_an_external_address() {
    // Without --external-address or --announce-listen-addrs the relay has nothing to put in a
    // reservation: the request is refused rather than answered with an unusable address.
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[]);
    let relay = node.addr("tcp");
    let mut client = new_client().await;
    join(&mut client, &relay).await;
    client
        .listen_on(relay.clone().with(Protocol::P2pCircuit))
        .unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(20),
        drive_until(&mut client, "reservation outcome", |_, event| match event {
            SwarmEvent::ListenerClosed { .. } => Some(true),
            SwarmEvent::Behaviour(common::client::ClientBehaviourEvent::Relay(
                libp2p::relay::client::Event::ReservationReqAccepted { .. },
            )) => Some(false),
            _ => None,
        }),
    )
    .await
    .unwrap();
    assert!(refused);
    assert_eq!(node.metric("bootstrap_relay_reservations"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_behind_one_address_reserves_and_dials() {
    let dir = tempfile::tempdir().unwrap();
    // Default limits: the point is that they admit a NAT full of tabs.
    let node = BootNode::start(dir.path(), &["--announce-listen-addrs"]);
    let relay = node.addr("tcp");

    // Every tab joins and takes a reservation, all at once, all from 127.0.0.1.
    let joining: Vec<_> = (0..CROWD)
        .map(|_| {
            let relay = relay.clone();
            tokio::spawn(async move {
                let mut client = new_client().await;
                join(&mut client, &relay).await;
                reserve(&mut client, &relay).await;
                client
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(CROWD);
    for handle in joining {
        clients.push(handle.await.expect("every tab gets a reservation"));
    }
    node.wait_metric("bootstrap_relay_reservations", |v| v == CROWD as f64);

    // Each tab dials the next one through the relay, all at once.
    let ids: Vec<_> = clients.iter().map(|c| *c.local_peer_id()).collect();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let mut drivers = Vec::with_capacity(CROWD);
    for (i, mut client) in clients.into_iter().enumerate() {
        let target = ids[(i + 1) % CROWD];
        let done = done_tx.clone();
        let circuit = relay
            .clone()
            .with(Protocol::P2pCircuit)
            .with(Protocol::P2p(target));
        drivers.push(tokio::spawn(async move {
            client.dial(circuit).unwrap();
            let mut reported = false;
            // Keeps driving after its own dial, so that the tab dialling it gets through.
            loop {
                match client.select_next_some().await {
                    SwarmEvent::ConnectionEstablished {
                        peer_id, endpoint, ..
                    } if peer_id == target && endpoint.is_relayed() && !reported => {
                        reported = true;
                        let _ = done.send(Ok(()));
                    }
                    SwarmEvent::OutgoingConnectionError {
                        peer_id: Some(peer),
                        error,
                        ..
                    } if peer == target && !reported => {
                        reported = true;
                        let _ = done.send(Err(format!("{error}")));
                    }
                    _ => {}
                }
            }
        }));
    }
    let outcomes = tokio::time::timeout(CROWD_TIMEOUT, async {
        let mut outcomes = Vec::with_capacity(CROWD);
        while outcomes.len() < CROWD {
            outcomes.push(done.recv().await.expect("drivers run until aborted"));
        }
        outcomes
    })
    .await
    .expect("every relayed dial finishes (no hangs)");
    let failures: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );

    node.wait_metric("bootstrap_relay_circuits", |v| v == CROWD as f64);
    assert_eq!(
        node.metric("bootstrap_relay_reservations_denied_total"),
        Some(0.0)
    );
    assert_eq!(
        node.metric("bootstrap_relay_circuits_denied_total"),
        Some(0.0)
    );
    for driver in drivers {
        driver.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reservation_gauge_ignores_connections_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--announce-listen-addrs"]);
    let relay = node.addr("tcp");
    let mut visitor = new_client().await;
    join(&mut visitor, &relay).await;
    let visitor = Background::spawn(visitor);
    let mut tab = new_client().await;
    join(&mut tab, &relay).await;
    reserve(&mut tab, &relay).await;
    let _tab = Background::spawn(tab);
    node.wait_metric("bootstrap_relay_reservations", |v| v == 1.0);
    // libp2p-relay reports a closed reservation for the visitor, which never had one.
    drop(visitor);
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 1.0);
    assert_eq!(node.metric("bootstrap_relay_reservations"), Some(1.0));
}
