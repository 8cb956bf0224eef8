//! Oversize and malformed block-exchange frames, in both directions, from a raw libp2p peer
//! that speaks the protocol id but writes whatever bytes it is told to: each bad frame ends
//! only the session stream it came on (typed error, counted); the connection and the node
//! carry on, and a new stream is served.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use common::*;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, identify, noise, tcp, yamux};
use mesh_core::wire::{self, MAX_MESSAGE_SIZE, Message, RequestId};
use mesh_protocol::blocks::read_frame;
use tokio::sync::oneshot;

#[derive(NetworkBehaviour)]
struct Raw {
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// A raw peer whose swarm runs in its own task; answers every frame on the node's session
/// stream with `answer`.
struct RawPeer {
    control: libp2p_stream::Control,
    addr: Multiaddr,
    dialled: Option<oneshot::Receiver<PeerId>>,
    dial: tokio::sync::mpsc::Sender<Multiaddr>,
    closed_connections: Arc<AtomicUsize>,
}

impl RawPeer {
    async fn start(answer: Vec<u8>) -> Self {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| Raw {
                identify: identify::Behaviour::new(identify::Config::new(
                    namespace().identify_protocol_version(),
                    key.public(),
                )),
                stream: libp2p_stream::Behaviour::new(),
            })
            .unwrap()
            // Keep the connection between requests: the test checks it survives.
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(std::time::Duration::from_secs(60))
            })
            .build();
        swarm.listen_on(loopback()[0].clone()).unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address.with_p2p(*swarm.local_peer_id()).unwrap();
            }
        };
        let mut control = swarm.behaviour().stream.new_control();
        // The node's requests: each frame read is answered with `answer`.
        let mut incoming = control.accept(namespace().blocks_protocol()).unwrap();
        tokio::spawn(async move {
            while let Some((_, mut stream)) = incoming.next().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    while read_frame(&mut stream, MAX_MESSAGE_SIZE).await.is_ok() {
                        if stream.write_all(&answer).await.is_err() {
                            break;
                        }
                        let _ = stream.flush().await;
                    }
                });
            }
        });
        let closed_connections = Arc::new(AtomicUsize::new(0));
        let closed = closed_connections.clone();
        let (dial, mut dials) = tokio::sync::mpsc::channel::<Multiaddr>(4);
        let (connected, dialled) = oneshot::channel();
        tokio::spawn(async move {
            let mut connected = Some(connected);
            loop {
                tokio::select! {
                    addr = dials.recv() => match addr {
                        None => break,
                        Some(addr) => swarm.dial(addr).unwrap(),
                    },
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                            if let Some(reply) = connected.take() {
                                let _ = reply.send(peer_id);
                            }
                        }
                        SwarmEvent::ConnectionClosed { .. } => {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    },
                }
            }
        });
        Self {
            control,
            addr,
            dialled: Some(dialled),
            dial,
            closed_connections,
        }
    }

    async fn dial(&mut self, addr: Multiaddr) -> PeerId {
        self.dial.send(addr).await.unwrap();
        within("raw dial", self.dialled.take().unwrap())
            .await
            .unwrap()
    }

    /// A new session stream to `peer`.
    async fn open(&mut self, peer: PeerId) -> Stream {
        within(
            "open stream",
            self.control
                .open_stream(peer, namespace().blocks_protocol()),
        )
        .await
        .unwrap()
    }

    /// Writes `bytes` on a new stream and returns what the node sends back on it before it
    /// ends the stream (or within a second, for a node that keeps it open).
    async fn send_raw(&mut self, peer: PeerId, bytes: &[u8]) -> Vec<u8> {
        let mut stream = self.open(peer).await;
        stream.write_all(bytes).await.unwrap();
        stream.flush().await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            stream.read_to_end(&mut out),
        )
        .await;
        out
    }

    /// Sends one request frame on a new stream and reads one answer frame.
    async fn request(&mut self, peer: PeerId, frame: &[u8]) -> Message {
        let mut stream = self.open(peer).await;
        stream.write_all(frame).await.unwrap();
        stream.flush().await.unwrap();
        within("answer", read_frame(&mut stream, MAX_MESSAGE_SIZE))
            .await
            .unwrap()
    }
}

fn frame(message: &Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    wire::encode(message, &mut buf).unwrap();
    buf.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversize_requests_fail_alone() {
    init_tracing();
    let node = start(config(&[])).await;
    let original = data(1000, 5);
    let cid = within("seed", node.handle.add_bytes(original.clone()))
        .await
        .unwrap();
    let mut raw = RawPeer::start(Vec::new()).await;
    let peer = raw.dial(node.addrs[0].clone()).await;

    // A length prefix announcing 1 MiB: far over the 12 KiB request limit.
    let mut oversize = vec![0x80, 0x80, 0x40];
    oversize.extend_from_slice(&[0u8; 100]);
    let answer = raw.send_raw(peer, &oversize).await;
    assert!(answer.is_empty(), "{answer:?}");
    wait(&node, "oversize request counted", |s| {
        s.malformed_requests >= 1
    })
    .await;

    // A well-framed body that is not protobuf, and a valid frame of the wrong kind.
    let _ = raw.send_raw(peer, &[0x03, 0xff, 0xff, 0xff]).await;
    wait(&node, "garbage request counted", |s| {
        s.malformed_requests >= 2
    })
    .await;
    // (A have is a request now, a have-summary; a block is only ever a response.)
    let wrong_kind = frame(&Message::Block {
        id: RequestId(1),
        cid,
        data: original.clone(),
    });
    let _ = raw.send_raw(peer, &wrong_kind).await;
    wait(&node, "wrong-kind request counted", |s| {
        s.malformed_requests >= 3
    })
    .await;

    // The same connection still serves a valid request, on a new stream.
    let valid = frame(&Message::WantBlock {
        id: RequestId(9),
        cids: vec![cid],
    });
    let message = raw.request(peer, &valid).await;
    assert!(
        matches!(&message, Message::Block { id: RequestId(9), data, .. } if *data == original),
        "{message:?}"
    );
    assert_eq!(
        raw.closed_connections.load(Ordering::SeqCst),
        0,
        "the connection was dropped"
    );
    stop([node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversize_responses_fail_alone() {
    init_tracing();
    // Answers every request with a length prefix announcing about 4 GiB.
    let oversize = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    let mut raw = RawPeer::start(oversize).await;
    let node = start(config(&[])).await;
    within("connect to raw peer", node.handle.connect(raw.addr.clone()))
        .await
        .unwrap();
    // Nobody else has it and there is no origin: the fetch must fail, not hang or crash.
    let missing = mesh_core::dag::cid_of(b"only the raw peer is asked");
    let result = within("fetch", node.handle.fetch(missing)).await;
    assert!(result.is_err());
    wait(&node, "oversize response counted", |s| {
        s.malformed_responses >= 1
    })
    .await;

    // The node still works: it serves a block over the same connection.
    let original = data(500, 9);
    let cid = within("seed", node.handle.add_bytes(original.clone()))
        .await
        .unwrap();
    let valid = frame(&Message::WantBlock {
        id: RequestId(2),
        cids: vec![cid],
    });
    let message = raw.request(node.handle.peer_id(), &valid).await;
    assert!(matches!(message, Message::Block { .. }), "{message:?}");
    assert_eq!(
        raw.closed_connections.load(Ordering::SeqCst),
        0,
        "the connection was dropped"
    );
    stop([node]).await;
}
