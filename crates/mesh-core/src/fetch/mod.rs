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
//! 2. Drain [`Planner::poll_output`] until `None`, in order: carry every [`Output::Action`]
//!    out (send wire messages, start HTTP requests, hand bytes to the page) and read every
//!    [`Output::Event`] (stats, logs, completion, failure). Actions and events come in one
//!    stream in the order they happened, so a driver that handles them as they come never
//!    reorders them: a block's [`Event::BlockAccepted`] precedes the [`Action::Deliver`] it
//!    made possible, a fetch's [`Event::Completed`] follows its last `Deliver`.
//! 3. Arm one timer at [`Planner::poll_timeout`]; when it fires call [`Planner::handle_timeout`]
//!    (calling it early is harmless).
//!
//! # Policy
//!
//! * A new fetch first looks in the store. Connected peers that announced the asset
//!   ([`Planner::handle_announced`]: their have-summary) are asked for its blocks at once, with
//!   no want-have and no DHT lookup; the DHT is asked only if they all fail. Otherwise the
//!   DHT is asked, and so are a few best-scored connected peers: for a single-block asset the
//!   [`Config::want_block_first`] best are sent want-block (a round trip fewer when they hold
//!   it), then [`Config::want_have_fanout`] more a want-have. Want-haves go to chosen peers
//!   only, never to every connected peer: each tells its receiver what the page loads.
//! * Peers that have the asset get want-blocks, at most [`Config::max_in_flight_per_peer`] each,
//!   least loaded first.
//! * If no peer has delivered a verified byte by [`Config::fallback_after`] (for multi-block
//!   assets [`Config::large_fallback_after`] if that is longer), the origin is asked
//!   too, for everything still missing; whichever source delivers a block first wins it. When
//!   discovery ends with nobody holding the asset, the origin is asked at once.
//! * A peer that stalls or is projected to finish later than the origin loses its outstanding
//!   blocks to other peers or to origin range requests.
//! * A peer asked for leaves that delivers none within the deadline (a withholder: it may have
//!   sent the root) loses that fetch's leaves to origin range requests while peers that are
//!   delivering keep theirs; it and every staller is demoted for every asset, with a decay
//!   ([`Config::demotion`]).
//! * A block that fails verification is never released; the sender loses score (ignored at
//!   [`Config::ignore_threshold`]) and the block is asked of someone else.
//! * Verified blocks are stored and pinned while the fetch runs; on completion they are
//!   unpinned and, if all were stored, [`Action::Announce`] follows.
//! * Cancellation and failure cancel outstanding wants and origin requests and unpin.
//!
//! Every decision is reported as an [`Event`] with its reason.

mod accept;
mod asset;
mod config;
mod estimate;
mod origin;
mod peers;
mod policy;
mod types;
mod withhold;

use std::collections::VecDeque;
use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;

use crate::block::{Block, CHUNK_SIZE, Sha256Digest};
use crate::layout::{AssetLayout, Inserted, LayoutError};
use crate::small::{SmallMap, SmallSet};
use crate::stats::{Source, TransferStats};
use crate::store::BlockStore;
use crate::time::Instant;
use crate::wire::RequestId;
use asset::FetchState;
use estimate::RateEstimate;
use origin::{ExpectedLeaf, OriginRequest};
use peers::{InFlight, MAX_STALL_STRIKES, PeerState};
use withhold::askable;

pub use config::Config;
pub use types::{
    Action, BlockSource, CancelOrigin, Deliver, Event, FallbackReason, FetchError, FetchId,
    FetchSummary, OriginError, OriginFetch, OriginRequestId, Output, Penalty, ReassignReason,
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
    peers: SmallMap<P, PeerState>,
    /// Boxed: a fetch's state is large, and ending one moves the entries after it.
    fetches: SmallMap<FetchId, Box<FetchState<P>>>,
    origin_index: SmallMap<OriginRequestId, FetchId>,
    next_fetch: u64,
    next_request: u64,
    next_origin: u64,
    /// Actions and events, in the order they happened.
    outputs: VecDeque<Output<P>>,
    stats: TransferStats,
    origin_latency: Option<Duration>,
    origin_rate: RateEstimate,
    /// Peers whose requests went down since the last [`Planner::refill`] (a block came, a
    /// cancel or DONT_HAVE took some back).
    slots_freed: SmallSet<P>,
}

impl<P: PeerKey, S: BlockStore> Planner<P, S> {
    /// A planner with `config` that caches into `store`.
    pub fn new(config: Config, store: S) -> Self {
        Self {
            config,
            store,
            peers: SmallMap::new(),
            fetches: SmallMap::new(),
            origin_index: SmallMap::new(),
            next_fetch: 0,
            next_request: 0,
            next_origin: 0,
            outputs: VecDeque::new(),
            stats: TransferStats::new(),
            origin_latency: None,
            origin_rate: RateEstimate::unknown(),
            slots_freed: SmallSet::new(),
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

    /// Leaf bytes fetches hold that were verified and not yet handed to the page (see
    /// [`Config::fetch_buffer`]).
    pub fn buffered_bytes(&self) -> u64 {
        self.fetches.values().map(|f| f.buffered()).sum()
    }

    /// Fetches in progress.
    pub fn active_fetches(&self) -> usize {
        self.fetches.len()
    }

    /// The next action to carry out or event to read, in the order the planner decided them.
    /// Drain until `None` after every input (see the [driving contract](self)).
    pub fn poll_output(&mut self) -> Option<Output<P>> {
        self.outputs.pop_front()
    }

    /// When [`Planner::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self
            .fetches
            .values()
            .filter(|f| !f.origin_active && !f.peer_started && f.origin_usable())
            .map(|f| f.started + f.deadline);
        let stalls = self
            .peers
            .values()
            .filter_map(|p| p.stall_at(self.config.stall_timeout, self.config.stall_rate_floor));
        let leaves = self.leaf_deadlines().into_iter().map(|(at, _, _)| at);
        deadlines.chain(stalls).chain(leaves).min()
    }

    /// Starts fetching the asset `root`. `has_origin` says whether the driver can fetch it over
    /// HTTP (it knows the URL); without an origin only peers and the store can provide it.
    pub fn start(&mut self, now: Instant, root: Cid, has_origin: bool) -> FetchId {
        let id = FetchId(self.next_fetch);
        self.next_fetch += 1;
        let layout = match AssetLayout::new(root, self.config.max_asset_size) {
            Ok(layout) => layout,
            Err(source) => {
                self.outputs.push_back(Output::Event(Event::Failed {
                    fetch: id,
                    error: FetchError::Unsupported { cid: root, source },
                }));
                return id;
            }
        };
        let deadline = self.config.deadline_for(&root);
        self.fetches.insert(
            id,
            Box::new(FetchState::new(id, root, now, deadline, layout, has_origin)),
        );
        self.want_from_store(now, id, vec![root]);
        if !self.fetches.contains_key(&id) {
            return id; // Served entirely from the store.
        }
        let announced: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, p)| p.usable() && p.announced.contains(&root))
            .filter(|(_, p)| !(has_origin && p.demoted(now)))
            .map(|(k, _)| k.clone())
            .collect();
        if !announced.is_empty() {
            // Connected peers said they hold it: ask them for the blocks at once, no want-have
            // and no DHT lookup (one starts if they all fail, see `schedule`). Demoted peers
            // are not among them while the origin can serve.
            if let Some(f) = self.fetches.get_mut(&id) {
                f.holders.extend(announced);
                f.discovery_done = true;
            }
            self.schedule(now, id);
            return id;
        }
        self.discover(id);
        let mut asked: Vec<(bool, i32, P)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.usable())
            .map(|(k, p)| (has_origin && p.demoted(now), -p.score, k.clone()))
            .collect();
        // Best-scored first: they get the want-blocks, then the want-haves; the rest are not
        // told what this fetch is after. Demoted peers are only asked whether they have it
        // (they still count if the origin fails).
        asked.sort();
        let direct = if root.codec() == crate::block::RAW_CODEC {
            self.config.want_block_first
        } else {
            0
        };
        let fanout = direct + self.config.want_have_fanout;
        for (i, (demoted, _, peer)) in asked.into_iter().take(fanout).enumerate() {
            if i < direct && !demoted {
                self.ask_block_first(now, id, peer);
            } else {
                self.ask_have(id, peer);
            }
        }
        self.schedule(now, id);
        id
    }

    /// Stops a fetch and releases everything it held.
    pub fn cancel(&mut self, now: Instant, fetch: FetchId) {
        if self.release(fetch) {
            self.outputs
                .push_back(Output::Event(Event::Cancelled { fetch }));
        }
        self.refill(now);
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
            } else if !f.holders.contains(&peer)
                && !f.unanswered.contains(&peer)
                && f.unanswered.len() < self.config.want_have_fanout
            {
                // A few newcomers are asked; the peer's announcement tells the rest.
                self.ask_have(id, peer.clone());
            }
            self.schedule(now, id);
        }
    }

    /// `peer` announced that it holds and serves these asset roots: its have-summary when the
    /// connection started, or roots it came to hold since. Fetches of them ask it for blocks
    /// directly from now on, without a want-have or a DHT lookup. A claim, not a proof: a
    /// don't-have afterwards costs one round trip, and every block is still verified.
    pub fn handle_announced(&mut self, now: Instant, peer: P, roots: &[Cid]) {
        let state = self
            .peers
            .entry(peer.clone())
            .or_insert_with(|| PeerState::new(now));
        if state.ignored {
            return;
        }
        for root in state.announce(roots) {
            self.handle_have(now, peer.clone(), root);
        }
    }

    /// Whether `peer` is known to hold the asset `root`: it announced it, or delivered a
    /// verified block of it (the engine does not announce an asset back to where it came from).
    pub fn peer_holds(&self, peer: &P, root: &Cid) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|state| state.announced.contains(root))
    }

    /// `peer` no longer holds these roots (it evicted them): fetches stop counting on it.
    pub fn handle_withdrawn(&mut self, now: Instant, peer: P, roots: &[Cid]) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        for root in roots {
            state.announced.remove(root);
        }
        for root in roots {
            if !self.fetches_of_root(root).is_empty() {
                self.handle_dont_have(now, peer.clone(), *root);
            }
        }
    }

    /// The connection to `peer` closed, or dialling it failed.
    pub fn handle_peer_disconnected(&mut self, now: Instant, peer: P) {
        // A failed dial reports a peer we never saw connected: it still ends its prospects.
        if let Some(state) = self.peers.get_mut(&peer) {
            state.connected = false;
        }
        for f in self.fetches.values_mut() {
            let held = f.holders.remove(&peer);
            let provided = f.pending_providers.remove(&peer);
            f.lost_holder |= held || provided;
            f.unanswered.remove(&peer);
        }
        self.take_back(&peer, None, ReassignReason::Disconnected);
        if let Some(state) = self.peers.get_mut(&peer) {
            state.announced.clear();
        }
        // Forget peers with a clean record, so per-event work does not grow with every peer
        // ever met; penalised and demoted ones are remembered, so a liar stays ignored and a
        // withholder demoted when it comes back.
        if self.peers.get(&peer).is_some_and(|s| {
            s.score >= 0 && !s.ignored && s.demotion_level(now, self.config.demotion) == 0
        }) {
            self.peers.remove(&peer);
        }
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
                    self.outputs
                        .push_back(Output::Action(Action::Connect { peer: peer.clone() }));
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
        let mut affected = Vec::new();
        for f in self.fetches.values_mut() {
            let mut touched = false;
            if f.root == cid {
                touched |= f.unanswered.remove(&peer);
                touched |= f.holders.remove(&peer);
            }
            if f.layout.is_missing(&cid) {
                f.exclude(cid, peer.clone());
                touched = true;
            }
            if touched {
                affected.push(f.id);
            }
        }
        self.take_back(&peer, Some(&[cid]), ReassignReason::DontHave);
        for id in affected {
            self.finish_or_schedule(now, id);
        }
        self.refill(now);
    }

    /// `peer` sent a block. The bytes are untrusted: they are verified before anything else
    /// (unless they are one of [`Config::known_blocks`], proven already).
    pub fn handle_block(&mut self, now: Instant, peer: P, cid: Cid, data: Bytes) {
        self.receive_block(now, peer, cid, data, None);
    }

    /// [`Planner::handle_block`] for bytes whose SHA-256 the shell computed already, with a
    /// hash function faster than this crate's (see [`Sha256Digest`]): the digest is checked
    /// against `cid` instead of hashing the bytes again.
    pub fn handle_digested_block(
        &mut self,
        now: Instant,
        peer: P,
        cid: Cid,
        data: Bytes,
        digest: Sha256Digest,
    ) {
        self.receive_block(now, peer, cid, data, Some(&digest));
    }

    fn receive_block(
        &mut self,
        now: Instant,
        peer: P,
        cid: Cid,
        data: Bytes,
        digest: Option<&Sha256Digest>,
    ) {
        let state = self
            .peers
            .entry(peer.clone())
            .or_insert_with(|| PeerState::new(now));
        if state.ignored {
            return;
        }
        let flight = state.in_flight.remove(&cid);
        if flight.is_some() {
            self.slots_freed.insert(peer.clone());
        }
        // An idle peer without stall strikes has no stall clock to restart (a new request
        // starts it afresh): for a late block from it the hash is not worth computing, and late
        // copies from want-block-first peers are common.
        let clock_matters =
            flight.is_some() || !state.in_flight.is_empty() || state.stall_strikes > 0;
        let wanting = self.fetches_missing(&cid);
        if wanting.is_empty() {
            // Late or cancelled. If it is genuine the peer is alive and moving bytes (its stall
            // clock restarts); junk proves nothing.
            if clock_matters
                && self.config.known_blocks.is_genuine(&cid, &data, digest)
                && let Some(state) = self.peers.get_mut(&peer)
            {
                state.delivered(now, data.len() as u64, flight);
            }
            if flight.is_some() {
                self.outputs.push_back(Output::Event(Event::BlockDuplicate {
                    cid,
                    from: BlockSource::Peer(peer),
                }));
            }
            self.refill(now);
            return;
        }
        let block = match self.config.known_blocks.verify(cid, data, digest) {
            Ok(block) => block,
            Err(e) => {
                self.corrupt(now, &peer, cid, &wanting, LayoutError::Verify(e));
                return;
            }
        };
        if let Some(state) = self.peers.get_mut(&peer) {
            state.delivered(now, block.len() as u64, flight);
            state.adjust_score(self.config.success_reward, self.config.max_score);
            // It holds those assets as surely as if it had announced them (see
            // `peer_holds`): this node's announcement of them need not go back to it. Once
            // per asset, not per block.
            for f in wanting.iter().filter_map(|id| self.fetches.get(id)) {
                if !state.announced.contains(&f.root) {
                    state.announce(&[f.root]);
                }
            }
        }
        for id in &wanting {
            if let Err(e) = self.accept(now, *id, block.clone(), BlockSource::Peer(peer.clone())) {
                self.corrupt(now, &peer, cid, &wanting, e);
                return;
            }
            self.leaf_delivered(*id, &peer, &cid);
        }
        self.check_slow(now, &peer);
        for id in wanting {
            self.finish_or_schedule(now, id);
        }
        self.refill(now);
    }

    /// The next piece of an origin response body, in order.
    pub fn handle_origin_data(&mut self, now: Instant, request: OriginRequestId, data: Bytes) {
        self.origin_piece(now, request, data, None);
    }

    /// [`Planner::handle_origin_data`] for a piece that is one leaf, with its SHA-256 computed
    /// by the shell (see [`Sha256Digest`]). Leaves are [`CHUNK_SIZE`] bytes from the start of
    /// the file, the last one shorter: a shell that cuts the body of a request, which starts
    /// at a leaf, into pieces of that size (the last one what is left) hands over leaves, and
    /// they are verified by their digests. A piece that turns out not to be a leaf is hashed
    /// here as any other, so a shell that cuts wrongly costs time, never correctness.
    pub fn handle_origin_leaf(
        &mut self,
        now: Instant,
        request: OriginRequestId,
        data: Bytes,
        digest: Sha256Digest,
    ) {
        self.origin_piece(now, request, data, Some(&digest));
    }

    fn origin_piece(
        &mut self,
        now: Instant,
        request: OriginRequestId,
        data: Bytes,
        digest: Option<&Sha256Digest>,
    ) {
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
        match req.feed(now, data, digest, &f.layout, &self.config) {
            Ok(blocks) => self.accept_origin(now, id, blocks),
            Err(e) => self.reject_origin(now, id, request, e),
        }
        // An origin block cancels a peer's copy of it: that slot can serve a waiting fetch.
        self.refill(now);
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
        self.refill(now);
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
            .filter(|f| now >= f.started + f.deadline)
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
                p.stall_at(self.config.stall_timeout, self.config.stall_rate_floor)
                    .is_some_and(|t| now >= t)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for peer in stalled {
            self.stalled(now, &peer);
        }
        self.check_withheld(now);
        self.replan_all(now);
        self.slots_freed.clear();
    }
    // ---- shared helpers --------------------------------------------------------------------

    pub(super) fn fetches_of_root(&self, root: &Cid) -> Vec<FetchId> {
        self.fetches
            .values()
            .filter(|f| f.root == *root)
            .map(|f| f.id)
            .collect()
    }

    pub(super) fn fetches_missing(&self, cid: &Cid) -> Vec<FetchId> {
        self.fetches
            .values()
            .filter(|f| f.layout.is_missing(cid))
            .map(|f| f.id)
            .collect()
    }

    /// Asks the DHT for providers of the fetch's root, once per fetch.
    pub(super) fn discover(&mut self, id: FetchId) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        if f.discovery_started {
            return;
        }
        f.discovery_started = true;
        f.discovery_done = false;
        let cid = f.root;
        self.outputs
            .push_back(Output::Action(Action::FindProviders { cid }));
    }

    pub(super) fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// Asks a connected peer for the (single-block) root straight away instead of asking
    /// whether it has it: one round trip fewer when it does; when it does not it answers
    /// don't-have, as it would to a want-have.
    pub(super) fn ask_block_first(&mut self, now: Instant, id: FetchId, peer: P) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.unanswered.insert(peer.clone());
        let cid = f.root;
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.request(
            now,
            cid,
            InFlight {
                fetch: id,
                sent: now,
                expected: CHUNK_SIZE as u64,
            },
        );
        let rid = self.request_id();
        self.outputs
            .push_back(Output::Action(Action::SendWantBlock {
                peer,
                id: rid,
                cids: vec![cid],
            }));
    }

    pub(super) fn ask_have(&mut self, id: FetchId, peer: P) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.unanswered.insert(peer.clone());
        let cids = vec![f.root];
        let id = self.request_id();
        self.outputs
            .push_back(Output::Action(Action::SendWantHave { peer, id, cids }));
    }
}

/// Expected size of a block: a leaf's length, a chunk for nodes and unknown roots.
pub(super) fn expected_size<P: Ord + Clone>(f: &FetchState<P>, cid: &Cid) -> u64 {
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
