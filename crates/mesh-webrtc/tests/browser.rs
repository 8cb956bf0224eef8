//! Two Rust swarms in one headless Chromium page, connected browser-to-browser over `/webrtc`
//! with signaling through a real relay (the project's bootstrap node).
//!
//! Run through `tests/browser.sh`, which starts the relay in a loopback-only network namespace
//! and passes its WebSocket address at compile time in `MESH_WEBRTC_TEST_RELAY`.
#![cfg(target_arch = "wasm32")]

use std::{pin::pin, time::Duration};

use futures::{
    AsyncReadExt, AsyncWriteExt, StreamExt,
    future::{self, Either},
};
use libp2p::{
    Multiaddr, StreamProtocol, Swarm, Transport as _,
    core::{ConnectedPoint, muxing::StreamMuxerBox, upgrade::Version},
    identity,
    multiaddr::Protocol,
    noise, ping, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    websocket_websys, yamux,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_time::Instant;

wasm_bindgen_test_configure!(run_in_browser);

const ECHO: StreamProtocol = StreamProtocol::new("/mesh-webrtc-test/echo/1");

#[derive(NetworkBehaviour)]
struct Node {
    relay: relay::client::Behaviour,
    webrtc: mesh_webrtc::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

fn log(msg: &str) {
    web_sys::console::log_1(&msg.into());
}

fn relay_addr() -> Multiaddr {
    let Some(addr) = option_env!("MESH_WEBRTC_TEST_RELAY") else {
        panic!("MESH_WEBRTC_TEST_RELAY is unset: run crates/mesh-webrtc/tests/browser.sh");
    };
    addr.parse().expect("MESH_WEBRTC_TEST_RELAY is a multiaddr")
}

fn build_swarm() -> Swarm<Node> {
    let keypair = identity::Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    let (relay_transport, relay_behaviour) = relay::client::new(peer);
    let (webrtc_transport, webrtc_behaviour) = mesh_webrtc::new(
        peer,
        mesh_webrtc::Config::new().with_ice_servers(Vec::new()),
    );
    let noise = || noise::Config::new(&keypair).expect("noise config from an ed25519 key");
    let relayed = relay_transport
        .upgrade(Version::V1Lazy)
        .authenticate(noise())
        .multiplex(yamux::Config::default());
    let ws = websocket_websys::Transport::default()
        .upgrade(Version::V1Lazy)
        .authenticate(noise())
        .multiplex(yamux::Config::default());
    // The /webrtc transport first (WEBRTC.md §6.1), then the relay, then the relay's own address.
    let transport = webrtc_transport
        .map(|(p, c), _| (p, StreamMuxerBox::new(c)))
        .or_transport(relayed.map(|(p, c), _| (p, StreamMuxerBox::new(c))))
        .or_transport(ws.map(|(p, c), _| (p, StreamMuxerBox::new(c))))
        .map(|either, _| match either {
            Either::Left(Either::Left(o)) | Either::Left(Either::Right(o)) | Either::Right(o) => o,
        })
        .boxed();
    let behaviour = Node {
        relay: relay_behaviour,
        webrtc: webrtc_behaviour,
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(200))),
        stream: libp2p_stream::Behaviour::new(),
    };
    Swarm::new(
        transport,
        behaviour,
        peer,
        libp2p::swarm::Config::with_wasm_executor()
            .with_idle_connection_timeout(Duration::from_secs(60)),
    )
}

/// Polls both swarms until `f` returns `Some` for an event of `a` (or of `b` if `on_b`).
async fn wait_for<T>(
    a: &mut Swarm<Node>,
    b: &mut Swarm<Node>,
    on_b: bool,
    mut f: impl FnMut(&SwarmEvent<NodeEvent>) -> Option<T>,
) -> T {
    loop {
        let (event, from_b) = match future::select(a.select_next_some(), b.select_next_some()).await
        {
            Either::Left((e, _)) => (e, false),
            Either::Right((e, _)) => (e, true),
        };
        log(&format!("{}: {event:?}", if from_b { "B" } else { "A" }));
        if from_b == on_b
            && let Some(t) = f(&event)
        {
            return t;
        }
    }
}

/// Polls both swarms while `fut` runs.
async fn drive<T>(a: &mut Swarm<Node>, b: &mut Swarm<Node>, fut: impl Future<Output = T>) -> T {
    let mut fut = pin!(fut);
    loop {
        let swarms = future::select(a.select_next_some(), b.select_next_some());
        match future::select(fut.as_mut(), swarms).await {
            Either::Left((out, _)) => return out,
            Either::Right((Either::Left((e, _)), _)) => log(&format!("A: {e:?}")),
            Either::Right((Either::Right((e, _)), _)) => log(&format!("B: {e:?}")),
        }
    }
}

/// Chromium gathers a loopback host candidate only for a page with camera and microphone
/// access (shared/NOTES.md); the runner's flags make the fake devices grant it without a prompt.
async fn grant_media_access() {
    let window = web_sys::window().expect("test runs in a window");
    let devices = window.navigator().media_devices().expect("mediaDevices");
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_audio(&true.into());
    constraints.set_video(&true.into());
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .expect("getUserMedia");
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(_) => log("camera and microphone granted"),
        Err(e) => log(&format!("getUserMedia failed: {e:?}")),
    }
}

fn is_webrtc(endpoint: &ConnectedPoint) -> bool {
    endpoint
        .get_remote_address()
        .iter()
        .any(|p| p == Protocol::WebRTC)
}

async fn echo_server(mut incoming: libp2p_stream::IncomingStreams) {
    while let Some((peer, mut stream)) = incoming.next().await {
        wasm_bindgen_futures::spawn_local(async move {
            let mut buf = Vec::new();
            let result = async {
                stream.read_to_end(&mut buf).await?;
                stream.write_all(&buf).await?;
                stream.close().await
            }
            .await;
            log(&format!("echo for {peer}: {} bytes, {result:?}", buf.len()));
        });
    }
}

#[wasm_bindgen_test]
async fn rust_to_rust_over_a_real_relay() {
    let test = pin!(run());
    match future::select(test, futures_timer::Delay::new(Duration::from_secs(90))).await {
        Either::Left(((), _)) => {}
        Either::Right(_) => panic!("test did not finish within 90 s"),
    }
}

async fn run() {
    grant_media_access().await;
    let relay = relay_addr();
    let mut a = build_swarm();
    let mut b = build_swarm();
    let b_peer = *b.local_peer_id();
    let a_peer = *a.local_peer_id();
    log(&format!("A = {a_peer}, B = {b_peer}, relay = {relay}"));

    let incoming = b
        .behaviour()
        .stream
        .new_control()
        .accept(ECHO)
        .expect("first registration");
    wasm_bindgen_futures::spawn_local(echo_server(incoming));

    // B: reserve on the relay and listen on /webrtc behind it.
    b.listen_on("/webrtc".parse().expect("valid"))
        .expect("b2b transport listens on /webrtc");
    b.listen_on(relay.clone().with(Protocol::P2pCircuit))
        .expect("relay client listens");
    let b_addr = wait_for(&mut a, &mut b, true, |e| match e {
        SwarmEvent::NewListenAddr { address, .. }
            if address.iter().any(|p| p == Protocol::WebRTC) =>
        {
            Some(address.clone())
        }
        _ => None,
    })
    .await;
    let expected: Multiaddr = relay
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::WebRTC);
    assert_eq!(b_addr, expected);

    // A dials B's /webrtc address.
    let started = Instant::now();
    a.dial(b_addr.with(Protocol::P2p(b_peer)))
        .expect("dial starts");
    let mut relayed = Vec::new();
    let (conn, endpoint) = wait_for(&mut a, &mut b, false, |e| match e {
        SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            endpoint,
            ..
        } if *peer_id == b_peer && is_webrtc(endpoint) => Some((*connection_id, endpoint.clone())),
        SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            endpoint,
            ..
        } if *peer_id == b_peer => {
            assert!(
                endpoint.is_relayed(),
                "A's only other connection to B is the relayed one"
            );
            relayed.push(*connection_id);
            None
        }
        SwarmEvent::OutgoingConnectionError { error, .. } => panic!("dial failed: {error}"),
        _ => None,
    })
    .await;
    let dial_ms = started.elapsed().as_millis();
    log(&format!(
        "MEASURE dial to usable direct connection: {dial_ms} ms ({endpoint:?})"
    ));

    // From here on only the direct connection may carry data: close A's relayed ones to B.
    // (The circuit's 128 KiB limit would cut the 1 MiB echo below anyway.)
    assert_eq!(
        relayed.len(),
        1,
        "signaling ran over one relayed connection"
    );
    for id in &relayed {
        assert!(a.close_connection(*id), "relayed connection still open");
    }
    wait_for(&mut a, &mut b, false, |e| match e {
        SwarmEvent::ConnectionClosed { connection_id, .. } if relayed.contains(connection_id) => {
            Some(())
        }
        _ => None,
    })
    .await;

    // Ping over the direct connection.
    let rtt = wait_for(&mut a, &mut b, false, |e| match e {
        SwarmEvent::Behaviour(NodeEvent::Ping(ping::Event {
            peer,
            connection,
            result,
        })) if *peer == b_peer && *connection == conn => {
            Some(result.as_ref().map(|d| *d).map_err(|e| e.to_string()))
        }
        _ => None,
    })
    .await
    .expect("ping over /webrtc succeeds");
    log(&format!("MEASURE ping rtt over /webrtc: {rtt:?}"));

    let mut control = a.behaviour().stream.new_control();

    // A half-closed request/response: write, close (FIN, FIN_ACK), then read the answer.
    let (response, close_ms) = drive(&mut a, &mut b, async {
        let mut s = control
            .open_stream(b_peer, ECHO)
            .await
            .expect("stream opens");
        s.write_all(b"hello over webrtc").await.expect("write");
        let t = Instant::now();
        s.close().await.expect("close (FIN) is acknowledged");
        let close_ms = t.elapsed().as_millis();
        let mut response = Vec::new();
        s.read_to_end(&mut response)
            .await
            .expect("response until FIN");
        (response, close_ms)
    })
    .await;
    assert_eq!(response, b"hello over webrtc");
    log(&format!(
        "MEASURE half-close (FIN to FIN_ACK): {close_ms} ms"
    ));
    assert!(
        close_ms < 2_000,
        "FIN_ACK took {close_ms} ms: the 10 s timeout, not an ack?"
    );

    // A 1 MiB echo.
    let payload: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (echoed, echo_ms) = drive(&mut a, &mut b, async {
        let t = Instant::now();
        let mut s = control
            .open_stream(b_peer, ECHO)
            .await
            .expect("stream opens");
        s.write_all(&payload).await.expect("write 1 MiB");
        s.close().await.expect("close");
        let mut echoed = Vec::new();
        s.read_to_end(&mut echoed).await.expect("read the echo");
        (echoed, t.elapsed().as_millis())
    })
    .await;
    assert!(
        echoed == payload,
        "echo differs ({} bytes back)",
        echoed.len()
    );
    log(&format!(
        "MEASURE 1 MiB echo: {echo_ms} ms round trip ({:.1} MiB/s each way)",
        2.0 * 1000.0 / echo_ms.max(1) as f64
    ));
    // Still exactly one live connection A→B: the direct one.
    assert!(a.is_connected(&b_peer));
}
