//! The block exchange: answering peers' requests (want-blocks beyond the server's send window
//! are kept, so a cancel can drop them unsent), routing answers to the planner.

use bytes::Bytes;
use libp2p::PeerId;
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::Extra;
use mesh_protocol::blocks::session::{self, Message, OutboundFailure};
use mesh_protocol::blocks::{Admission, BlockRequest, BlockResponse, ProtocolError, ServeOutcome};
use mesh_protocol::blocks::{InboundRequestId, OutboundRequestId, ResponseChannel};

use crate::Engine;

impl<X: Extra> Engine<X> {
    pub(crate) fn on_blocks(&mut self, now: CoreInstant, event: session::Event) {
        match event {
            session::Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    if request.is_notice() {
                        self.on_notice(now, peer, &request);
                    }
                    match self.server.admit(&peer, request_id, &request) {
                        Admission::Now => self.respond(now, peer, request_id, request, channel),
                        Admission::Later => {
                            self.kept.insert(request_id, (peer, request, channel));
                        }
                    }
                }
                Message::Response {
                    request_id,
                    response,
                } => self.on_response(now, peer, request_id, response),
            },
            session::Event::OutboundFailure {
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
            session::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                // Requests that fail to decode never get here (the stream they came on ends);
                // the codec counts those.
                tracing::debug!(%peer, %error, "inbound block request failed");
                self.kept.remove(&request_id);
                self.finished(now, request_id);
            }
            session::Event::ResponseSent { request_id, .. } => {
                self.finished(now, request_id);
            }
        }
    }

    /// Answers a request from the store and sends the answer.
    fn respond(
        &mut self,
        now: CoreInstant,
        peer: PeerId,
        request_id: InboundRequestId,
        request: BlockRequest,
        channel: ResponseChannel,
    ) {
        let answer = self
            .server
            .answer(now, peer, request_id, &request, self.planner.store_mut());
        match answer.outcome {
            ServeOutcome::Served { bytes } => self.planner.record_served(bytes),
            // Roots whose blocks left the store are withdrawn through the store's drop log.
            ServeOutcome::NotHeld | ServeOutcome::Had { .. } => self.collect_dropped(),
            _ => {}
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
            self.finished(now, request_id);
        }
    }

    /// A response went out or failed: its send slot goes to the next kept want-block.
    fn finished(&mut self, now: CoreInstant, request_id: InboundRequestId) {
        self.server.finished(request_id);
        // Bounded: each turn answers (and so removes) one kept request.
        while let Some(next) = self.server.poll_admitted() {
            if let Some((peer, request, channel)) = self.kept.remove(&next) {
                self.respond(now, peer, next, request, channel);
            }
        }
    }

    /// `peer` cancelled want-blocks: the kept ones are answered don't-have, unsent.
    pub(crate) fn cancel_kept(&mut self, peer: PeerId, cids: &[cid::Cid]) {
        for rid in self.server.cancel(&peer, cids) {
            let Some((_, request, channel)) = self.kept.remove(&rid) else {
                continue;
            };
            let response = BlockResponse::DontHave {
                id: request.id(),
                cids: request.cids().to_vec(),
            };
            // A failure needs no bookkeeping: the server forgot the request already.
            let _ = self
                .swarm
                .behaviour_mut()
                .blocks
                .send_response(channel, response);
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
                for cid in &out.cids {
                    self.cancelled.remove(&(peer, *cid));
                }
                self.received_block(now, peer, out.cids, data);
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
            BlockResponse::DontHave { .. } if out.want_block => {
                // The server answers a want-block it dropped for our cancel with don't-have,
                // and a cancel can overtake a newer want-block of the same block when the two
                // went over different connections (a relayed one, then the direct one) and
                // drop that one too: neither means the peer lacks it.
                for cid in out.cids {
                    match self.cancelled.get(&(peer, cid)).copied() {
                        None => self.planner.handle_dont_have(now, peer, cid),
                        Some(cancel) if out.sent > cancel => {
                            // Asked again after the cancel: ask once more.
                            self.cancelled.remove(&(peer, cid));
                            self.send_block_request(peer, out.request.clone(), true, vec![cid]);
                        }
                        Some(_) => {} // the cancelled request itself
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
