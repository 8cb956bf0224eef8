//! The block-exchange session over real libp2p connections (in-memory transport, noise,
//! yamux): requests pipelined on one stream, answers matched by id in any order, notices
//! unanswered and in order, timeouts, read-ahead limit, connection loss.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, Transport as _, noise, yamux};
use mesh_core::block::{RAW_CODEC, cid_for};
use mesh_core::wire::{MAX_REQUEST_SIZE, RequestId};
use mesh_protocol::blocks::session::{
    self, Event, InboundFailure, Message, OutboundFailure, OutboundRequestId, ResponseChannel,
};
use mesh_protocol::blocks::{BlockCodec, BlockRequest, BlockResponse, read_frame, write_frame};
use tokio::sync::mpsc;

const PROTOCOL: StreamProtocol = StreamProtocol::new("/mesh/test/blocks/2.0.0");
/// Longest a test waits for an event that must come.
const PATIENCE: Duration = Duration::from_secs(20);

fn cid(n: u32) -> Cid {
    cid_for(RAW_CODEC, &n.to_be_bytes())
}

fn swarm<B: NetworkBehaviour>(behaviour: impl FnOnce(&Keypair) -> B) -> Swarm<B> {
    let key = Keypair::generate_ed25519();
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(&key).unwrap())
        .multiplex(yamux::Config::default())
        .boxed();
    Swarm::new(
        transport,
        behaviour(&key),
        key.public().to_peer_id(),
        mesh_protocol::swarm_config(libp2p::swarm::Config::with_tokio_executor())
            .with_idle_connection_timeout(Duration::from_secs(60)),
    )
}

fn session_swarm(config: session::Config) -> Swarm<session::Behaviour> {
    swarm(|_| session::Behaviour::new(PROTOCOL, BlockCodec::new(), config))
}

async fn listen<B: NetworkBehaviour>(swarm: &mut Swarm<B>) -> Multiaddr {
    swarm.listen_on("/memory/0".parse().unwrap()).unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address;
        }
    }
}

/// Two session nodes, `a` connected to `b`.
struct Pair {
    a: Swarm<session::Behaviour>,
    b: Swarm<session::Behaviour>,
}

#[derive(Debug, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Pair {
    async fn connect(a: session::Config, b: session::Config) -> Self {
        let mut pair = Self {
            a: session_swarm(a),
            b: session_swarm(b),
        };
        let addr = listen(&mut pair.b).await;
        pair.a.dial(addr).unwrap();
        let (mut a_up, mut b_up) = (false, false);
        while !(a_up && b_up) {
            tokio::select! {
                e = pair.a.select_next_some() => a_up |= matches!(e, SwarmEvent::ConnectionEstablished { .. }),
                e = pair.b.select_next_some() => b_up |= matches!(e, SwarmEvent::ConnectionEstablished { .. }),
            }
        }
        pair
    }

    fn peers(&self) -> (PeerId, PeerId) {
        (*self.a.local_peer_id(), *self.b.local_peer_id())
    }

    /// The next session event of either side, or `None` if none comes within `wait`.
    async fn within(&mut self, wait: Duration) -> Option<(Side, Event)> {
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                e = self.a.select_next_some() => if let SwarmEvent::Behaviour(e) = e { return Some((Side::A, e)) },
                e = self.b.select_next_some() => if let SwarmEvent::Behaviour(e) = e { return Some((Side::B, e)) },
                _ = &mut deadline => return None,
            }
        }
    }

    async fn next(&mut self) -> (Side, Event) {
        self.within(PATIENCE).await.expect("an event in time")
    }

    /// The next request `b` receives.
    async fn request_at_b(&mut self) -> (BlockRequest, ResponseChannel) {
        match self.next().await {
            (
                Side::B,
                Event::Message {
                    message:
                        Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            ) => (request, channel),
            other => panic!("expected a request at b, got {other:?}"),
        }
    }

    /// The next event, which must be one of `a`'s requests failing: its id and why.
    async fn failure_at_a(&mut self) -> (OutboundRequestId, OutboundFailure) {
        match self.next().await {
            (
                Side::A,
                Event::OutboundFailure {
                    request_id, error, ..
                },
            ) => (request_id, error),
            other => panic!("expected a failure at a, got {other:?}"),
        }
    }
}

fn want_block(n: u32) -> BlockRequest {
    BlockRequest::WantBlock {
        id: RequestId(0),
        cid: cid(n),
    }
}

#[tokio::test]
async fn requests_are_pipelined_on_one_stream_and_answers_match_in_any_order() {
    // The answering side is a raw stream peer: it counts the streams it gets, reads all
    // requests before answering, and answers them last first.
    let mut raw = swarm(|_| libp2p_stream::Behaviour::new());
    let raw_addr = listen(&mut raw).await;
    let raw_peer = *raw.local_peer_id();
    let mut incoming = raw.behaviour().new_control().accept(PROTOCOL).unwrap();
    tokio::spawn(async move {
        loop {
            raw.select_next_some().await;
        }
    });
    let streams = Arc::new(AtomicUsize::new(0));
    let count = streams.clone();
    const N: u32 = 20;
    let (ids_tx, mut ids_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            count.fetch_add(1, Ordering::SeqCst);
            let ids_tx = ids_tx.clone();
            tokio::spawn(async move {
                let codec = BlockCodec::new();
                let mut asked = Vec::new();
                for _ in 0..N {
                    asked.push(codec.read_request(&mut stream).await.unwrap());
                }
                let _ = ids_tx.send(asked.iter().map(BlockRequest::id).collect::<Vec<_>>());
                for request in asked.iter().rev() {
                    let answer = BlockResponse::Have {
                        id: request.id(),
                        cids: request.cids().to_vec(),
                    };
                    codec.write_response(&mut stream, &answer).await.unwrap();
                }
                // Keep the stream open: the session does not end it between requests.
                futures::future::pending::<()>().await;
            });
        }
    });

    let mut a = session_swarm(session::Config::default());
    a.dial(raw_addr).unwrap();
    loop {
        if let SwarmEvent::ConnectionEstablished { .. } = a.select_next_some().await {
            break;
        }
    }
    let mut sent = std::collections::HashMap::new();
    for n in 0..N {
        // Every request carries the same caller id: the session numbers them on the wire.
        let request = BlockRequest::WantHave {
            id: RequestId(7),
            cids: vec![cid(n)],
        };
        sent.insert(a.behaviour_mut().send_request(&raw_peer, request), cid(n));
    }
    let mut answered = 0;
    while answered < N {
        let event = tokio::time::timeout(PATIENCE, a.select_next_some())
            .await
            .expect("answers in time");
        if let SwarmEvent::Behaviour(Event::Message {
            message:
                Message::Response {
                    request_id,
                    response,
                },
            ..
        }) = event
        {
            let BlockResponse::Have { cids, .. } = response else {
                panic!("{response:?}");
            };
            assert_eq!(
                cids,
                vec![sent[&request_id]],
                "answer matched to its request"
            );
            answered += 1;
        }
    }
    let ids = ids_rx.recv().await.unwrap();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), N as usize, "wire ids are unique: {ids:?}");
    assert_eq!(
        streams.load(Ordering::SeqCst),
        1,
        "all requests on one stream"
    );
}

#[tokio::test]
async fn notices_get_no_answer_and_arrive_in_order() {
    let mut pair = Pair::connect(session::Config::default(), session::Config::default()).await;
    let (_, b) = pair.peers();
    let want = pair.a.behaviour_mut().send_request(&b, want_block(1));
    let cancel = BlockRequest::Cancel {
        id: RequestId(0),
        cids: vec![cid(1)],
    };
    pair.a.behaviour_mut().send_request(&b, cancel);
    let announce = BlockRequest::Announce {
        id: RequestId(0),
        roots: vec![cid(2)],
    };
    pair.a.behaviour_mut().send_request(&b, announce);

    let (first, want_channel) = pair.request_at_b().await;
    assert!(matches!(first, BlockRequest::WantBlock { .. }), "{first:?}");
    let (second, cancel_channel) = pair.request_at_b().await;
    assert!(matches!(second, BlockRequest::Cancel { .. }), "{second:?}");
    let (third, announce_channel) = pair.request_at_b().await;
    assert!(matches!(third, BlockRequest::Announce { .. }), "{third:?}");

    // Acknowledging a notice sends nothing: b reports it sent at once, a hears nothing.
    for channel in [cancel_channel, announce_channel] {
        pair.b
            .behaviour_mut()
            .send_response(channel, BlockResponse::ack(RequestId(0)))
            .unwrap();
        let (side, event) = pair.next().await;
        assert_eq!(side, Side::B);
        assert!(matches!(event, Event::ResponseSent { .. }), "{event:?}");
    }
    pair.b
        .behaviour_mut()
        .send_response(
            want_channel,
            BlockResponse::DontHave {
                id: first.id(),
                cids: vec![cid(1)],
            },
        )
        .unwrap();
    let mut got_answer = false;
    let mut sent_event = false;
    while !(got_answer && sent_event) {
        match pair.next().await {
            (
                Side::A,
                Event::Message {
                    message:
                        Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            ) => {
                assert_eq!(request_id, want, "only the want-block is answered");
                assert!(matches!(response, BlockResponse::DontHave { .. }));
                got_answer = true;
            }
            (Side::B, Event::ResponseSent { .. }) => sent_event = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pair.within(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn an_unanswered_request_times_out_and_its_late_answer_is_dropped() {
    let quick = session::Config {
        request_timeout: Duration::from_millis(300),
        ..session::Config::default()
    };
    let mut pair = Pair::connect(quick, session::Config::default()).await;
    let (_, b) = pair.peers();
    let id = pair.a.behaviour_mut().send_request(&b, want_block(1));
    let (request, channel) = pair.request_at_b().await;
    let (request_id, error) = pair.failure_at_a().await;
    assert_eq!(request_id, id);
    assert!(matches!(error, OutboundFailure::Timeout), "{error}");
    let late = BlockResponse::Block {
        id: request.id(),
        cid: cid(1),
        data: Bytes::from_static(b"late"),
    };
    pair.b.behaviour_mut().send_response(channel, late).unwrap();
    let (side, event) = pair.next().await;
    assert_eq!(side, Side::B);
    assert!(matches!(event, Event::ResponseSent { .. }), "{event:?}");
    // Nothing reaches a: the answer names no open request.
    assert!(pair.within(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn a_node_reads_no_further_ahead_than_its_limit() {
    let tight = session::Config {
        max_pending_inbound: 3,
        ..session::Config::default()
    };
    let mut pair = Pair::connect(session::Config::default(), tight).await;
    let (_, b) = pair.peers();
    for n in 0..6 {
        pair.a.behaviour_mut().send_request(&b, want_block(n));
    }
    let mut channels = Vec::new();
    for _ in 0..3 {
        channels.push(pair.request_at_b().await);
    }
    assert!(
        pair.within(Duration::from_millis(300)).await.is_none(),
        "b read past its limit"
    );
    // One answer frees one place: exactly one more request is read.
    let (request, channel) = channels.remove(0);
    let answer = BlockResponse::DontHave {
        id: request.id(),
        cids: request.cids().to_vec(),
    };
    pair.b
        .behaviour_mut()
        .send_response(channel, answer)
        .unwrap();
    let mut requests = 0;
    while let Some((side, event)) = pair.within(Duration::from_millis(300)).await {
        if side == Side::B && matches!(event, Event::Message { .. }) {
            requests += 1;
        }
    }
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn closing_the_connection_fails_what_is_open_on_both_sides() {
    let mut pair = Pair::connect(session::Config::default(), session::Config::default()).await;
    let (_, b) = pair.peers();
    let id = pair.a.behaviour_mut().send_request(&b, want_block(1));
    let (_request, channel) = pair.request_at_b().await;
    pair.a.disconnect_peer_id(b).unwrap();
    let (mut a_failed, mut b_failed) = (false, false);
    while !(a_failed && b_failed) {
        match pair.next().await {
            (
                Side::A,
                Event::OutboundFailure {
                    request_id, error, ..
                },
            ) => {
                assert_eq!(request_id, id);
                assert!(
                    matches!(error, OutboundFailure::ConnectionClosed),
                    "{error}"
                );
                a_failed = true;
            }
            (Side::B, Event::InboundFailure { error, .. }) => {
                assert!(matches!(error, InboundFailure::ConnectionClosed), "{error}");
                b_failed = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The answer has nowhere to go.
    let answer = BlockResponse::ack(RequestId(0));
    assert!(
        pair.b
            .behaviour_mut()
            .send_response(channel, answer)
            .is_err()
    );
    // And a request to a peer not connected fails at once.
    let id = pair.a.behaviour_mut().send_request(&b, want_block(2));
    let (request_id, error) = pair.failure_at_a().await;
    assert_eq!(request_id, id);
    assert!(matches!(error, OutboundFailure::NotConnected), "{error}");
}

#[tokio::test]
async fn a_malformed_request_ends_only_its_stream() {
    // A raw peer sends garbage on one stream, then a valid request on a new one.
    let mut node = session_swarm(session::Config::default());
    let addr = listen(&mut node).await;
    let node_peer = *node.local_peer_id();
    let mut raw = swarm(|_| libp2p_stream::Behaviour::new());
    let mut control = raw.behaviour().new_control();
    raw.dial(addr).unwrap();
    let (up_tx, up_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut up_tx = Some(up_tx);
        loop {
            if let SwarmEvent::ConnectionEstablished { .. } = raw.select_next_some().await
                && let Some(up) = up_tx.take()
            {
                let _ = up.send(());
            }
        }
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        up_rx.await.unwrap();
        let mut bad = control.open_stream(node_peer, PROTOCOL).await.unwrap();
        bad.write_all(&[0x03, 0xff, 0xff, 0xff]).await.unwrap();
        bad.flush().await.unwrap();
        let mut good = control.open_stream(node_peer, PROTOCOL).await.unwrap();
        let request = want_block(5).with_id(RequestId(42));
        write_frame(&mut good, &request.to_message(), MAX_REQUEST_SIZE)
            .await
            .unwrap();
        let answer = read_frame(&mut good, 1 << 20).await.unwrap();
        let _ = done_tx.send((bad, answer));
    });
    // The node sees only the valid request, and answers it on its stream.
    let channel = loop {
        let event = tokio::time::timeout(PATIENCE, node.select_next_some())
            .await
            .expect("the valid request in time");
        if let SwarmEvent::Behaviour(Event::Message {
            message: Message::Request {
                request, channel, ..
            },
            ..
        }) = event
        {
            assert_eq!(request.cids(), &[cid(5)]);
            break channel;
        }
    };
    assert_eq!(node.behaviour().rejected_requests(), 1);
    let answer = BlockResponse::DontHave {
        id: RequestId(42),
        cids: vec![cid(5)],
    };
    node.behaviour_mut().send_response(channel, answer).unwrap();
    let (_bad, answer) = loop {
        tokio::select! {
            _ = node.select_next_some() => {}
            done = done_rx.recv() => break done.unwrap(),
        }
    };
    let answer = BlockResponse::from_message(answer).unwrap();
    assert_eq!(answer.id(), RequestId(42));
}
