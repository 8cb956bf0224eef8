//! Two Rust swarms in one headless Chromium page, connected browser-to-browser over `/webrtc`
//! with signaling through a real relay (the project's bootstrap node): ping, a half-closed
//! request/response and a 1 MiB echo over the direct connection.

use crate::common::*;
use libp2p::{multiaddr::Protocol, ping, swarm::SwarmEvent};
use wasm_bindgen_test::wasm_bindgen_test;
use web_time::Instant;

#[wasm_bindgen_test]
async fn rust_to_rust_over_a_real_relay() {
    within(90, run()).await;
}

async fn run() {
    setup();
    let (mut a, mut b) = (build_swarm(), build_swarm());
    let b_peer = *b.local_peer_id();
    let a_peer = *a.local_peer_id();
    serve_echo(&mut b);
    let swarms = &mut [&mut a, &mut b];

    let b_addr = listen_via_relay(swarms, 1).await;
    // A connects to the relay first, so the dial below measures circuit + signaling + ICE/DTLS.
    connect_to_relay(swarms, 0).await;
    let (conn, relayed, dial_ms) =
        dial_webrtc(swarms, 0, b_addr.with(Protocol::P2p(b_peer)), b_peer).await;
    log(&format!(
        "MEASURE rust->rust dial to usable direct connection (relay already connected): {dial_ms} ms"
    ));
    assert_eq!(
        relayed.len(),
        1,
        "signaling ran over one relayed connection"
    );

    // From here on only the direct connection may carry data: close the relayed one. (The
    // circuit's 128 KiB limit would also cut the 1 MiB echo below.)
    close_connections(swarms, 0, &relayed).await;
    let rtt = ping_on(swarms, 0, conn).await;
    log(&format!("MEASURE rust->rust ping rtt: {rtt:?}"));

    // A half-closed request/response: write, close (FIN, FIN_ACK), then read the answer.
    let (response, close_ms, _) = echo(swarms, 0, b_peer, b"hello over webrtc").await;
    assert_eq!(response, b"hello over webrtc");
    log(&format!(
        "MEASURE rust->rust close (FIN to FIN_ACK): {close_ms} ms"
    ));
    assert!(
        close_ms < 2_000,
        "FIN_ACK took {close_ms} ms: the 10 s timeout, not an ack?"
    );

    let payload = test_payload(1024 * 1024);
    let (echoed, _, echo_ms) = echo(swarms, 0, b_peer, &payload).await;
    assert!(
        echoed == payload,
        "echo differs ({} bytes back)",
        echoed.len()
    );
    log(&format!(
        "MEASURE rust->rust 1 MiB echo: {echo_ms} ms ({:.1} MiB/s: 1 MiB there, then back)",
        2000.0 / echo_ms.max(1) as f64
    ));
    assert!(
        swarms[0].is_connected(&b_peer),
        "the direct connection is still up"
    );

    // B closes its side: A must notice at once, not after ICE consent times out (~30 s).
    let b_conn = wait_for(swarms, 1, |e| match e {
        SwarmEvent::Behaviour(NodeEvent::Ping(ping::Event {
            peer,
            connection,
            result: Ok(_),
        })) if *peer == a_peer => Some(*connection),
        _ => None,
    })
    .await;
    let t = Instant::now();
    assert!(
        swarms[1].close_connection(b_conn),
        "B's /webrtc connection is open"
    );
    wait_for(swarms, 0, |e| match e {
        SwarmEvent::ConnectionClosed { connection_id, .. } if *connection_id == conn => Some(()),
        _ => None,
    })
    .await;
    let closed_ms = t.elapsed().as_millis();
    log(&format!(
        "MEASURE remote close noticed after {closed_ms} ms"
    ));
    assert!(
        closed_ms < 3_000,
        "A noticed B's close only after {closed_ms} ms"
    );
}
