//! Oversize and malformed block-exchange frames, in both directions, from a raw libp2p peer
//! that speaks the protocol id but writes whatever bytes it is told to: each bad frame fails
//! only its own request (typed error, counted), the connection and the node carry on.
#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use common::*;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, noise, request_response, tcp, yamux};
use mesh_core::wire::{self, Message, RequestId};
use tokio::sync::{mpsc, oneshot};

/// Largest raw response read (a block frame is a little over 1 MiB).
const RAW_CAP: u64 = 2 << 20;

/// Writes and reads raw bytes under the block-exchange protocol id.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_all(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_all(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&bytes).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&bytes).await
    }
}

async fn read_all<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io.take(RAW_CAP).read_to_end(&mut out).await?;
    Ok(out)
}

#[derive(NetworkBehaviour)]
struct Raw {
    identify: identify::Behaviour,
    rr: request_response::Behaviour<RawCodec>,
}

enum RawCommand {
    Dial(Multiaddr, oneshot::Sender<PeerId>),
    Request(PeerId, Vec<u8>, oneshot::Sender<Result<Vec<u8>, String>>),
}

/// A raw peer running in its own task; answers every request with `answer`.
struct RawPeer {
    commands: mpsc::Sender<RawCommand>,
    addr: Multiaddr,
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
                rr: request_response::Behaviour::with_codec(
                    RawCodec,
                    [(
                        namespace().blocks_protocol(),
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default(),
                ),
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
        let closed_connections = Arc::new(AtomicUsize::new(0));
        let closed = closed_connections.clone();
        let (commands, mut rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut dials: Vec<oneshot::Sender<PeerId>> = Vec::new();
            let mut waiting = std::collections::HashMap::new();
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        None => break,
                        Some(RawCommand::Dial(addr, reply)) => {
                            swarm.dial(addr).unwrap();
                            dials.push(reply);
                        }
                        Some(RawCommand::Request(peer, bytes, reply)) => {
                            let id = swarm.behaviour_mut().rr.send_request(&peer, bytes);
                            waiting.insert(id, reply);
                        }
                    },
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                            for reply in dials.drain(..) {
                                let _ = reply.send(peer_id);
                            }
                        }
                        SwarmEvent::ConnectionClosed { .. } => {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                        SwarmEvent::Behaviour(RawEvent::Rr(request_response::Event::Message { message, .. })) => match message {
                            request_response::Message::Request { channel, .. } => {
                                let _ = swarm.behaviour_mut().rr.send_response(channel, answer.clone());
                            }
                            request_response::Message::Response { request_id, response } => {
                                if let Some(reply) = waiting.remove(&request_id) {
                                    let _ = reply.send(Ok(response));
                                }
                            }
                        },
                        SwarmEvent::Behaviour(RawEvent::Rr(request_response::Event::OutboundFailure { request_id, error, .. })) => {
                            if let Some(reply) = waiting.remove(&request_id) {
                                let _ = reply.send(Err(error.to_string()));
                            }
                        }
                        _ => {}
                    },
                }
            }
        });
        Self {
            commands,
            addr,
            closed_connections,
        }
    }

    async fn dial(&self, addr: Multiaddr) -> PeerId {
        let (reply, peer) = oneshot::channel();
        self.commands
            .send(RawCommand::Dial(addr, reply))
            .await
            .unwrap();
        within("raw dial", peer).await.unwrap()
    }

    async fn request(&self, peer: PeerId, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(RawCommand::Request(peer, bytes, reply))
            .await
            .unwrap();
        within("raw request", answer).await.unwrap()
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
    let raw = RawPeer::start(Vec::new()).await;
    let peer = raw.dial(node.addrs[0].clone()).await;

    // A length prefix announcing 1 MiB: far over the 12 KiB request limit.
    let mut oversize = vec![0x80, 0x80, 0x40];
    oversize.extend_from_slice(&[0u8; 100]);
    let answer = raw.request(peer, oversize).await;
    assert!(
        matches!(&answer, Ok(bytes) if bytes.is_empty()) || answer.is_err(),
        "{answer:?}"
    );
    wait(&node, "oversize request counted", |s| {
        s.malformed_requests >= 1
    })
    .await;

    // A well-framed body that is not protobuf, and a valid frame of the wrong kind.
    let _ = raw.request(peer, vec![0x03, 0xff, 0xff, 0xff]).await;
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
    let _ = raw.request(peer, wrong_kind).await;
    wait(&node, "wrong-kind request counted", |s| {
        s.malformed_requests >= 3
    })
    .await;

    // The same connection still serves a valid request.
    let valid = frame(&Message::WantBlock {
        id: RequestId(9),
        cids: vec![cid],
    });
    let response = raw.request(peer, valid).await.unwrap();
    let mut buf = BytesMut::from(&response[..]);
    let message = wire::decode(&mut buf).unwrap().unwrap();
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
    let raw = RawPeer::start(oversize).await;
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
    let response = raw.request(node.handle.peer_id(), valid).await.unwrap();
    let message = wire::decode(&mut BytesMut::from(&response[..]))
        .unwrap()
        .unwrap();
    assert!(matches!(message, Message::Block { .. }), "{message:?}");
    assert_eq!(
        raw.closed_connections.load(Ordering::SeqCst),
        0,
        "the connection was dropped"
    );
    stop([node]).await;
}
