//! A dial whose remote misbehaves during signaling fails in time, with the reason. The remote is
//! a fake: a swarm without the `/webrtc` transport that takes the signaling stream over the
//! real relay and answers wrongly, or not at all.

use std::time::Duration;

use crate::common::*;
use futures::{
    AsyncReadExt, AsyncWriteExt, StreamExt,
    channel::mpsc,
    future::{self, Either},
};
use libp2p::{
    Swarm, Transport as _,
    core::{muxing::StreamMuxerBox, upgrade::Version},
    identity,
    multiaddr::Protocol,
    noise, relay,
    swarm::{NetworkBehaviour, SwarmEvent},
    websocket_websys, yamux,
};
use mesh_webrtc::proto::{self, SignalingMessage, SignalingType};
use wasm_bindgen_test::wasm_bindgen_test;
use web_time::Instant;

#[derive(NetworkBehaviour)]
struct Fake {
    relay: relay::client::Behaviour,
    stream: libp2p_stream::Behaviour,
}

fn build_fake() -> Swarm<Fake> {
    let keypair = identity::Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    let (relay_transport, relay_behaviour) = relay::client::new(peer);
    let noise = || noise::Config::new(&keypair).expect("noise config");
    let relayed = relay_transport
        .upgrade(Version::V1Lazy)
        .authenticate(noise())
        .multiplex(yamux::Config::default());
    let ws = websocket_websys::Transport::default()
        .upgrade(Version::V1Lazy)
        .authenticate(noise())
        .multiplex(yamux::Config::default());
    let transport = relayed
        .or_transport(ws)
        .map(|either, _| match either {
            Either::Left((p, c)) => (p, StreamMuxerBox::new(c)),
            Either::Right((p, c)) => (p, StreamMuxerBox::new(c)),
        })
        .boxed();
    let behaviour = Fake {
        relay: relay_behaviour,
        stream: libp2p_stream::Behaviour::new(),
    };
    Swarm::new(
        transport,
        behaviour,
        peer,
        libp2p::swarm::Config::with_wasm_executor(),
    )
}

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Answers the offer with a candidate.
    WrongMessage,
    /// Sends bytes that are no protobuf message.
    Garbage,
    /// Reads the offer and says nothing.
    Silence,
}

/// Reads one length-prefixed signaling message.
async fn read_message(stream: &mut libp2p::Stream) -> SignalingMessage {
    let mut buf = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.expect("read"),
            1,
            "stream ended early"
        );
        buf.push(byte[0]);
        if let Some(body) = proto::split_frames(&mut buf, proto::MAX_SIGNALING_LEN)
            .expect("frame")
            .pop()
        {
            return SignalingMessage::decode(&body).expect("valid message");
        }
    }
}

#[wasm_bindgen_test]
async fn misbehaving_signaling_peer_fails_the_dial_in_time() {
    within(60, run()).await;
}

async fn run() {
    setup();
    let relay = relay_addr();
    let timeout = Duration::from_secs(2);
    let mut a = build_swarm_with(
        mesh_webrtc::Config::new()
            .with_ice_servers(Vec::new())
            .with_handshake_timeout(timeout),
    );
    let mut fake = build_fake();
    let fake_peer = *fake.local_peer_id();
    let mut incoming = fake
        .behaviour()
        .stream
        .new_control()
        .accept(mesh_webrtc::SIGNALING_PROTOCOL)
        .expect("accept");
    let (case_tx, mut case_rx) = mpsc::unbounded::<Misbehaviour>();
    let (offer_tx, mut offer_rx) = mpsc::unbounded::<SignalingMessage>();
    wasm_bindgen_futures::spawn_local(async move {
        let mut held = Vec::new();
        while let Some((_, mut stream)) = incoming.next().await {
            let case = case_rx.next().await.expect("a case per dial");
            let offer = read_message(&mut stream).await;
            let _ = offer_tx.unbounded_send(offer);
            match case {
                Misbehaviour::WrongMessage => {
                    let m = SignalingMessage {
                        kind: SignalingType::IceCandidate,
                        data: "null".into(),
                    };
                    stream.write_all(&m.encode_framed()).await.expect("write");
                }
                Misbehaviour::Garbage => {
                    stream.write_all(&[0x02, 0x0b, 0x00]).await.expect("write");
                }
                Misbehaviour::Silence => {}
            }
            stream.flush().await.expect("flush");
            held.push(stream);
        }
    });

    fake.listen_on(relay.clone().with(Protocol::P2pCircuit))
        .expect("relay client listens");
    loop {
        let e = fake.select_next_some().await;
        log(&format!("fake: {e:?}"));
        if matches!(e, SwarmEvent::NewListenAddr { .. }) {
            break;
        }
    }
    let target = relay
        .with(Protocol::P2pCircuit)
        .with(Protocol::WebRTC)
        .with(Protocol::P2p(fake_peer));

    for (case, expect, within_ms) in [
        (Misbehaviour::WrongMessage, "expected SDP_ANSWER", 1_500),
        (Misbehaviour::Garbage, "Decode", 1_500),
        (Misbehaviour::Silence, "Timeout", 3_500),
    ] {
        case_tx.unbounded_send(case).expect("fake alive");
        let started = Instant::now();
        a.dial(target.clone()).expect("dial starts");
        let error = loop {
            let next = future::select(a.select_next_some(), fake.select_next_some());
            match next.await {
                Either::Left((SwarmEvent::OutgoingConnectionError { error, .. }, _)) => {
                    break format!("{error:?}");
                }
                Either::Left((SwarmEvent::ConnectionEstablished { endpoint, .. }, _))
                    if is_webrtc(&endpoint) =>
                {
                    panic!("{case:?}: a /webrtc connection came up")
                }
                Either::Left((e, _)) => log(&format!("A: {e:?}")),
                Either::Right((e, _)) => log(&format!("fake: {e:?}")),
            }
        };
        let ms = started.elapsed().as_millis();
        log(&format!("{case:?}: dial failed after {ms} ms: {error}"));
        assert!(error.contains(expect), "{case:?}: {error}");
        assert!(ms < within_ms, "{case:?}: took {ms} ms");
        let offer = offer_rx.next().await.expect("the fake saw the offer");
        assert_eq!(offer.kind, SignalingType::SdpOffer);
        assert!(
            offer.data.starts_with("v=0"),
            "offer is SDP: {}",
            offer.data
        );
        assert!(
            offer.data.contains("m=application"),
            "init channel forces a data section"
        );
        assert!(
            !offer.data.contains("a=candidate"),
            "no candidates in the offer"
        );
    }
}
