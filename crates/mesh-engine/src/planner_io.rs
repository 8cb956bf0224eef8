//! Carrying out the planner's actions and turning its events into outputs.

use libp2p::PeerId;
use libp2p::swarm::DialError;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use mesh_core::fetch::{Action, BlockSource, Event as PlanEvent, Output as PlanOutput, Penalty};
use mesh_core::time::Instant as CoreInstant;
use mesh_protocol::Extra;
use mesh_protocol::blocks::{BlockRequest, MAX_WANT_HAVE_CIDS};

use crate::{Engine, FetchReport, MAX_OUTPUTS_PER_TURN, Outbound, Output};

impl<X: Extra> Engine<X> {
    /// Carries out the planner's actions and reads its events in the order the planner emitted
    /// them, bounded per call. That order is what the shell sees: a block's source is recorded
    /// before the `Deliver` it made possible, `Completed` comes after the fetch's last
    /// `Deliver`.
    pub(crate) fn drain_planner(&mut self) {
        for _ in 0..MAX_OUTPUTS_PER_TURN {
            match self.planner.poll_output() {
                Some(PlanOutput::Action(action)) => self.carry_out(action),
                Some(PlanOutput::Event(event)) => self.on_planner_event(event),
                None => {
                    self.more_work = false;
                    return;
                }
            }
        }
        self.more_work = true;
    }

    fn carry_out(&mut self, action: Action<PeerId>) {
        match action {
            Action::FindProviders { cid } => {
                let query = self.swarm.behaviour_mut().routing.get_providers(&cid);
                self.provider_queries.insert(query, cid);
                self.stats.provider_lookups += 1;
            }
            Action::Connect { peer } => self.dial_provider(peer),
            Action::SendWantHave { peer, id, cids } => {
                for chunk in cids.chunks(MAX_WANT_HAVE_CIDS) {
                    let cids = chunk.to_vec();
                    let request = BlockRequest::WantHave {
                        id,
                        cids: cids.clone(),
                    };
                    self.send_block_request(peer, request, false, cids);
                }
            }
            Action::SendWantBlock { peer, id, cids } => {
                for cid in cids {
                    let request = BlockRequest::WantBlock { id, cid };
                    self.send_block_request(peer, request, true, vec![cid]);
                }
            }
            // A sent want-block cannot be recalled: the cancel is a notice behind it, and the
            // server drops what it has not started sending. A late answer is ignored by the
            // planner (and still verified if it is a block).
            Action::SendCancel { peer, cids } => self.send_cancel(peer, &cids),
            Action::OriginFetch(request) => {
                self.fetches.origin_started(request.request, request.fetch);
                self.outputs.push_back(Output::OriginFetch(request));
            }
            Action::CancelOrigin(cancel) => {
                self.fetches.origin_ended(cancel.request);
                self.outputs.push_back(Output::CancelOrigin(cancel));
            }
            Action::Deliver(deliver) => self.outputs.push_back(Output::Deliver(deliver)),
            // Kept (and persisted) either way; announced only by a node that serves.
            Action::Announce { cid } => self.cached(cid),
            other => tracing::debug!(?other, "unhandled planner action"),
        }
    }

    /// Sends one block-exchange request and remembers what it asked, to route the answer.
    pub(crate) fn send_block_request(
        &mut self,
        peer: PeerId,
        request: BlockRequest,
        want_block: bool,
        cids: Vec<cid::Cid>,
    ) {
        let rid = self
            .swarm
            .behaviour_mut()
            .blocks
            .send_request(&peer, request.clone());
        self.sent += 1;
        self.outbound.insert(
            rid,
            Outbound {
                peer,
                want_block,
                cids,
                request,
                resent: 0,
                sent: self.sent,
            },
        );
    }

    fn dial_provider(&mut self, peer: PeerId) {
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dialling.insert(peer);
            }
            Err(DialError::DialPeerConditionFalse(_)) => {}
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cannot dial provider");
                // The planner needs no clock for this; its timers are unaffected.
                self.planner.handle_peer_disconnected(self.last_now, peer);
            }
        }
    }

    fn on_planner_event(&mut self, event: PlanEvent<PeerId>) {
        match event {
            PlanEvent::BlockAccepted {
                fetch, from, bytes, ..
            } => {
                let peer = match from {
                    BlockSource::Peer(peer) => Some(peer),
                    _ => None,
                };
                self.fetches.accepted(fetch, from.source(), peer, bytes);
            }
            PlanEvent::Completed {
                fetch,
                cid,
                summary,
            } => {
                tracing::info!(%cid, size = summary.size, source = summary.source_label(),
                    bytes_peer = summary.bytes_peer, bytes_origin = summary.bytes_origin,
                    "fetch completed");
                // The entry stays until the shell took this output: the `Deliver`s before it
                // still ask for the fetch's sources.
                let (peers, sources) = self
                    .fetches
                    .get(fetch)
                    .map(|f| (f.peers.clone(), f.sources))
                    .unwrap_or_default();
                self.outputs.push_back(Output::Completed {
                    fetch,
                    cid,
                    report: FetchReport {
                        summary,
                        peers,
                        sources,
                    },
                });
            }
            PlanEvent::Failed { fetch, error } => {
                tracing::warn!(%error, "fetch failed");
                self.outputs.push_back(Output::Failed { fetch, error });
            }
            PlanEvent::Cancelled { fetch } => {
                self.outputs.push_back(Output::Cancelled { fetch });
            }
            PlanEvent::PeerPenalized {
                peer,
                penalty,
                score,
            } => {
                if let Penalty::Corrupt(e) = &penalty {
                    self.stats.corrupt_blocks_received += 1;
                    tracing::warn!(%peer, error = %e, score, "peer sent a block that failed verification");
                } else {
                    tracing::debug!(%peer, ?penalty, score, "peer penalised");
                }
            }
            PlanEvent::PeerIgnored { peer } => {
                tracing::warn!(%peer, "peer ignored from now on for sending bad data");
                if !self.stats.ignored_peers.contains(&peer) {
                    self.stats.ignored_peers.push(peer);
                }
            }
            PlanEvent::Fallback { fetch, reason } => {
                tracing::info!(fetch = fetch.0, ?reason, "falling back to the origin");
            }
            other => tracing::trace!(?other, "planner event"),
        }
    }

    /// Remembers the latest time a caller gave, for planner calls made from inside the
    /// engine (a failed dial while carrying out an action).
    pub(crate) fn tick(&mut self, now: CoreInstant) {
        self.last_now = self.last_now.max(now);
    }
}
