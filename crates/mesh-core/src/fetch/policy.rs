//! Choosing sources: scheduling want-blocks and origin requests, penalties, stalls, slow
//! peers and the fallback to the origin.

use std::collections::BTreeSet;

use cid::Cid;

use crate::fetch::asset::MAX_REDISCOVERIES;
use crate::small::{SmallMap, SmallSet};

use super::*;

impl<P: PeerKey, S: BlockStore> Planner<P, S> {
    /// A peer sent bad data for `cid`: penalise, exclude, ask elsewhere.
    pub(super) fn corrupt(
        &mut self,
        now: Instant,
        peer: &P,
        cid: Cid,
        wanting: &[FetchId],
        error: LayoutError,
    ) {
        self.penalize(peer, Penalty::Corrupt(error), self.config.corrupt_penalty);
        for id in wanting {
            if let Some(f) = self.fetches.get_mut(id) {
                f.exclude(cid, peer.clone());
            }
        }
        self.replan_all(now);
    }

    pub(super) fn penalize(&mut self, peer: &P, penalty: Penalty, amount: i32) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        let score = state.adjust_score(-amount, self.config.max_score);
        self.outputs.push_back(Output::Event(Event::PeerPenalized {
            peer: peer.clone(),
            penalty: penalty.clone(),
            score,
        }));
        // Only bad data gets a peer ignored: slowness is a reason to prefer others, not to
        // refuse a source that may be the last one.
        let lied = matches!(penalty, Penalty::Corrupt(_));
        if lied && score <= self.config.ignore_threshold && !state.ignored {
            state.ignored = true;
            self.outputs
                .push_back(Output::Event(Event::PeerIgnored { peer: peer.clone() }));
            for f in self.fetches.values_mut() {
                f.holders.remove(peer);
                f.pending_providers.remove(peer);
                f.unanswered.remove(peer);
            }
            self.take_back(peer, None, ReassignReason::Ignored);
        }
    }

    /// Removes blocks (all, or `only`) from a peer's outstanding requests, tells it, and reports
    /// them per fetch. Returns what was taken per fetch.
    pub(super) fn take_back(
        &mut self,
        peer: &P,
        only: Option<&[Cid]>,
        reason: ReassignReason,
    ) -> SmallMap<FetchId, Vec<Cid>> {
        let mut lost: SmallMap<FetchId, Vec<Cid>> = SmallMap::new();
        let Some(state) = self.peers.get_mut(peer) else {
            return lost;
        };
        let taken: Vec<Cid> = state
            .in_flight
            .keys()
            .filter(|c| only.is_none_or(|o| o.contains(c)))
            .copied()
            .collect();
        for cid in &taken {
            if let Some(flight) = state.in_flight.remove(cid) {
                lost.entry(flight.fetch).or_default().push(*cid);
            }
        }
        if !taken.is_empty() {
            self.slots_freed.insert(peer.clone());
        }
        if !taken.is_empty() && state.connected && reason != ReassignReason::DontHave {
            self.outputs.push_back(Output::Action(Action::SendCancel {
                peer: peer.clone(),
                cids: taken,
            }));
        }
        for (id, cids) in &lost {
            self.outputs.push_back(Output::Event(Event::Reassigned {
                fetch: *id,
                peer: peer.clone(),
                cids: cids.clone(),
                reason,
            }));
        }
        lost
    }

    /// A peer delivered nothing for its stall patience. Its blocks go to another source where
    /// there is one; where it is the only source its requests stand and its clock restarts,
    /// since re-asking it would only queue the same blocks again. After [`MAX_STALL_STRIKES`]
    /// stalls without a single block in between it counts as dead for what it was asked. Every
    /// stall demotes it for every asset ([`super::peers::Demotion`]).
    pub(super) fn stalled(&mut self, now: Instant, peer: &P) {
        self.penalize(peer, Penalty::Stalled, self.config.stall_penalty);
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        state.stall_strikes += 1;
        state.last_progress = now;
        self.demote_peer(now, peer);
        let Some(state) = self.peers.get(peer) else {
            return;
        };
        if state.stall_strikes >= MAX_STALL_STRIKES {
            let lost = self.take_back(peer, None, ReassignReason::Stalled);
            for (id, cids) in lost {
                if let Some(f) = self.fetches.get_mut(&id) {
                    for cid in cids {
                        f.exclude(cid, peer.clone());
                    }
                }
                self.fall_back_if_needed(now, id, FallbackReason::Stalled(peer.clone()));
            }
            return;
        }
        let asked: SmallMap<FetchId, Vec<Cid>> =
            state
                .in_flight
                .iter()
                .fold(SmallMap::new(), |mut m, (c, fl)| {
                    m.entry(fl.fetch).or_insert_with(Vec::new).push(*c);
                    m
                });
        for (id, cids) in asked {
            let Some(f) = self.fetches.get(&id) else {
                continue;
            };
            let elsewhere = f.origin_usable()
                || f.holders
                    .iter()
                    .any(|h| h != peer && self.peers.get(h).is_some_and(|s| askable(f, s, now)));
            if !elsewhere {
                continue;
            }
            self.take_back(peer, Some(&cids), ReassignReason::Stalled);
            if let Some(f) = self.fetches.get_mut(&id) {
                for cid in cids {
                    f.demote(cid, peer.clone());
                }
            }
            self.fall_back_if_needed(now, id, FallbackReason::Stalled(peer.clone()));
        }
    }

    /// Compares a peer's projected finish with the origin's, per fetch; a clearly slower peer
    /// keeps only its oldest outstanding block, the rest go to other peers or the origin.
    pub(super) fn check_slow(&mut self, now: Instant, peer: &P) {
        let Some(state) = self.peers.get(peer) else {
            return;
        };
        if !state.rate_settled() {
            return;
        }
        let origin_latency = self
            .origin_latency
            .unwrap_or(self.config.origin_latency_estimate);
        let fetch_ids: SmallSet<FetchId> = state.in_flight.values().map(|f| f.fetch).collect();
        let mut demote: Vec<(FetchId, Vec<Cid>)> = Vec::new();
        for id in fetch_ids {
            if !self.fetches.get(&id).is_some_and(|f| f.origin_usable()) {
                continue;
            }
            let (bytes, count) = state.outstanding(id);
            if count < 2 {
                continue;
            }
            let peer_eta = state.rate.time_for(bytes, 1.0);
            let origin_eta = origin_latency
                + self
                    .origin_rate
                    .time_for(bytes, self.config.origin_rate_estimate);
            if peer_eta.as_secs_f64() <= origin_eta.as_secs_f64() * self.config.slow_peer_factor {
                continue;
            }
            // Keep the oldest request (likely already on the wire); the rest go elsewhere.
            let mut outstanding: Vec<(Instant, Cid)> = state
                .in_flight
                .iter()
                .filter(|(_, fl)| fl.fetch == id)
                .map(|(c, fl)| (fl.sent, *c))
                .collect();
            outstanding.sort();
            demote.push((id, outstanding.iter().skip(1).map(|(_, c)| *c).collect()));
        }
        for (id, moved) in demote {
            self.take_back(peer, Some(&moved), ReassignReason::Slow);
            if let Some(f) = self.fetches.get_mut(&id) {
                for cid in &moved {
                    f.demote(*cid, peer.clone());
                }
            }
            self.fall_back(now, id, FallbackReason::Slow(peer.clone()));
        }
    }

    /// How far ahead of its delivery point a multi-block fetch may ask for leaves: an equal
    /// share of [`Config::fetch_buffer`] among the multi-block fetches in progress, but at
    /// least one origin range of leaves, so each keeps a peer's pipeline and the origin busy.
    pub(super) fn fetch_window(&self) -> u64 {
        let multi_block = self
            .fetches
            .values()
            .filter(|f| f.root.codec() != crate::block::RAW_CODEC)
            .count()
            .max(1) as u64;
        let floor = self.config.max_origin_range_leaves as u64 * CHUNK_SIZE as u64;
        (self.config.fetch_buffer / multi_block).max(floor)
    }

    /// Brings in the origin for `id` if it is not in yet.
    pub(super) fn fall_back(&mut self, now: Instant, id: FetchId, reason: FallbackReason<P>) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        if f.origin_active || !f.origin_usable() {
            return;
        }
        f.origin_active = true;
        f.summary.fell_back = true;
        self.stats.record_fallback();
        self.outputs
            .push_back(Output::Event(Event::Fallback { fetch: id, reason }));
        self.schedule(now, id);
    }

    /// Brings in the origin if no peer can still provide what is missing.
    pub(super) fn fall_back_if_needed(
        &mut self,
        now: Instant,
        id: FetchId,
        reason: FallbackReason<P>,
    ) {
        if !self.peers_can_help(now, id) {
            self.fall_back(now, id, reason);
        }
    }

    /// Whether every missing block has a peer that may deliver it. Peers still being discovered
    /// or asked count until the deadline (or for good, when there is no origin to turn to):
    /// after it, only peers known to hold the asset do.
    pub(super) fn peers_can_help(&self, now: Instant, id: FetchId) -> bool {
        let Some(f) = self.fetches.get(&id) else {
            return false;
        };
        let patience = now < f.started + f.deadline || !f.origin_usable();
        if patience && f.peers_pending() {
            return true;
        }
        f.layout.missing().iter().all(|cid| {
            f.holders
                .iter()
                .any(|h| f.may_ask(cid, h) && self.peers.get(h).is_some_and(|s| askable(f, s, now)))
        })
    }

    /// Request slots came free at the peers in `slots_freed`: fetches that had to wait for one
    /// (every holder they may ask was at [`Config::max_in_flight_per_peer`]) ask now, oldest
    /// fetch first, instead of at their next timer, which is their deadline: by then the
    /// origin takes them (a page asking for 40 small assets at once got 16 from its peer and
    /// the rest from the origin).
    pub(super) fn refill(&mut self, now: Instant) {
        let max = self.config.max_in_flight_per_peer;
        let freed = std::mem::take(&mut self.slots_freed);
        let has_room = |planner: &Self, peer: &P| {
            planner
                .peers
                .get(peer)
                .is_some_and(|s| s.usable() && s.in_flight.len() < max)
        };
        let free: Vec<P> = freed.into_iter().filter(|p| has_room(self, p)).collect();
        if free.is_empty() {
            return;
        }
        let waiting: Vec<FetchId> = self
            .fetches
            .values()
            .filter(|f| free.iter().any(|p| f.holders.contains(p)))
            .map(|f| f.id)
            .collect();
        for id in waiting {
            if !free.iter().any(|p| has_room(self, p)) {
                break;
            }
            self.finish_or_schedule(now, id);
        }
        // Slots this scheduling freed in turn (a fetch completing) stay in `slots_freed` for
        // the next refill.
    }

    pub(super) fn replan_all(&mut self, now: Instant) {
        let ids: Vec<FetchId> = self.fetches.keys().copied().collect();
        for id in ids {
            self.finish_or_schedule(now, id);
        }
    }

    pub(super) fn finish_or_schedule(&mut self, now: Instant, id: FetchId) {
        if self.fetches.get(&id).is_some_and(|f| f.is_done()) {
            self.complete(now, id);
        } else {
            self.schedule(now, id);
        }
    }

    /// Asks peers and the origin for whatever is missing and not yet asked for.
    pub(super) fn schedule(&mut self, now: Instant, id: FetchId) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        if f.is_done() {
            return;
        }
        if self.narrow_whole_origin(now, id) && self.fetches.get(&id).is_some_and(|f| f.is_done()) {
            self.complete(now, id);
            return;
        }
        let window = self.fetch_window();
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        let missing = f.wanted_now(window);
        let mut batches: SmallMap<P, Vec<Cid>> = SmallMap::new();
        for cid in &missing {
            if self.peers.values().any(|p| p.in_flight.contains_key(cid)) {
                continue;
            }
            let Some(f) = self.fetches.get(&id) else {
                return;
            };
            let best = f
                .holders
                .iter()
                .filter(|h| f.may_ask(cid, h))
                .filter_map(|h| self.peers.get(h).map(|s| (h, s)))
                .filter(|(_, s)| {
                    askable(f, s, now) && s.in_flight.len() < self.config.max_in_flight_per_peer
                })
                .min_by(|(ha, a), (hb, b)| {
                    let load_a = a.rate.time_for(a.outstanding(id).0, 1e6);
                    let load_b = b.rate.time_for(b.outstanding(id).0, 1e6);
                    (a.in_flight.len(), load_a, -a.score, *ha).cmp(&(
                        b.in_flight.len(),
                        load_b,
                        -b.score,
                        *hb,
                    ))
                })
                .map(|(h, _)| h.clone());
            let Some(peer) = best else {
                continue;
            };
            let expected = expected_size(f, cid);
            if let Some(state) = self.peers.get_mut(&peer) {
                state.request(
                    now,
                    *cid,
                    InFlight {
                        fetch: id,
                        sent: now,
                        expected,
                    },
                );
            }
            self.leaf_asked(now, id, &peer, cid);
            batches.entry(peer).or_default().push(*cid);
        }
        for (peer, cids) in batches {
            let rid = self.request_id();
            self.outputs
                .push_back(Output::Action(Action::SendWantBlock {
                    peer,
                    id: rid,
                    cids,
                }));
        }
        if !self.peers_can_help(now, id) && !self.discover_then_can_help(now, id) {
            let reason = match self.fetches.get(&id) {
                Some(f) if f.summary.bytes_peer > 0 || !f.holders.is_empty() => {
                    FallbackReason::PeersLost
                }
                _ => FallbackReason::NoProviders,
            };
            let Some(f) = self.fetches.get(&id) else {
                return;
            };
            if !f.origin_usable() && f.origin_requests.is_empty() {
                let nothing_in_flight = !self
                    .peers
                    .values()
                    .any(|p| p.in_flight.values().any(|fl| fl.fetch == id));
                if nothing_in_flight {
                    let cid = f.root;
                    if !self.rediscover(id) {
                        self.fail(id, FetchError::NoSource { cid });
                    }
                    return;
                }
            }
            self.fall_back(now, id, reason);
        }
        self.plan_origin(now, id);
    }

    /// A fetch with no source left lost its holders to closed or failed connections: looks
    /// them up again (at most [`MAX_REDISCOVERIES`] times) instead of failing. Whether it did.
    fn rediscover(&mut self, id: FetchId) -> bool {
        let Some(f) = self.fetches.get_mut(&id) else {
            return false;
        };
        if !f.lost_holder || !f.discovery_done || f.rediscoveries >= MAX_REDISCOVERIES {
            return false;
        }
        f.lost_holder = false;
        f.rediscoveries += 1;
        f.discovery_started = false;
        self.discover(id);
        true
    }

    /// The peers known to hold the asset cannot provide what is missing: starts a provider
    /// lookup (once per fetch) and says whether peers can help now, since the fetch waits for
    /// the lookup until its deadline.
    fn discover_then_can_help(&mut self, now: Instant, id: FetchId) -> bool {
        self.discover(id);
        self.peers_can_help(now, id)
    }

    /// Issues origin requests for missing blocks no peer is working on (or for everything, once
    /// the deadline passed without a peer byte).
    pub(super) fn plan_origin(&mut self, now: Instant, id: FetchId) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        if !f.origin_active || !f.origin_usable() {
            return;
        }
        let root_known = !f.layout.is_missing(&f.root);
        let window_end = f.delivered.saturating_add(self.fetch_window());
        let missing = f.layout.missing();
        let in_flight_at_peer =
            |cid: &Cid| self.peers.values().any(|p| p.in_flight.contains_key(cid));
        if f.origin_requests.values().any(|r| r.is_whole()) {
            return;
        }
        let needs_whole = !root_known
            || missing
                .iter()
                .any(|c| f.layout.is_node(c) && (f.hedge_all || !in_flight_at_peer(c)));
        if needs_whole {
            if f.origin_requests.is_empty() {
                self.issue_origin(
                    now,
                    id,
                    None,
                    OriginRequest::whole(now, &self.config.known_blocks),
                );
            }
            return;
        }
        let covered: BTreeSet<Cid> = f
            .origin_requests
            .values()
            .flat_map(|r| r.covers.iter().copied())
            .collect();
        let mut runs: Vec<Vec<ExpectedLeaf>> = Vec::new();
        let mut run_end = None;
        let mut seen = BTreeSet::new();
        for leaf in f.layout.leaves() {
            let wanted = f.layout.is_missing(&leaf.cid)
                && leaf.offset < window_end
                && !covered.contains(&leaf.cid)
                && (f.hedge_all || !in_flight_at_peer(&leaf.cid));
            let len = leaf.len.unwrap_or(CHUNK_SIZE as u64);
            if !wanted || !seen.insert(leaf.cid) {
                run_end = None;
                continue;
            }
            let expected = ExpectedLeaf { cid: leaf.cid, len };
            match runs.last_mut() {
                Some(run)
                    if run_end == Some(leaf.offset)
                        && run.len() < self.config.max_origin_range_leaves =>
                {
                    run.push(expected)
                }
                _ => runs.push(vec![expected]),
            }
            run_end = Some(leaf.offset + len);
        }
        let room = self
            .config
            .max_origin_requests
            .saturating_sub(f.origin_requests.len());
        let mut ranges = Vec::new();
        for run in runs.into_iter().take(room) {
            let Some(first) = run.first() else { continue };
            let start = f
                .layout
                .leaves()
                .iter()
                .find(|l| l.cid == first.cid)
                .map_or(0, |l| l.offset);
            let end = start + run.iter().map(|l| l.len).sum::<u64>();
            ranges.push((start..end, run));
        }
        for (range, run) in ranges {
            self.issue_origin(now, id, Some(range), OriginRequest::leaves(now, run));
        }
    }

    /// The whole file was asked of the origin because the DAG was unknown. Once peers have
    /// delivered its nodes, that request is cancelled, what its body brought in is kept (it can
    /// be verified now), and [`Self::plan_origin`] continues with leaf ranges for only what no
    /// peer is working on: a whole body would send every byte again. The deadline's hedge ends
    /// here too, as a peer has delivered; stalls and slow peers still hand blocks to the origin.
    /// Returns whether it accepted blocks.
    pub(super) fn narrow_whole_origin(&mut self, now: Instant, id: FetchId) -> bool {
        if !self.config.origin_ranges_once_known {
            return false;
        }
        let Some(f) = self.fetches.get_mut(&id) else {
            return false;
        };
        let Some(request) = f
            .origin_requests
            .iter()
            .find(|(_, r)| r.is_whole())
            .map(|(k, _)| *k)
        else {
            return false;
        };
        // Nodes below the root (assets over 174 leaves) must be known too, or their leaves
        // could not be asked for by range yet.
        if f.layout.is_missing(&f.root) || f.layout.missing().iter().any(|c| f.layout.is_node(c)) {
            return false;
        }
        let Some(mut req) = f.origin_requests.remove(&request) else {
            return false;
        };
        self.origin_index.remove(&request);
        f.hedge_all = false;
        let salvaged = req.salvage(&f.layout);
        if let Some(first) = req.first_byte {
            self.origin_rate.sample(req.received, now - first);
        }
        self.outputs
            .push_back(Output::Action(Action::CancelOrigin(CancelOrigin {
                request,
            })));
        self.outputs.push_back(Output::Event(Event::OriginNarrowed {
            fetch: id,
            request,
            salvaged: salvaged.len(),
        }));
        let accepted = !salvaged.is_empty();
        for block in salvaged {
            // Verified against CIDs the layout holds, so this cannot fail; if it did, the
            // block is only lost, the origin is asked for it again by range.
            let _ = self.accept(now, id, block, BlockSource::Origin);
        }
        accepted
    }

    pub(super) fn issue_origin(
        &mut self,
        _now: Instant,
        id: FetchId,
        range: Option<std::ops::Range<u64>>,
        req: OriginRequest,
    ) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        self.next_origin += 1;
        let request = OriginRequestId(self.next_origin);
        f.origin_requests.insert(request, req);
        self.origin_index.insert(request, id);
        self.outputs
            .push_back(Output::Action(Action::OriginFetch(OriginFetch {
                fetch: id,
                request,
                range,
            })));
    }
}
