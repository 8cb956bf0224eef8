//! One connection's half of the block-exchange session: our request stream (we write requests
//! and read answers, matched by id) and the peer's request streams (we read requests and write
//! answers in whatever order they are ready).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncReadExt, FutureExt};
use futures_timer::Delay;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    ConnectionHandler, ConnectionHandlerEvent, StreamUpgradeError, SubstreamProtocol,
};
use libp2p::{Stream, StreamProtocol};
use mesh_core::wire::{BlockRequest, BlockResponse, MAX_MESSAGE_SIZE, MAX_REQUEST_SIZE, RequestId};
use web_time::Instant;

use super::frames::{FrameReader, FrameWriter};
use super::{InboundFailure, InboundRequestId, OutboundFailure, OutboundRequestId};
use crate::blocks::BlockCodec;

/// Streams a peer may have open to us on one connection: its session, and a replacement it
/// opened after its old one failed, while ours has not noticed yet.
const MAX_INBOUND_STREAMS: usize = 4;

/// From the behaviour.
#[derive(Debug)]
pub enum HandlerIn {
    /// Send a request.
    Request {
        /// Its id (also its id on the wire).
        id: OutboundRequestId,
        /// The request.
        request: BlockRequest,
    },
    /// Answer a request of the peer.
    Respond {
        /// The request answered.
        id: InboundRequestId,
        /// The answer.
        response: BlockResponse,
    },
}

/// To the behaviour.
#[derive(Debug)]
pub enum HandlerOut {
    /// The peer asked something.
    Request {
        /// Its id here.
        id: InboundRequestId,
        /// The request.
        request: BlockRequest,
    },
    /// An answer to one of ours.
    Response {
        /// The request answered.
        id: OutboundRequestId,
        /// The answer.
        response: BlockResponse,
    },
    /// One of ours got no answer.
    OutboundFailed {
        /// The request.
        id: OutboundRequestId,
        /// Why.
        error: OutboundFailure,
    },
    /// An answer went out (or a notice needed none).
    ResponseSent {
        /// The request answered.
        id: InboundRequestId,
    },
    /// An answer could not be sent.
    InboundFailed {
        /// The request.
        id: InboundRequestId,
        /// Why.
        error: InboundFailure,
    },
}

/// Settings the behaviour hands each connection.
#[derive(Debug, Clone)]
pub(super) struct HandlerConfig {
    pub(super) protocol: StreamProtocol,
    pub(super) codec: BlockCodec,
    pub(super) request_timeout: Duration,
    /// Requests of the peer read but not answered yet, at most; past it we stop reading its
    /// stream (back-pressure instead of an unbounded queue).
    pub(super) max_pending_inbound: usize,
    pub(super) next_inbound: Arc<AtomicU64>,
}

/// Our request stream.
enum Ours {
    /// None open; the next request opens one.
    Idle,
    /// Asked the connection for a stream.
    Opening,
    Open {
        reader: FrameReader<BlockResponse>,
        writer: FrameWriter<()>,
    },
    /// The peer does not speak the protocol on this connection.
    Unsupported,
}

/// A request stream the peer opened.
struct Theirs {
    /// Names the stream in `pending_inbound` (indices shift as streams end).
    key: u64,
    /// `None` once the peer ended it (its pending requests are still answered).
    reader: Option<FrameReader<BlockRequest>>,
    writer: FrameWriter<InboundRequestId>,
}

/// The connection handler of [`super::Behaviour`].
pub struct Handler {
    config: HandlerConfig,
    ours: Ours,
    /// Requests waiting for our stream.
    queued: VecDeque<(OutboundRequestId, BlockRequest)>,
    /// Requests sent and not answered, by wire id.
    awaiting: HashMap<RequestId, OutboundRequestId>,
    /// When each sent request times out, in sending order (so in deadline order).
    deadlines: VecDeque<(RequestId, Instant)>,
    timer: Option<Delay>,
    theirs: Vec<Theirs>,
    /// The peer's requests read and not answered: the stream to answer on (its key in
    /// `theirs`) and the wire id to echo (`None` for a notice, which has no answer).
    pending_inbound: HashMap<InboundRequestId, (u64, Option<RequestId>)>,
    next_key: u64,
    events: VecDeque<HandlerOut>,
}

impl Handler {
    pub(super) fn new(config: HandlerConfig) -> Self {
        Self {
            config,
            ours: Ours::Idle,
            queued: VecDeque::new(),
            awaiting: HashMap::new(),
            deadlines: VecDeque::new(),
            timer: None,
            theirs: Vec::new(),
            pending_inbound: HashMap::new(),
            next_key: 0,
            events: VecDeque::new(),
        }
    }

    fn fail_queued(&mut self, error: impl Fn() -> OutboundFailure) {
        for (id, _) in self.queued.drain(..) {
            self.events
                .push_back(HandlerOut::OutboundFailed { id, error: error() });
        }
    }

    /// Our stream failed: everything sent on it fails with `error`; a later request opens a
    /// new stream.
    fn fail_ours(&mut self, error: &io::Error) {
        self.ours = Ours::Idle;
        self.deadlines.clear();
        self.timer = None;
        for (_, id) in self.awaiting.drain() {
            self.events.push_back(HandlerOut::OutboundFailed {
                id,
                error: OutboundFailure::Io(copy_io_error(error)),
            });
        }
    }

    fn on_response(&mut self, response: BlockResponse) {
        match self.awaiting.remove(&response.id()) {
            Some(id) => self.events.push_back(HandlerOut::Response { id, response }),
            // An answer that came after its request timed out.
            None => tracing::debug!(id = %response.id(), "answer to no open request"),
        }
    }

    fn poll_ours(&mut self, cx: &mut Context<'_>) {
        let Ours::Open { writer, .. } = &mut self.ours else {
            return;
        };
        let deadline =
            (!self.queued.is_empty()).then(|| Instant::now() + self.config.request_timeout);
        while let Some((id, request)) = self.queued.pop_front() {
            let wire = RequestId(id.0);
            let request = request.with_id(wire);
            if let Err(e) = writer.push(&request.to_message(), ()) {
                self.events.push_back(HandlerOut::OutboundFailed {
                    id,
                    error: OutboundFailure::Io(e),
                });
                continue;
            }
            // Notices are not answered.
            if let Some(deadline) = deadline.filter(|_| !request.is_notice()) {
                self.awaiting.insert(wire, id);
                self.deadlines.push_back((wire, deadline));
            }
        }
        if let Poll::Ready(Err(e)) = writer.poll_flushed(cx) {
            self.fail_ours(&e);
            return;
        }
        loop {
            let Ours::Open { reader, .. } = &mut self.ours else {
                return;
            };
            match reader.poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(response)) => self.on_response(response),
                Poll::Ready(Err(e)) => {
                    self.fail_ours(&e);
                    return;
                }
            }
        }
    }

    fn poll_deadlines(&mut self, cx: &mut Context<'_>) {
        loop {
            while let Some((wire, _)) = self.deadlines.front() {
                if self.awaiting.contains_key(wire) {
                    break;
                }
                self.deadlines.pop_front();
            }
            let Some(&(wire, deadline)) = self.deadlines.front() else {
                self.timer = None;
                return;
            };
            let now = Instant::now();
            if deadline <= now {
                self.deadlines.pop_front();
                self.timer = None;
                if let Some(id) = self.awaiting.remove(&wire) {
                    self.events.push_back(HandlerOut::OutboundFailed {
                        id,
                        error: OutboundFailure::Timeout,
                    });
                }
                continue;
            }
            let timer = self
                .timer
                .get_or_insert_with(|| Delay::new(deadline.saturating_duration_since(now)));
            if timer.poll_unpin(cx).is_pending() {
                return;
            }
            self.timer = None;
        }
    }

    fn poll_theirs(&mut self, cx: &mut Context<'_>) {
        let mut i = 0;
        while i < self.theirs.len() {
            let stream = &mut self.theirs[i];
            let key = stream.key;
            let mut failed = None;
            loop {
                match stream.writer.poll_flushed(cx) {
                    Poll::Ready(Ok(ids)) => {
                        for id in ids {
                            self.pending_inbound.remove(&id);
                            self.events.push_back(HandlerOut::ResponseSent { id });
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        failed = Some(e);
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            while failed.is_none() && self.pending_inbound.len() < self.config.max_pending_inbound {
                let Some(reader) = stream.reader.as_mut() else {
                    break;
                };
                match reader.poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Ok(request)) => {
                        let id = InboundRequestId(
                            self.config.next_inbound.fetch_add(1, Ordering::Relaxed),
                        );
                        let wire = (!request.is_notice()).then(|| request.id());
                        self.pending_inbound.insert(id, (key, wire));
                        self.events.push_back(HandlerOut::Request { id, request });
                    }
                    // The peer ended its stream, or sent a malformed frame (the codec counted
                    // it): we read no more of it; the peer's next request opens another.
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "block-exchange request stream ended");
                        stream.reader = None;
                    }
                }
            }
            let unanswered = self.pending_inbound.values().any(|(k, _)| *k == key);
            if let Some(e) = failed {
                // The answers on this stream cannot be sent any more.
                let ids: Vec<InboundRequestId> = self
                    .pending_inbound
                    .iter()
                    .filter(|(_, (k, _))| *k == key)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.pending_inbound.remove(&id);
                    self.events.push_back(HandlerOut::InboundFailed {
                        id,
                        error: InboundFailure::Io(copy_io_error(&e)),
                    });
                }
                self.theirs.remove(i);
                continue;
            }
            let stream = &self.theirs[i];
            if stream.reader.is_none() && !unanswered && !stream.writer.is_busy() {
                self.theirs.remove(i);
                continue;
            }
            i += 1;
        }
    }

    fn respond(&mut self, id: InboundRequestId, response: BlockResponse) {
        let Some(&(key, wire)) = self.pending_inbound.get(&id) else {
            self.events.push_back(HandlerOut::InboundFailed {
                id,
                error: InboundFailure::ConnectionClosed,
            });
            return;
        };
        let Some(wire) = wire else {
            // A notice: nothing goes on the wire.
            self.pending_inbound.remove(&id);
            self.events.push_back(HandlerOut::ResponseSent { id });
            return;
        };
        let Some(i) = self.theirs.iter().position(|t| t.key == key) else {
            self.pending_inbound.remove(&id);
            self.events.push_back(HandlerOut::InboundFailed {
                id,
                error: InboundFailure::ConnectionClosed,
            });
            return;
        };
        let message = response.with_id(wire).to_message();
        if let Err(e) = self.theirs[i].writer.push(&message, id) {
            self.pending_inbound.remove(&id);
            self.events.push_back(HandlerOut::InboundFailed {
                id,
                error: InboundFailure::Io(e),
            });
        }
    }
}

/// `io::Error` is not `Clone`; each failed request gets its own copy, keeping the kind and a
/// [`mesh_core::wire::ProtocolError`] inside (what marks a malformed answer).
fn copy_io_error(e: &io::Error) -> io::Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<mesh_core::wire::ProtocolError>())
    {
        Some(protocol) => io::Error::new(e.kind(), protocol.clone()),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(self.config.protocol.clone()), ())
    }

    fn on_behaviour_event(&mut self, event: HandlerIn) {
        match event {
            HandlerIn::Request { id, request } => {
                if matches!(self.ours, Ours::Unsupported) {
                    self.events.push_back(HandlerOut::OutboundFailed {
                        id,
                        error: OutboundFailure::UnsupportedProtocol,
                    });
                } else {
                    self.queued.push_back((id, request));
                }
            }
            HandlerIn::Respond { id, response } => self.respond(id, response),
        }
    }

    /// Alive while anything is under way; the streams themselves do not keep the connection
    /// (they stay open for the connection's life).
    fn connection_keep_alive(&self) -> bool {
        !self.queued.is_empty()
            || !self.awaiting.is_empty()
            || !self.pending_inbound.is_empty()
            || self.theirs.iter().any(|t| t.writer.is_busy())
            || matches!(&self.ours, Ours::Open { writer, .. } if writer.is_busy())
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if self.events.is_empty() {
            self.poll_ours(cx);
            self.poll_deadlines(cx);
            self.poll_theirs(cx);
        }
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        if matches!(self.ours, Ours::Idle) && !self.queued.is_empty() {
            self.ours = Ours::Opening;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(
                    ReadyUpgrade::new(self.config.protocol.clone()),
                    (),
                ),
            });
        }
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                ..
            }) => {
                let (reader, writer) = split(stream);
                self.ours = Ours::Open {
                    reader: FrameReader::responses(reader, self.config.codec.clone()),
                    writer: FrameWriter::new(writer, MAX_REQUEST_SIZE),
                };
            }
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                if self.theirs.len() >= MAX_INBOUND_STREAMS {
                    tracing::debug!("peer opened too many block-exchange streams; dropped one");
                    return;
                }
                let (reader, writer) = split(stream);
                self.theirs.push(Theirs {
                    key: self.next_key,
                    reader: Some(FrameReader::requests(reader, self.config.codec.clone())),
                    writer: FrameWriter::new(writer, MAX_MESSAGE_SIZE),
                });
                self.next_key += 1;
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => match error {
                StreamUpgradeError::NegotiationFailed => {
                    self.ours = Ours::Unsupported;
                    self.fail_queued(|| OutboundFailure::UnsupportedProtocol);
                }
                StreamUpgradeError::Timeout => {
                    self.ours = Ours::Idle;
                    self.fail_queued(|| OutboundFailure::Timeout);
                }
                StreamUpgradeError::Io(e) => {
                    self.ours = Ours::Idle;
                    self.fail_queued(|| OutboundFailure::Io(copy_io_error(&e)));
                }
                StreamUpgradeError::Apply(never) => match never {},
            },
            _ => {}
        }
    }
}

/// The stream, opted out of keeping the connection alive, in halves.
fn split(
    mut stream: Stream,
) -> (
    futures::io::ReadHalf<Stream>,
    futures::io::WriteHalf<Stream>,
) {
    stream.ignore_for_keep_alive();
    stream.split()
}
