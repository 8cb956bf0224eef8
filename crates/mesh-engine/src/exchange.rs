//! The block exchange: answering peers' requests, routing answers to the planner.

use bytes::Bytes;
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::Extra;
use mesh_protocol::blocks::{BlockRequest, BlockResponse, ProtocolError, ServeOutcome};

use crate::Engine;

impl<X: Extra> Engine<X> {
    pub(crate) fn on_blocks(
        &mut self,
        now: CoreInstant,
        event: request_response::Event<BlockRequest, BlockResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    let answer = self.server.answer(
                        now,
                        peer,
                        request_id,
                        &request,
                        self.planner.store_mut(),
                    );
                    if let ServeOutcome::Served { bytes } = answer.outcome {
                        self.planner.record_served(bytes);
                    }
                    tracing::debug!(%peer, ?request, outcome = ?answer.outcome, "block request");
                    let response = if self.config.serve_corrupt_blocks_for_testing {
                        corrupt(answer.response)
                    } else {
                        answer.response
                    };
                    if self
                        .swarm
                        .behaviour_mut()
                        .blocks
                        .send_response(channel, response)
                        .is_err()
                    {
                        self.server.finished(request_id);
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(now, peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if is_malformed_outbound(&error) {
                    self.stats.malformed_responses += 1;
                    tracing::warn!(%peer, %error, "malformed block-exchange response");
                } else {
                    tracing::debug!(%peer, %error, "block request failed");
                }
                if let Some(mut out) = self.outbound.remove(&request_id) {
                    if matches!(error, OutboundFailure::ConnectionClosed)
                        && self.swarm.is_connected(&out.peer)
                        && out.resent < crate::MAX_RESENDS
                    {
                        // One of the peer's connections closed (a relayed one, now that a
                        // direct one is up): the peer is still there, ask again.
                        out.resent += 1;
                        let rid = self
                            .swarm
                            .behaviour_mut()
                            .blocks
                            .send_request(&out.peer, out.request.clone());
                        self.outbound.insert(rid, out);
                        return;
                    }
                    // Treated as "does not have": the planner asks elsewhere at once.
                    for cid in out.cids {
                        self.planner.handle_dont_have(now, out.peer, cid);
                    }
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                // Requests that fail to decode never get here (request-response only logs
                // them); the codec counts those.
                tracing::debug!(%peer, %error, "inbound block request failed");
                self.server.finished(request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.server.finished(request_id);
            }
        }
    }

    fn on_response(
        &mut self,
        now: CoreInstant,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: BlockResponse,
    ) {
        let Some(out) = self.outbound.remove(&request_id) else {
            return;
        };
        match response {
            BlockResponse::Block { data, .. } if out.want_block => {
                // Judged against the CID we asked for, whatever CID the peer claims: a block
                // under another name is as wrong as a flipped byte.
                for cid in out.cids {
                    self.planner.handle_block(now, peer, cid, data.clone());
                }
            }
            BlockResponse::Have { cids, .. } if !out.want_block => {
                for cid in out.cids {
                    if cids.contains(&cid) {
                        self.planner.handle_have(now, peer, cid);
                    } else {
                        self.planner.handle_dont_have(now, peer, cid);
                    }
                }
            }
            BlockResponse::DontHave { .. } => {
                for cid in out.cids {
                    self.planner.handle_dont_have(now, peer, cid);
                }
            }
            other => {
                self.stats.malformed_responses += 1;
                tracing::warn!(%peer, response = ?other, "response does not fit the request");
                for cid in out.cids {
                    self.planner.handle_dont_have(now, peer, cid);
                }
            }
        }
    }
}

/// **Testing only**: the response with its block's first byte flipped.
fn corrupt(response: BlockResponse) -> BlockResponse {
    match response {
        BlockResponse::Block { id, cid, data } => {
            let mut bytes = data.to_vec();
            match bytes.first_mut() {
                Some(first) => *first ^= 0xff,
                None => bytes.push(0),
            }
            BlockResponse::Block {
                id,
                cid,
                data: Bytes::from(bytes),
            }
        }
        other => other,
    }
}

fn is_malformed_outbound(error: &OutboundFailure) -> bool {
    matches!(error, OutboundFailure::Io(e) if is_protocol_error(e))
}

fn is_protocol_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::InvalidData
        && e.get_ref()
            .is_some_and(|inner| inner.downcast_ref::<ProtocolError>().is_some())
}
