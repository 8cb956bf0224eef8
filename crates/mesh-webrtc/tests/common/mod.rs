//! Shared by the browser tests: the test node (relay client + `/webrtc` + ping + raw streams
//! over WebSocket to the relay), swarm-driving helpers and the echo protocol.
#![allow(dead_code, unreachable_pub)] // each test file uses a subset

use std::{pin::pin, time::Duration};

use futures::{
    AsyncReadExt, AsyncWriteExt, StreamExt,
    future::{self, Either},
};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, Transport as _,
    core::{ConnectedPoint, muxing::StreamMuxerBox, upgrade::Version},
    identity,
    multiaddr::Protocol,
    noise, ping, relay,
    swarm::{ConnectionId, NetworkBehaviour, SwarmEvent},
    websocket_websys, yamux,
};
use web_time::Instant;

pub const ECHO: StreamProtocol = StreamProtocol::new("/mesh-webrtc-test/echo/1");

#[derive(NetworkBehaviour)]
pub struct Node {
    pub relay: relay::client::Behaviour,
    pub webrtc: mesh_webrtc::Behaviour,
    pub ping: ping::Behaviour,
    pub stream: libp2p_stream::Behaviour,
}

pub type Event = SwarmEvent<NodeEvent>;

pub fn log(msg: &str) {
    web_sys::console::log_1(&msg.into());
}

/// Writes each formatted tracing event to the console.
struct ConsoleWriter(Vec<u8>);

impl std::io::Write for ConsoleWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ConsoleWriter {
    fn drop(&mut self) {
        log(String::from_utf8_lossy(&self.0).trim_end());
    }
}

/// Routes `tracing` output of the code under test to the console when the tests were built
/// with `MESH_WEBRTC_TEST_LOG` set to a filter (e.g. `mesh_webrtc=debug`).
pub fn init_logging() {
    let Some(filter) = option_env!("MESH_WEBRTC_TEST_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .without_time()
        .with_ansi(false)
        .with_writer(|| ConsoleWriter(Vec::new()))
        .try_init();
}

pub fn relay_addr() -> Multiaddr {
    let Some(addr) = option_env!("MESH_WEBRTC_TEST_RELAY") else {
        panic!("MESH_WEBRTC_TEST_RELAY is unset: run crates/mesh-webrtc/tests/browser.sh");
    };
    addr.parse().expect("MESH_WEBRTC_TEST_RELAY is a multiaddr")
}

pub fn build_swarm() -> Swarm<Node> {
    build_swarm_with(mesh_webrtc::Config::new().with_ice_servers(Vec::new()))
}

pub fn build_swarm_with(config: mesh_webrtc::Config) -> Swarm<Node> {
    let keypair = identity::Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    let (relay_transport, relay_behaviour) = relay::client::new(peer);
    let (webrtc_transport, webrtc_behaviour) = mesh_webrtc::new(peer, config);
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

async fn next_event(swarms: &mut [&mut Swarm<Node>]) -> (usize, Event) {
    let (event, index, _) =
        future::select_all(swarms.iter_mut().map(|s| s.select_next_some())).await;
    log(&format!("swarm {index}: {event:?}"));
    (index, event)
}

/// Polls all swarms until `f` returns `Some` for an event of `swarms[who]`.
pub async fn wait_for<T>(
    swarms: &mut [&mut Swarm<Node>],
    who: usize,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    loop {
        let (index, event) = next_event(swarms).await;
        if index == who
            && let Some(t) = f(&event)
        {
            return t;
        }
    }
}

/// Polls all swarms while `fut` runs.
pub async fn drive<T>(swarms: &mut [&mut Swarm<Node>], fut: impl Future<Output = T>) -> T {
    let mut fut = pin!(fut);
    loop {
        match future::select(fut.as_mut(), pin!(next_event(swarms))).await {
            Either::Left((out, _)) => return out,
            Either::Right(_) => {}
        }
    }
}

/// Fails the test instead of hanging when `fut` takes longer than `secs`.
pub async fn within(secs: u64, fut: impl Future<Output = ()>) {
    match future::select(
        pin!(fut),
        futures_timer::Delay::new(Duration::from_secs(secs)),
    )
    .await
    {
        Either::Left(((), _)) => {}
        Either::Right(_) => panic!("test did not finish within {secs} s"),
    }
}

/// Per-test setup. (Chromium gathers loopback host candidates only for a page with camera and
/// microphone permission: webdriver.json's `--use-fake-ui-for-media-stream` grants it without a
/// prompt or a `getUserMedia` call — measured: without the flag ICE never connects.)
pub fn setup() {
    init_logging();
}

pub fn is_webrtc(endpoint: &ConnectedPoint) -> bool {
    endpoint
        .get_remote_address()
        .iter()
        .any(|p| p == Protocol::WebRTC)
}

/// Serves the echo protocol: read to EOF, write it all back, close.
pub fn serve_echo(swarm: &mut Swarm<Node>) {
    let mut incoming = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(ECHO)
        .expect("first registration");
    wasm_bindgen_futures::spawn_local(async move {
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
    });
}

/// Makes `swarm` reserve on the relay and listen on `/webrtc` behind it; returns the
/// advertised `/webrtc` address.
pub async fn listen_via_relay(swarms: &mut [&mut Swarm<Node>], who: usize) -> Multiaddr {
    let relay = relay_addr();
    swarms[who]
        .listen_on("/webrtc".parse().expect("valid"))
        .expect("listens on /webrtc");
    swarms[who]
        .listen_on(relay.clone().with(Protocol::P2pCircuit))
        .expect("relay client listens");
    let addr = wait_for(swarms, who, |e| match e {
        SwarmEvent::NewListenAddr { address, .. }
            if address.iter().any(|p| p == Protocol::WebRTC) =>
        {
            Some(address.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        addr,
        relay.with(Protocol::P2pCircuit).with(Protocol::WebRTC)
    );
    addr
}

/// Connects `swarms[who]` to the relay.
pub async fn connect_to_relay(swarms: &mut [&mut Swarm<Node>], who: usize) {
    let relay = relay_addr();
    let Some(Protocol::P2p(relay_peer)) = relay.iter().last() else {
        panic!("relay address {relay} does not end in /p2p");
    };
    swarms[who].dial(relay).expect("dial starts");
    wait_for(swarms, who, |e| match e {
        SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == relay_peer => Some(()),
        SwarmEvent::OutgoingConnectionError { error, .. } => panic!("relay dial failed: {error}"),
        _ => None,
    })
    .await;
}

/// Dials `addr` from `swarms[who]` and waits for the `/webrtc` connection to `peer`; returns
/// it, the relayed connections opened on the way, and the milliseconds it took.
pub async fn dial_webrtc(
    swarms: &mut [&mut Swarm<Node>],
    who: usize,
    addr: Multiaddr,
    peer: PeerId,
) -> (ConnectionId, Vec<ConnectionId>, u128) {
    let started = Instant::now();
    swarms[who].dial(addr).expect("dial starts");
    let mut relayed = Vec::new();
    let conn = wait_for(swarms, who, |e| match e {
        SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            endpoint,
            ..
        } if *peer_id == peer && is_webrtc(endpoint) => Some(*connection_id),
        SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            endpoint,
            ..
        } if *peer_id == peer => {
            assert!(
                endpoint.is_relayed(),
                "the only other connection to the peer is relayed"
            );
            relayed.push(*connection_id);
            None
        }
        SwarmEvent::OutgoingConnectionError { error, .. } => panic!("dial failed: {error}"),
        _ => None,
    })
    .await;
    (conn, relayed, started.elapsed().as_millis())
}

/// Closes `ids` on `swarms[who]` and waits until they are gone.
pub async fn close_connections(swarms: &mut [&mut Swarm<Node>], who: usize, ids: &[ConnectionId]) {
    let mut open: Vec<ConnectionId> = ids.to_vec();
    for id in ids {
        assert!(
            swarms[who].close_connection(*id),
            "connection {id} still open"
        );
    }
    while !open.is_empty() {
        wait_for(swarms, who, |e| match e {
            SwarmEvent::ConnectionClosed { connection_id, .. } => {
                open.retain(|c| c != connection_id);
                Some(())
            }
            _ => None,
        })
        .await;
    }
}

/// Waits for a successful ping from `swarms[who]` on `conn`.
pub async fn ping_on(swarms: &mut [&mut Swarm<Node>], who: usize, conn: ConnectionId) -> Duration {
    wait_for(swarms, who, |e| match e {
        SwarmEvent::Behaviour(NodeEvent::Ping(ping::Event {
            connection, result, ..
        })) if *connection == conn => Some(result.as_ref().map(|d| *d).map_err(|e| e.to_string())),
        _ => None,
    })
    .await
    .expect("ping over /webrtc succeeds")
}

pub fn test_payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

/// Opens an echo stream from `swarms[who]` to `peer`, writes `payload`, half-closes (FIN,
/// waits for FIN_ACK) and reads the echo to the end. Returns the echo, the close time and the
/// total time in ms.
pub async fn echo(
    swarms: &mut [&mut Swarm<Node>],
    who: usize,
    peer: PeerId,
    payload: &[u8],
) -> (Vec<u8>, u128, u128) {
    let mut control = swarms[who].behaviour().stream.new_control();
    drive(swarms, async {
        let t = Instant::now();
        let mut s = control.open_stream(peer, ECHO).await.expect("stream opens");
        s.write_all(payload).await.expect("write");
        let tc = Instant::now();
        s.close().await.expect("close (FIN) is acknowledged");
        let close_ms = tc.elapsed().as_millis();
        let mut echoed = Vec::new();
        s.read_to_end(&mut echoed).await.expect("echo until FIN");
        (echoed, close_ms, t.elapsed().as_millis())
    })
    .await
}
