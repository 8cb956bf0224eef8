//! The fetch planner: which source to ask for which block, and when to bring in the origin.
//!
//! [`Planner`] is a sans-IO state machine in the style of quinn-proto and str0m. It owns no
//! socket, timer or clock. The driver (browser node, native node, simulator) feeds it inputs
//! with the current time and carries out what it returns.
//!
//! # Driving contract
//!
//! 1. Call an input method: [`Planner::start`], [`Planner::cancel`], the `handle_*` methods.
//!    Pass the current time; time must never go backwards between calls.
//! 2. Drain [`Planner::poll_action`] until `None` and carry every action out (send wire
//!    messages, start HTTP requests, hand bytes to the page).
//! 3. Drain [`Planner::poll_event`] until `None` (stats, logs, completion, failure).
//! 4. Arm one timer at [`Planner::poll_timeout`]; when it fires call [`Planner::handle_timeout`]
//!    (calling it early is harmless).
//!
//! # Policy
//!
//! * A new fetch first looks in the store, then asks every connected peer (want-have) and the
//!   DHT at once.
//! * Peers that have the asset get want-blocks, at most [`Config::max_in_flight_per_peer`] each,
//!   least loaded first.
//! * If no peer has delivered a verified byte by [`Config::fallback_after`], the origin is asked
//!   too, for everything still missing; whichever source delivers a block first wins it. When
//!   discovery ends with nobody holding the asset, the origin is asked at once.
//! * A peer that stalls or is projected to finish later than the origin loses its outstanding
//!   blocks to other peers or to origin range requests.
//! * A block that fails verification is never released; the sender loses score (ignored at
//!   [`Config::ignore_threshold`]) and the block is asked of someone else.
//! * Verified blocks are stored and pinned while the fetch runs; on completion they are
//!   unpinned and, if all were stored, [`Action::Announce`] follows.
//! * Cancellation and failure cancel outstanding wants and origin requests and unpin.
//!
//! Every decision is reported as an [`Event`] with its reason.

mod asset;
mod config;
mod estimate;
mod origin;
mod peers;
mod types;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;

use crate::block::{Block, CHUNK_SIZE};
use crate::layout::{AssetLayout, Inserted, LayoutError};
use crate::stats::{Source, TransferStats};
use crate::store::BlockStore;
use crate::time::Instant;
use crate::wire::RequestId;
use asset::FetchState;
use estimate::RateEstimate;
use origin::{ExpectedLeaf, OriginRequest};
use peers::{InFlight, MAX_STALL_STRIKES, PeerState};

pub use config::Config;
pub use types::{
    Action, BlockSource, Event, FallbackReason, FetchError, FetchId, FetchSummary, OriginError,
    OriginRequestId, Penalty, ReassignReason,
};

/// What the planner needs of a peer identifier: drivers use libp2p's `PeerId`, the simulator a
/// number. Ordering keeps every iteration, and so every decision, deterministic.
pub trait PeerKey: Clone + Eq + Ord + Debug {}
impl<T: Clone + Eq + Ord + Debug> PeerKey for T {}

/// The fetch planner. See the [module docs](self) for the driving contract and the policy.
#[derive(Debug)]
pub struct Planner<P, S> {
    config: Config,
    store: S,
    peers: BTreeMap<P, PeerState>,
    fetches: BTreeMap<FetchId, FetchState<P>>,
    origin_index: BTreeMap<OriginRequestId, FetchId>,
    next_fetch: u64,
    next_request: u64,
    next_origin: u64,
    actions: VecDeque<Action<P>>,
    events: VecDeque<Event<P>>,
    stats: TransferStats,
    origin_latency: Option<Duration>,
    origin_rate: RateEstimate,
}

impl<P: PeerKey, S: BlockStore> Planner<P, S> {
    /// A planner with `config` that caches into `store`.
    pub fn new(config: Config, store: S) -> Self {
        Self {
            config,
            store,
            peers: BTreeMap::new(),
            fetches: BTreeMap::new(),
            origin_index: BTreeMap::new(),
            next_fetch: 0,
            next_request: 0,
            next_origin: 0,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: TransferStats::new(),
            origin_latency: None,
            origin_rate: RateEstimate::unknown(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The block store (for serving peers).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The block store, mutably (for serving peers: `get` counts and touches).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Totals over every fetch so far.
    pub fn stats(&self) -> &TransferStats {
        &self.stats
    }

    /// Counts bytes this node served to peers, for [`Planner::stats`].
    pub fn record_served(&mut self, bytes: u64) {
        self.stats.record_served(bytes);
    }

    /// A peer's score, if the planner knows it.
    pub fn peer_score(&self, peer: &P) -> Option<i32> {
        self.peers.get(peer).map(|p| p.score)
    }

    /// Whether a peer is ignored for bad data.
    pub fn is_ignored(&self, peer: &P) -> bool {
        self.peers.get(peer).is_some_and(|p| p.ignored)
    }

    /// Fetches in progress.
    pub fn active_fetches(&self) -> usize {
        self.fetches.len()
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action<P>> {
        self.actions.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// When [`Planner::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self
            .fetches
            .values()
            .filter(|f| !f.origin_active && !f.peer_started && f.origin_usable())
            .map(|f| f.started + self.config.fallback_after);
        let stalls = self
            .peers
            .values()
            .filter_map(|p| p.stall_at(self.config.stall_timeout));
        deadlines.chain(stalls).min()
    }

    /// Starts fetching the asset `root`. `has_origin` says whether the driver can fetch it over
    /// HTTP (it knows the URL); without an origin only peers and the store can provide it.
    pub fn start(&mut self, now: Instant, root: Cid, has_origin: bool) -> FetchId {
        let id = FetchId(self.next_fetch);
        self.next_fetch += 1;
        let layout = match AssetLayout::new(root, self.config.max_asset_size) {
            Ok(layout) => layout,
            Err(source) => {
                self.events.push_back(Event::Failed {
                    fetch: id,
                    error: FetchError::Unsupported { cid: root, source },
                });
                return id;
            }
        };
        self.fetches
            .insert(id, FetchState::new(id, root, now, layout, has_origin));
        self.want_from_store(now, id, vec![root]);
        if !self.fetches.contains_key(&id) {
            return id; // Served entirely from the store.
        }
        self.actions.push_back(Action::FindProviders { cid: root });
        let asked: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, p)| p.usable())
            .map(|(k, _)| k.clone())
            .collect();
        for peer in asked {
            self.ask_have(id, peer);
        }
        self.schedule(now, id);
        id
    }

    /// Stops a fetch and releases everything it held.
    pub fn cancel(&mut self, _now: Instant, fetch: FetchId) {
        if self.release(fetch) {
            self.events.push_back(Event::Cancelled { fetch });
        }
    }

    /// A connection to `peer` is up.
    pub fn handle_peer_connected(&mut self, now: Instant, peer: P) {
        let state = self
            .peers
            .entry(peer.clone())
            .or_insert_with(|| PeerState::new(now));
        state.connected = true;
        if state.ignored {
            return;
        }
        let ids: Vec<FetchId> = self.fetches.keys().copied().collect();
        for id in ids {
            let Some(f) = self.fetches.get_mut(&id) else {
                continue;
            };
            if f.pending_providers.remove(&peer) {
                f.holders.insert(peer.clone());
            } else if !f.holders.contains(&peer) && !f.unanswered.contains(&peer) {
                self.ask_have(id, peer.clone());
            }
            self.schedule(now, id);
        }
    }

    /// The connection to `peer` closed, or dialling it failed.
    pub fn handle_peer_disconnected(&mut self, now: Instant, peer: P) {
        // A failed dial reports a peer we never saw connected: it still ends its prospects.
        if let Some(state) = self.peers.get_mut(&peer) {
            state.connected = false;
        }
        for f in self.fetches.values_mut() {
            f.holders.remove(&peer);
            f.pending_providers.remove(&peer);
            f.unanswered.remove(&peer);
        }
        self.take_back(&peer, None, ReassignReason::Disconnected);
        self.replan_all(now);
    }

    /// The DHT named `providers` of `root`; `finished` when the lookup is over.
    pub fn handle_providers(&mut self, now: Instant, root: Cid, providers: Vec<P>, finished: bool) {
        let ids = self.fetches_of_root(&root);
        for id in ids {
            for peer in &providers {
                let known = self.peers.get(peer);
                if known.is_some_and(|p| p.ignored) {
                    continue;
                }
                let connected = known.is_some_and(|p| p.connected);
                let Some(f) = self.fetches.get_mut(&id) else {
                    continue;
                };
                if connected {
                    f.unanswered.remove(peer);
                    f.holders.insert(peer.clone());
                } else if f.pending_providers.insert(peer.clone()) {
                    self.actions
                        .push_back(Action::Connect { peer: peer.clone() });
                }
            }
            if let Some(f) = self.fetches.get_mut(&id) {
                f.discovery_done |= finished;
            }
            self.schedule(now, id);
        }
    }

    /// `peer` says it has `cid`.
    pub fn handle_have(&mut self, now: Instant, peer: P, cid: Cid) {
        if self.is_ignored(&peer) {
            return;
        }
        for id in self.fetches_of_root(&cid) {
            if let Some(f) = self.fetches.get_mut(&id) {
                f.unanswered.remove(&peer);
                f.holders.insert(peer.clone());
            }
            self.schedule(now, id);
        }
    }

    /// `peer` says it does not have `cid`.
    pub fn handle_dont_have(&mut self, now: Instant, peer: P, cid: Cid) {
        for f in self.fetches.values_mut() {
            if f.root == cid {
                f.unanswered.remove(&peer);
                f.holders.remove(&peer);
            }
            if f.layout.is_missing(&cid) {
                f.exclude(cid, peer.clone());
            }
        }
        self.take_back(&peer, Some(&[cid]), ReassignReason::DontHave);
        self.replan_all(now);
    }

    /// `peer` sent a block. The bytes are untrusted: they are verified before anything else.
    pub fn handle_block(&mut self, now: Instant, peer: P, cid: Cid, data: Bytes) {
        let state = self
            .peers
            .entry(peer.clone())
            .or_insert_with(|| PeerState::new(now));
        if state.ignored {
            return;
        }
        let flight = state.in_flight.remove(&cid);
        let wanting = self.fetches_missing(&cid);
        if wanting.is_empty() {
            // Late or cancelled. If it is genuine the peer is alive and moving bytes (its stall
            // clock restarts); junk proves nothing.
            if crate::block::verify_block(&cid, &data).is_ok()
                && let Some(state) = self.peers.get_mut(&peer)
            {
                state.delivered(now, data.len() as u64, flight);
            }
            if flight.is_some() {
                self.events.push_back(Event::BlockDuplicate {
                    cid,
                    from: BlockSource::Peer(peer),
                });
            }
            return;
        }
        let block = match Block::verify(cid, data) {
            Ok(block) => block,
            Err(e) => {
                self.corrupt(now, &peer, cid, &wanting, LayoutError::Verify(e));
                return;
            }
        };
        if let Some(state) = self.peers.get_mut(&peer) {
            state.delivered(now, block.len() as u64, flight);
            state.adjust_score(self.config.success_reward, self.config.max_score);
        }
        for id in &wanting {
            if let Err(e) = self.accept(now, *id, block.clone(), BlockSource::Peer(peer.clone())) {
                self.corrupt(now, &peer, cid, &wanting, e);
                return;
            }
        }
        self.check_slow(now, &peer);
        for id in wanting {
            self.finish_or_schedule(now, id);
        }
    }

    /// The next piece of an origin response body, in order.
    pub fn handle_origin_data(&mut self, now: Instant, request: OriginRequestId, data: Bytes) {
        let Some(&id) = self.origin_index.get(&request) else {
            return;
        };
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        let Some(req) = f.origin_requests.get_mut(&request) else {
            return;
        };
        if req.first_byte.is_none() {
            self.origin_latency = Some(ewma(self.origin_latency, now - req.started));
        }
        match req.feed(now, &data, &f.layout, self.config.max_asset_size) {
            Ok(blocks) => self.accept_origin(now, id, blocks),
            Err(e) => self.reject_origin(now, id, request, e),
        }
    }

    /// An origin response body ended normally.
    pub fn handle_origin_done(&mut self, now: Instant, request: OriginRequestId) {
        let Some(id) = self.origin_index.remove(&request) else {
            return;
        };
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        let Some(req) = f.origin_requests.remove(&request) else {
            return;
        };
        if let Some(first) = req.first_byte {
            self.origin_rate.sample(req.received, now - first);
        }
        match req.finish(&f.layout, &f.root) {
            Ok(blocks) => {
                self.accept_origin(now, id, blocks);
                self.finish_or_schedule(now, id);
            }
            Err(e) => self.reject_origin(now, id, request, e),
        }
    }

    /// An origin request failed (network error, HTTP error status).
    pub fn handle_origin_failed(&mut self, now: Instant, request: OriginRequestId, reason: String) {
        let Some(&id) = self.origin_index.get(&request) else {
            return;
        };
        self.reject_origin(now, id, request, OriginError::Transport(reason));
    }

    /// Time passed: deadlines and stalls.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<FetchId> = self
            .fetches
            .values()
            .filter(|f| !f.origin_active && !f.peer_started && f.origin_usable())
            .filter(|f| now >= f.started + self.config.fallback_after)
            .map(|f| f.id)
            .collect();
        for id in due {
            if let Some(f) = self.fetches.get_mut(&id) {
                f.hedge_all = true;
            }
            self.fall_back(now, id, FallbackReason::Deadline);
        }
        let stalled: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.stall_at(self.config.stall_timeout)
                    .is_some_and(|t| now >= t)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for peer in stalled {
            self.stalled(now, &peer);
        }
        self.replan_all(now);
    }

    // ---- internals -------------------------------------------------------------------------

    fn fetches_of_root(&self, root: &Cid) -> Vec<FetchId> {
        self.fetches
            .values()
            .filter(|f| f.root == *root)
            .map(|f| f.id)
            .collect()
    }

    fn fetches_missing(&self, cid: &Cid) -> Vec<FetchId> {
        self.fetches
            .values()
            .filter(|f| f.layout.is_missing(cid))
            .map(|f| f.id)
            .collect()
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn ask_have(&mut self, id: FetchId, peer: P) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.unanswered.insert(peer.clone());
        let cids = vec![f.root];
        let id = self.request_id();
        self.actions
            .push_back(Action::SendWantHave { peer, id, cids });
    }

    /// Takes blocks in the store instead of asking anyone; walks down through cached nodes.
    fn want_from_store(&mut self, now: Instant, id: FetchId, cids: Vec<Cid>) {
        let mut queue: VecDeque<Cid> = cids.into();
        let mut budget = self.config.max_asset_size / 1024 + 1024; // bounds the walk
        while let Some(cid) = queue.pop_front() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let Some(block) = self.store.get(&cid) else {
                continue;
            };
            match self.accept(now, id, block, BlockSource::Cache) {
                Ok(new_children) => queue.extend(new_children),
                Err(_) => {
                    // A cached block that does not fit the DAG is useless; drop it.
                    self.store.remove(&cid);
                }
            }
        }
        self.finish_or_schedule(now, id);
    }

    /// Adds a verified block to fetch `id`: layout, store, pins, stats, delivery. Returns the
    /// children it revealed that are still missing. Errors mean the block is structurally bad.
    fn accept(
        &mut self,
        now: Instant,
        id: FetchId,
        block: Block,
        from: BlockSource<P>,
    ) -> Result<Vec<Cid>, LayoutError> {
        let Some(f) = self.fetches.get_mut(&id) else {
            return Ok(Vec::new());
        };
        if !f.layout.is_missing(block.cid()) {
            self.events.push_back(Event::BlockDuplicate {
                cid: *block.cid(),
                from,
            });
            return Ok(Vec::new());
        }
        let cid = *block.cid();
        let revealed = match f.layout.insert(&block)? {
            Inserted::Node { new_children } => new_children,
            Inserted::Leaf { .. } => {
                f.leaf_data.insert(cid, block.data().clone());
                Vec::new()
            }
        };
        let bytes = block.len() as u64;
        let source = from.source();
        if source == Source::Peer {
            f.peer_started = true;
        }
        if f.count(now, &from, bytes) {
            self.stats.record_ttfb(source, now - f.started);
        }
        self.stats.record_bytes(source, bytes);
        if source != Source::Cache {
            if let Err(error) = self.store.put(block) {
                f.all_stored = false;
                self.events.push_back(Event::StoreFailed { cid, error });
            }
        }
        self.store.pin(&cid);
        f.pinned.push(cid);
        for (offset, data) in f.take_deliverable() {
            self.actions.push_back(Action::Deliver {
                fetch: id,
                offset,
                data,
            });
        }
        self.events.push_back(Event::BlockAccepted {
            fetch: id,
            cid,
            from: from.clone(),
            bytes,
        });
        self.cancel_elsewhere(cid, &from);
        let mut missing = Vec::new();
        if let Some(f) = self.fetches.get(&id) {
            missing = revealed
                .into_iter()
                .filter(|c| f.layout.is_missing(c))
                .collect();
        }
        if source != Source::Cache && !missing.is_empty() {
            // Children may already be cached (shared chunks, earlier partial fetches).
            self.want_from_store(now, id, missing.clone());
        }
        Ok(missing)
    }

    /// Tells other peers asked for `cid` that it is no longer wanted (unless another fetch
    /// still wants it).
    fn cancel_elsewhere(&mut self, cid: Cid, winner: &BlockSource<P>) {
        if !self.fetches_missing(&cid).is_empty() {
            return;
        }
        for (peer, state) in &mut self.peers {
            if matches!(winner, BlockSource::Peer(w) if w == peer) {
                continue;
            }
            if state.in_flight.remove(&cid).is_some() {
                self.actions.push_back(Action::SendCancel {
                    peer: peer.clone(),
                    cids: vec![cid],
                });
            }
        }
    }

    fn accept_origin(&mut self, now: Instant, id: FetchId, blocks: Vec<Block>) {
        for block in blocks {
            let cid = *block.cid();
            if let Err(e) = self.accept(now, id, block, BlockSource::Origin) {
                // The hash matched a CID of this DAG, so the DAG itself is malformed.
                let error = OriginError::Verify(match e {
                    LayoutError::Verify(v) => v,
                    _ => crate::block::VerifyError::Unsupported {
                        cid,
                        codec: cid.codec(),
                        hash: cid.hash().code(),
                    },
                });
                self.events
                    .push_back(Event::OriginRejected { fetch: id, error });
            }
        }
        self.finish_or_schedule(now, id);
    }

    fn reject_origin(
        &mut self,
        now: Instant,
        id: FetchId,
        request: OriginRequestId,
        error: OriginError,
    ) {
        self.origin_index.remove(&request);
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.origin_requests.remove(&request);
        f.origin_failed = true;
        let cancelled: Vec<OriginRequestId> = f.origin_requests.keys().copied().collect();
        f.origin_requests.clear();
        for r in cancelled {
            self.origin_index.remove(&r);
            self.actions.push_back(Action::CancelOrigin { request: r });
        }
        self.events.push_back(Event::OriginRejected {
            fetch: id,
            error: error.clone(),
        });
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        let peers_can = f
            .holders
            .iter()
            .any(|p| self.peers.get(p).is_some_and(|s| s.usable()))
            || f.peers_pending();
        if !peers_can {
            let cid = f.root;
            self.fail(id, FetchError::Origin { cid, source: error });
            return;
        }
        self.schedule(now, id);
    }

    /// A peer sent bad data for `cid`: penalise, exclude, ask elsewhere.
    fn corrupt(
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

    fn penalize(&mut self, peer: &P, penalty: Penalty, amount: i32) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        let score = state.adjust_score(-amount, self.config.max_score);
        self.events.push_back(Event::PeerPenalized {
            peer: peer.clone(),
            penalty: penalty.clone(),
            score,
        });
        // Only bad data gets a peer ignored: slowness is a reason to prefer others, not to
        // refuse a source that may be the last one.
        let lied = matches!(penalty, Penalty::Corrupt(_));
        if lied && score <= self.config.ignore_threshold && !state.ignored {
            state.ignored = true;
            self.events
                .push_back(Event::PeerIgnored { peer: peer.clone() });
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
    fn take_back(
        &mut self,
        peer: &P,
        only: Option<&[Cid]>,
        reason: ReassignReason,
    ) -> BTreeMap<FetchId, Vec<Cid>> {
        let mut lost: BTreeMap<FetchId, Vec<Cid>> = BTreeMap::new();
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
        if !taken.is_empty() && state.connected && reason != ReassignReason::DontHave {
            self.actions.push_back(Action::SendCancel {
                peer: peer.clone(),
                cids: taken,
            });
        }
        for (id, cids) in &lost {
            self.events.push_back(Event::Reassigned {
                fetch: *id,
                peer: peer.clone(),
                cids: cids.clone(),
                reason,
            });
        }
        lost
    }

    /// A peer delivered nothing for its stall patience. Its blocks go to another source where
    /// there is one; where it is the only source its requests stand and its clock restarts,
    /// since re-asking it would only queue the same blocks again. After [`MAX_STALL_STRIKES`]
    /// stalls without a single block in between it counts as dead for what it was asked.
    fn stalled(&mut self, now: Instant, peer: &P) {
        self.penalize(peer, Penalty::Stalled, self.config.stall_penalty);
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        state.stall_strikes += 1;
        state.last_progress = now;
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
        let asked: BTreeMap<FetchId, Vec<Cid>> =
            state
                .in_flight
                .iter()
                .fold(BTreeMap::new(), |mut m, (c, fl)| {
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
                    .any(|h| h != peer && self.peers.get(h).is_some_and(|s| s.usable()));
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
    fn check_slow(&mut self, now: Instant, peer: &P) {
        let Some(state) = self.peers.get(peer) else {
            return;
        };
        if state.rate.get().is_none() {
            return;
        }
        let origin_latency = self
            .origin_latency
            .unwrap_or(self.config.origin_latency_estimate);
        let fetch_ids: BTreeSet<FetchId> = state.in_flight.values().map(|f| f.fetch).collect();
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

    /// Brings in the origin for `id` if it is not in yet.
    fn fall_back(&mut self, now: Instant, id: FetchId, reason: FallbackReason<P>) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        if f.origin_active || !f.origin_usable() {
            return;
        }
        f.origin_active = true;
        f.summary.fell_back = true;
        self.stats.record_fallback();
        self.events.push_back(Event::Fallback { fetch: id, reason });
        self.schedule(now, id);
    }

    /// Brings in the origin if no peer can still provide what is missing.
    fn fall_back_if_needed(&mut self, now: Instant, id: FetchId, reason: FallbackReason<P>) {
        if !self.peers_can_help(now, id) {
            self.fall_back(now, id, reason);
        }
    }

    /// Whether every missing block has a peer that may deliver it. Peers still being discovered
    /// or asked count until the deadline (or for good, when there is no origin to turn to):
    /// after it, only peers known to hold the asset do.
    fn peers_can_help(&self, now: Instant, id: FetchId) -> bool {
        let Some(f) = self.fetches.get(&id) else {
            return false;
        };
        let patience = now < f.started + self.config.fallback_after || !f.origin_usable();
        if patience && f.peers_pending() {
            return true;
        }
        f.layout.missing().iter().all(|cid| {
            f.holders
                .iter()
                .any(|h| f.may_ask(cid, h) && self.peers.get(h).is_some_and(|s| s.usable()))
        })
    }

    fn replan_all(&mut self, now: Instant) {
        let ids: Vec<FetchId> = self.fetches.keys().copied().collect();
        for id in ids {
            self.finish_or_schedule(now, id);
        }
    }

    fn finish_or_schedule(&mut self, now: Instant, id: FetchId) {
        if self.fetches.get(&id).is_some_and(|f| f.is_done()) {
            self.complete(now, id);
        } else {
            self.schedule(now, id);
        }
    }

    /// Asks peers and the origin for whatever is missing and not yet asked for.
    fn schedule(&mut self, now: Instant, id: FetchId) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        if f.is_done() {
            return;
        }
        let missing = f.layout.missing();
        let mut batches: BTreeMap<P, Vec<Cid>> = BTreeMap::new();
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
                    s.usable() && s.in_flight.len() < self.config.max_in_flight_per_peer
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
            batches.entry(peer).or_default().push(*cid);
        }
        for (peer, cids) in batches {
            let rid = self.request_id();
            self.actions.push_back(Action::SendWantBlock {
                peer,
                id: rid,
                cids,
            });
        }
        if !self.peers_can_help(now, id) {
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
                    self.fail(id, FetchError::NoSource { cid });
                    return;
                }
            }
            self.fall_back(now, id, reason);
        }
        self.plan_origin(now, id);
    }

    /// Issues origin requests for missing blocks no peer is working on (or for everything, once
    /// the deadline passed without a peer byte).
    fn plan_origin(&mut self, now: Instant, id: FetchId) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        if !f.origin_active || !f.origin_usable() {
            return;
        }
        if f.origin_requests.values().any(|r| r.is_whole()) {
            return;
        }
        let root_known = !f.layout.is_missing(&f.root);
        let missing = f.layout.missing();
        let in_flight_at_peer =
            |cid: &Cid| self.peers.values().any(|p| p.in_flight.contains_key(cid));
        let needs_whole = !root_known
            || missing
                .iter()
                .any(|c| f.layout.is_node(c) && (f.hedge_all || !in_flight_at_peer(c)));
        if needs_whole {
            if f.origin_requests.is_empty() {
                self.issue_origin(now, id, None, OriginRequest::whole(now));
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

    fn issue_origin(
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
        self.actions.push_back(Action::OriginFetch {
            fetch: id,
            request,
            range,
        });
    }

    fn complete(&mut self, now: Instant, id: FetchId) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        let mut summary = f.summary.clone();
        summary.size = f.delivered;
        summary.elapsed = now - f.started;
        let cid = f.root;
        let announce = self.config.announce && f.all_stored;
        self.release(id);
        if announce {
            self.actions.push_back(Action::Announce { cid });
        }
        self.events.push_back(Event::Completed {
            fetch: id,
            cid,
            summary,
        });
    }

    fn fail(&mut self, id: FetchId, error: FetchError) {
        if self.release(id) {
            self.events.push_back(Event::Failed { fetch: id, error });
        }
    }

    /// Ends a fetch: cancels its wants and origin requests, unpins its blocks. Returns whether
    /// it existed.
    fn release(&mut self, id: FetchId) -> bool {
        let Some(f) = self.fetches.remove(&id) else {
            return false;
        };
        for request in f.origin_requests.keys() {
            self.origin_index.remove(request);
            self.actions
                .push_back(Action::CancelOrigin { request: *request });
        }
        for cid in &f.pinned {
            self.store.unpin(cid);
        }
        let still_wanted: BTreeSet<Cid> = self
            .fetches
            .values()
            .flat_map(|g| g.layout.missing())
            .collect();
        for (peer, state) in &mut self.peers {
            let dropped: Vec<Cid> = state
                .in_flight
                .iter()
                .filter(|(c, fl)| fl.fetch == id && !still_wanted.contains(c))
                .map(|(c, _)| *c)
                .collect();
            for cid in &dropped {
                state.in_flight.remove(cid);
            }
            if !dropped.is_empty() && state.connected {
                self.actions.push_back(Action::SendCancel {
                    peer: peer.clone(),
                    cids: dropped,
                });
            }
        }
        true
    }
}

/// Expected size of a block: a leaf's length, a chunk for nodes and unknown roots.
fn expected_size<P: Ord + Clone>(f: &FetchState<P>, cid: &Cid) -> u64 {
    f.layout
        .leaves()
        .iter()
        .find(|l| l.cid == *cid)
        .and_then(|l| l.len)
        .unwrap_or(CHUNK_SIZE as u64)
}

fn ewma(old: Option<Duration>, sample: Duration) -> Duration {
    match old {
        None => sample,
        Some(old) => Duration::from_secs_f64(old.as_secs_f64() * 0.7 + sample.as_secs_f64() * 0.3),
    }
}
