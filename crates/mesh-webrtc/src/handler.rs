//! Per-connection handler: accepts and opens `/webrtc-signaling/0.0.1` streams. Public only
//! because [`crate::Behaviour`] names it; nothing here is meant to be used directly.

use std::{
    collections::VecDeque,
    task::{Context, Poll},
};

use libp2p::{
    Stream, StreamProtocol,
    core::upgrade::ReadyUpgrade,
    swarm::{
        ConnectionHandler, ConnectionHandlerEvent, SubstreamProtocol,
        handler::{
            ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        },
    },
};

/// The signaling protocol id (spec).
pub const SIGNALING_PROTOCOL: StreamProtocol = StreamProtocol::new("/webrtc-signaling/0.0.1");

/// Identifies one request for an outbound signaling stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub(crate) u64);

/// Behaviour → handler.
#[derive(Debug)]
pub enum Command {
    /// Open a signaling stream for this request.
    Open(RequestId),
}

/// Handler → behaviour.
#[derive(Debug)]
pub enum HandlerEvent {
    /// The remote opened a signaling stream.
    Inbound(Stream),
    /// Our signaling stream for this request is open.
    Outbound(RequestId, Stream),
    /// Opening it failed.
    OutboundFailed(RequestId, String),
}

/// Opens and accepts signaling streams on one connection. Streams keep the connection alive
/// themselves, so the handler only does while a request is outstanding.
#[derive(Debug, Default)]
pub struct Handler {
    to_open: VecDeque<RequestId>,
    opening: usize,
    events: VecDeque<HandlerEvent>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Command;
    type ToBehaviour = HandlerEvent;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = RequestId;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, ()> {
        SubstreamProtocol::new(ReadyUpgrade::new(SIGNALING_PROTOCOL), ())
    }

    fn connection_keep_alive(&self) -> bool {
        !self.to_open.is_empty() || self.opening > 0
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, RequestId, HandlerEvent>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        if let Some(id) = self.to_open.pop_front() {
            self.opening += 1;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(SIGNALING_PROTOCOL), id),
            });
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, Command::Open(id): Command) {
        self.to_open.push_back(id);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<'_, Self::InboundProtocol, Self::OutboundProtocol, (), RequestId>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => {
                self.events.push_back(HandlerEvent::Inbound(protocol));
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol,
                info,
            }) => {
                self.opening = self.opening.saturating_sub(1);
                self.events
                    .push_back(HandlerEvent::Outbound(info, protocol));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info, error }) => {
                self.opening = self.opening.saturating_sub(1);
                self.events
                    .push_back(HandlerEvent::OutboundFailed(info, error.to_string()));
            }
            _ => {}
        }
    }
}
