//! [`BlockServer`], its settings and its counters.

use std::collections::VecDeque;

use cid::Cid;

use crate::block::MAX_BLOCK_SIZE;
use crate::small::SmallMap;
use crate::store::BlockStore;
use crate::time::Instant;
use crate::wire::{BlockRequest, BlockResponse};

use super::budget::TokenBucket;

/// Responses in flight to one peer by default: enough to keep a pipelined fetch busy (the
/// planner asks 16 blocks of a peer at a time), few enough that one peer cannot hold all of
/// the node's upload.
pub const DEFAULT_MAX_CONCURRENT_PER_PEER: usize = 32;

/// Blocks being handed to one peer's stream at a time by default. Two: the block exchange
/// sends a peer's answers one after another on one stream, and a block counts as sent once the
/// transport took it (a browser's data channel buffers up to 1 MiB before a write waits), so
/// one block being written and one ready behind it keep the link busy. Every block past them
/// waits here, where a cancel still drops it unsent. With 8 (the default while each answer had
/// a stream of its own) the swarm demo's tabs uploaded 1.02–1.21× the bytes peers used; with 2,
/// 1.05–1.06×, at the same throughput (docs/BENCHMARKS-WEBRTC.md).
pub const DEFAULT_SEND_WINDOW_PER_PEER: usize = 2;

/// Per-peer upload buckets kept before full ones are dropped (a full bucket is the same as a
/// fresh one, so dropping it forgets nothing; keeping it past `peer_gone` stops a peer from
/// reconnecting for a fresh share).
const MAX_PEER_BUCKETS: usize = 1024;

/// Settings of a [`BlockServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Bytes of block data served per minute, on average; `None` for no limit, `Some(0)` to
    /// serve nothing. Default `None`.
    pub upload_bytes_per_minute: Option<u64>,
    /// Largest burst of block data, in bytes. Default: one minute's budget, and never less
    /// than [`MAX_BLOCK_SIZE`] (a smaller bucket could never pay for a large block).
    pub upload_burst_bytes: Option<u64>,
    /// Responses in flight to one peer; more requests are answered `DontHave`.
    /// Default [`DEFAULT_MAX_CONCURRENT_PER_PEER`].
    pub max_concurrent_per_peer: usize,
    /// Blocks being sent to one peer at once, when the driver admits want-blocks with
    /// [`BlockServer::admit`]; more wait (within [`ServeConfig::max_concurrent_per_peer`]) and
    /// can be cancelled before a byte of them is sent. Default [`DEFAULT_SEND_WINDOW_PER_PEER`].
    pub send_window_per_peer: usize,
    /// Most of the upload budget one peer may take, in percent of its rate and burst (1–100);
    /// with an upload budget below 100, each peer has its own bucket beside the shared one,
    /// so one peer cannot spend all of it. Default 100 (no per-peer share).
    pub peer_share_percent: u8,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            upload_bytes_per_minute: None,
            upload_burst_bytes: None,
            max_concurrent_per_peer: DEFAULT_MAX_CONCURRENT_PER_PEER,
            send_window_per_peer: DEFAULT_SEND_WINDOW_PER_PEER,
            peer_share_percent: 100,
        }
    }
}

impl ServeConfig {
    /// The defaults: no upload limit, [`DEFAULT_MAX_CONCURRENT_PER_PEER`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ServeConfig::upload_bytes_per_minute`].
    pub fn with_upload_budget(mut self, bytes_per_minute: Option<u64>) -> Self {
        self.upload_bytes_per_minute = bytes_per_minute;
        self
    }

    /// Sets [`ServeConfig::upload_burst_bytes`].
    pub fn with_upload_burst(mut self, bytes: u64) -> Self {
        self.upload_burst_bytes = Some(bytes);
        self
    }

    /// Sets [`ServeConfig::send_window_per_peer`] (at least 1).
    pub fn with_send_window_per_peer(mut self, n: usize) -> Self {
        self.send_window_per_peer = n.max(1);
        self
    }

    /// Sets [`ServeConfig::peer_share_percent`] (clamped to 1–100).
    pub fn with_peer_share_percent(mut self, percent: u8) -> Self {
        self.peer_share_percent = percent.clamp(1, 100);
        self
    }

    /// The per-peer bucket's rate and burst: `None` without an upload budget or per-peer
    /// share.
    fn peer_bucket(&self) -> Option<(u64, u64)> {
        let rate = self.upload_bytes_per_minute?;
        if self.peer_share_percent >= 100 || rate == 0 {
            return None;
        }
        let share = |b: u64| b.saturating_mul(u64::from(self.peer_share_percent)) / 100;
        let burst = self.upload_burst_bytes.unwrap_or(rate);
        Some((share(rate), share(burst).max(MAX_BLOCK_SIZE as u64)))
    }

    /// Sets [`ServeConfig::max_concurrent_per_peer`] (at least 1).
    pub fn with_max_concurrent_per_peer(mut self, n: usize) -> Self {
        self.max_concurrent_per_peer = n.max(1);
        self
    }
}

/// What [`BlockServer::answer`] decided, for logs and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeOutcome {
    /// A want-have, answered truthfully.
    Had {
        /// CIDs held.
        held: usize,
        /// CIDs asked about.
        asked: usize,
    },
    /// A block was sent.
    Served {
        /// Its size.
        bytes: u64,
    },
    /// The block is not held.
    NotHeld,
    /// The block is held but the upload budget is spent: answered `DontHave`.
    OverBudget,
    /// The peer already has its cap of responses in flight: answered `DontHave`.
    PeerBusy,
    /// A notice (announcement, withdrawal, cancel): acknowledged; acting on it is the
    /// node's business.
    Notice,
    /// The block is held but this peer spent its share of the upload budget: answered
    /// `DontHave`.
    OverPeerShare,
    /// Serving is paused (see [`BlockServer::set_paused`]): answered `DontHave`.
    Paused,
}

/// A response to send and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Send this.
    pub response: BlockResponse,
    /// Why.
    pub outcome: ServeOutcome,
}

/// Counters of a [`BlockServer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Blocks sent.
    pub blocks_served: u64,
    /// Bytes of block data sent.
    pub bytes_served: u64,
    /// Want-haves answered.
    pub want_haves: u64,
    /// Want-blocks for blocks not held.
    pub not_held: u64,
    /// Want-blocks refused for the upload budget.
    pub over_budget: u64,
    /// Requests refused for the per-peer cap.
    pub peer_busy: u64,
    /// Want-blocks cancelled by the requester before their block was sent.
    pub cancelled: u64,
    /// Want-blocks refused because the peer spent its share of the upload budget.
    pub over_peer_share: u64,
    /// Requests refused while serving was paused.
    pub paused: u64,
}

/// Whether a want-block may be answered now ([`BlockServer::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Answer it now with [`BlockServer::answer`].
    Now,
    /// Keep it: [`BlockServer::poll_admitted`] names it when a send slot frees, or
    /// [`BlockServer::cancel`] when the requester withdraws it.
    Later,
}

/// Answers block requests. Sans-IO: the driver passes the time and the store, sends the
/// returned response, and reports when it is done.
///
/// # Driving contract
///
/// 1. For each inbound request call [`BlockServer::admit`]; when it says
///    [`Admission::Now`], call [`BlockServer::answer`] and send the response; otherwise keep
///    the request until the server names it. (A driver that never cancels may call `answer`
///    directly: then every block is sent at once, up to the per-peer cap.)
/// 2. When that response was sent or failed, call [`BlockServer::finished`] with its id
///    (the block-exchange session's `ResponseSent`, `InboundFailure`). Unknown ids are ignored, so
///    failures of requests that were never answered can be passed too.
/// 3. After `finished`, drain [`BlockServer::poll_admitted`]: each id it returns is a kept
///    request to answer now. A cancel notice from a peer goes to [`BlockServer::cancel`],
///    which returns the kept requests to answer `DontHave` without a block.
/// 4. When the last connection to a peer closes, call [`BlockServer::peer_gone`].
///
/// `P` names a peer (libp2p's `PeerId` in a node, a number in the simulator); `R` names a
/// request (the session's `InboundRequestId` in a node, a counter in the simulator).
#[derive(Debug)]
pub struct BlockServer<P, R> {
    config: ServeConfig,
    bucket: Option<TokenBucket>,
    /// Each peer's share of the upload budget (with [`ServeConfig::peer_share_percent`]).
    peer_buckets: SmallMap<P, TokenBucket>,
    /// Whether every request but notices is refused for now.
    paused: bool,
    /// Responses in flight or kept, by request: who asked, and whether a block is being sent.
    in_flight: SmallMap<R, (P, bool)>,
    /// Responses in flight or kept per peer (entries > 0 only).
    per_peer: SmallMap<P, usize>,
    /// Blocks being sent per peer (entries > 0 only).
    sending: SmallMap<P, usize>,
    /// Want-blocks kept per peer, oldest first, with the block each asks for.
    kept: SmallMap<P, VecDeque<(R, Cid)>>,
    /// Kept requests whose turn came, for [`BlockServer::poll_admitted`]; each holds a send
    /// slot of its peer.
    admitted: VecDeque<(R, P)>,
    stats: ServeStats,
}

impl<P: Ord + Clone, R: Ord + Clone> BlockServer<P, R> {
    /// A server with `config` and a full budget.
    pub fn new(config: ServeConfig) -> Self {
        let bucket = config.upload_bytes_per_minute.map(|rate| {
            // A budget of 0 means "serve nothing": no minimum burst then.
            let burst = if rate == 0 {
                0
            } else {
                config
                    .upload_burst_bytes
                    .unwrap_or(rate)
                    .max(MAX_BLOCK_SIZE as u64)
            };
            TokenBucket::new(rate, burst)
        });
        Self {
            config,
            bucket,
            peer_buckets: SmallMap::new(),
            paused: false,
            in_flight: SmallMap::new(),
            per_peer: SmallMap::new(),
            sending: SmallMap::new(),
            kept: SmallMap::new(),
            admitted: VecDeque::new(),
            stats: ServeStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> ServeStats {
        self.stats
    }

    /// Stops (`true`) or resumes serving: while paused every request but a notice is answered
    /// `DontHave`, as if nothing were held (a tab in the background, or on a metered
    /// connection). Notices are still acknowledged, so a peer's cancels are still heard.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Whether serving is paused.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Responses in flight to `peer`.
    pub fn in_flight(&self, peer: &P) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Upload budget left now, in bytes; `None` without a budget.
    pub fn budget_available(&mut self, now: Instant) -> Option<u64> {
        self.bucket.as_mut().map(|b| b.available(now))
    }

    /// Whether `request` from `peer` may be answered now: want-blocks wait while the peer has
    /// [`ServeConfig::send_window_per_peer`] blocks on the way (unless the per-peer cap is
    /// reached: then [`BlockServer::answer`] refuses it at once); everything else goes now.
    pub fn admit(&mut self, peer: &P, request_id: R, request: &BlockRequest) -> Admission {
        let BlockRequest::WantBlock { cid, .. } = request else {
            return Admission::Now;
        };
        let sending = self.sending.get(peer).copied().unwrap_or(0);
        if sending < self.config.send_window_per_peer
            || self.in_flight(peer) >= self.config.max_concurrent_per_peer
        {
            return Admission::Now;
        }
        if self
            .in_flight
            .insert(request_id.clone(), (peer.clone(), false))
            .is_none()
        {
            *self.per_peer.entry(peer.clone()).or_insert(0) += 1;
        }
        self.kept
            .entry(peer.clone())
            .or_default()
            .push_back((request_id, *cid));
        Admission::Later
    }

    /// The next kept request to answer now (see the driving contract).
    pub fn poll_admitted(&mut self) -> Option<R> {
        self.admitted.pop_front().map(|(rid, _)| rid)
    }

    /// `peer` no longer wants `cids`: its kept want-blocks for them are dropped. Returns their
    /// ids, to answer `DontHave` (no block). Blocks already being sent are not interrupted.
    pub fn cancel(&mut self, peer: &P, cids: &[Cid]) -> Vec<R> {
        let Some(queue) = self.kept.get_mut(peer) else {
            return Vec::new();
        };
        let mut dropped = Vec::new();
        queue.retain(|(rid, cid)| {
            let keep = !cids.contains(cid);
            if !keep {
                dropped.push(rid.clone());
            }
            keep
        });
        if queue.is_empty() {
            self.kept.remove(peer);
        }
        for rid in &dropped {
            self.forget(rid);
        }
        self.stats.cancelled += dropped.len() as u64;
        dropped
    }

    /// The answer to `request` from `peer`.
    pub fn answer<S: BlockStore>(
        &mut self,
        now: Instant,
        peer: P,
        request_id: R,
        request: &BlockRequest,
        store: &mut S,
    ) -> Answer {
        // Notices cost an acknowledgement only: never refused for the per-peer cap (a busy
        // peer must still learn of cancels) and not counted in it.
        let notice = request.is_notice();
        // A kept request was counted when it was kept.
        let counted = self.in_flight.contains_key(&request_id);
        let busy =
            !notice && !counted && self.in_flight(&peer) >= self.config.max_concurrent_per_peer;
        let serving = matches!(request, BlockRequest::WantBlock { .. }) && !busy;
        if !notice {
            if !counted {
                *self.per_peer.entry(peer.clone()).or_insert(0) += 1;
            }
            self.in_flight
                .insert(request_id.clone(), (peer.clone(), serving));
            if serving {
                *self.sending.entry(peer.clone()).or_insert(0) += 1;
            }
        }
        let id = request.id();
        let refuse = |outcome| Answer {
            response: BlockResponse::DontHave {
                id,
                cids: request.cids().to_vec(),
            },
            outcome,
        };
        if self.paused && !notice {
            self.stats.paused += 1;
            return refuse(ServeOutcome::Paused);
        }
        if busy {
            self.stats.peer_busy += 1;
            return refuse(ServeOutcome::PeerBusy);
        }
        match request {
            BlockRequest::WantHave { cids, .. } => {
                self.stats.want_haves += 1;
                let held: Vec<_> = cids.iter().filter(|c| store.contains(c)).copied().collect();
                let outcome = ServeOutcome::Had {
                    held: held.len(),
                    asked: cids.len(),
                };
                if held.is_empty() {
                    return refuse(outcome);
                }
                Answer {
                    response: BlockResponse::Have { id, cids: held },
                    outcome,
                }
            }
            BlockRequest::WantBlock { cid, .. } => {
                let Some(block) = store.get(cid) else {
                    self.stats.not_held += 1;
                    return refuse(ServeOutcome::NotHeld);
                };
                let bytes = block.len() as u64;
                if let Some((rate, burst)) = self.config.peer_bucket() {
                    if self.peer_buckets.len() >= MAX_PEER_BUCKETS
                        && !self.peer_buckets.contains_key(&peer)
                    {
                        // Full buckets go (checking one refills it, hence by value).
                        for (peer, mut bucket) in std::mem::take(&mut self.peer_buckets) {
                            if !bucket.is_full(now) {
                                self.peer_buckets.insert(peer, bucket);
                            }
                        }
                        if self.peer_buckets.len() >= MAX_PEER_BUCKETS {
                            // Bounded memory: newcomers wait until some share has refilled.
                            self.stats.over_peer_share += 1;
                            return refuse(ServeOutcome::OverPeerShare);
                        }
                    }
                    let share = self
                        .peer_buckets
                        .entry(peer.clone())
                        .or_insert_with(|| TokenBucket::new(rate, burst));
                    if share.available(now) < bytes {
                        self.stats.over_peer_share += 1;
                        return refuse(ServeOutcome::OverPeerShare);
                    }
                    // Spent only once the shared budget pays too (below).
                }
                if let Some(bucket) = &mut self.bucket
                    && !bucket.try_take(now, bytes)
                {
                    self.stats.over_budget += 1;
                    return refuse(ServeOutcome::OverBudget);
                }
                if let Some(share) = self.peer_buckets.get_mut(&peer) {
                    // Checked above: enough is available.
                    let _ = share.try_take(now, bytes);
                }
                self.stats.blocks_served += 1;
                self.stats.bytes_served += bytes;
                let (cid, data) = block.into_parts();
                Answer {
                    response: BlockResponse::Block { id, cid, data },
                    outcome: ServeOutcome::Served { bytes },
                }
            }
            BlockRequest::Announce { .. }
            | BlockRequest::Withdraw { .. }
            | BlockRequest::Cancel { .. } => Answer {
                response: BlockResponse::ack(id),
                outcome: ServeOutcome::Notice,
            },
        }
    }

    /// The response to `request_id` was sent or failed (or, for a kept request, its stream
    /// failed before its turn). Frees its send slot for the peer's oldest kept want-block,
    /// which [`BlockServer::poll_admitted`] then names.
    pub fn finished(&mut self, request_id: R) {
        if let Some((peer, _)) = self.forget(&request_id) {
            self.refill(&peer);
        }
    }

    /// Hands the peer's free send slots to its oldest kept want-blocks.
    fn refill(&mut self, peer: &P) {
        let busy = self.sending.get(peer).copied().unwrap_or(0)
            + self.admitted.iter().filter(|(_, p)| p == peer).count();
        let Some(queue) = self.kept.get_mut(peer) else {
            return;
        };
        for _ in busy..self.config.send_window_per_peer {
            let Some((next, _)) = queue.pop_front() else {
                break;
            };
            self.admitted.push_back((next, peer.clone()));
        }
        if queue.is_empty() {
            self.kept.remove(peer);
        }
    }

    /// The last connection to `peer` closed: forget its responses in flight and kept.
    pub fn peer_gone(&mut self, peer: &P) {
        self.in_flight.retain(|_, (p, _)| p != peer);
        self.per_peer.remove(peer);
        self.sending.remove(peer);
        self.kept.remove(peer);
        self.admitted.retain(|(_, p)| p != peer);
    }

    /// Removes a request from the counts (and from the kept ones); returns who asked and
    /// whether a block was being sent.
    fn forget(&mut self, request_id: &R) -> Option<(P, bool)> {
        let (peer, sent) = self.in_flight.remove(request_id)?;
        decrement(&mut self.per_peer, &peer);
        if sent {
            decrement(&mut self.sending, &peer);
        } else {
            self.admitted.retain(|(rid, _)| rid != request_id);
            if let Some(queue) = self.kept.get_mut(&peer) {
                queue.retain(|(rid, _)| rid != request_id);
                if queue.is_empty() {
                    self.kept.remove(&peer);
                }
            }
        }
        Some((peer, sent))
    }
}

fn decrement<P: Ord>(counts: &mut SmallMap<P, usize>, peer: &P) {
    if let Some(n) = counts.get_mut(peer) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Block;
    use crate::block::RAW_CODEC;
    use crate::store::MemoryStore;
    use crate::wire::RequestId;
    use bytes::Bytes;

    fn store_with(blocks: &[&Block]) -> MemoryStore {
        let mut store = MemoryStore::new(16 << 20);
        for b in blocks {
            store.put((*b).clone()).unwrap();
        }
        store
    }

    fn block(len: usize, fill: u8) -> Block {
        Block::from_data(RAW_CODEC, Bytes::from(vec![fill; len]))
    }

    fn want_block(cid: cid::Cid) -> BlockRequest {
        BlockRequest::WantBlock {
            id: RequestId(1),
            cid,
        }
    }

    #[test]
    fn answers_want_have_with_the_held_subset() {
        let (a, b) = (block(10, 1), block(10, 2));
        let mut store = store_with(&[&a]);
        let mut server: BlockServer<u32, u64> = BlockServer::new(ServeConfig::new());
        let peer = 1;
        let now = Instant::ZERO;
        let req = BlockRequest::WantHave {
            id: RequestId(5),
            cids: vec![*a.cid(), *b.cid()],
        };
        let answer = server.answer(now, peer, 1, &req, &mut store);
        assert_eq!(
            answer.response,
            BlockResponse::Have {
                id: RequestId(5),
                cids: vec![*a.cid()]
            }
        );
        let req = BlockRequest::WantHave {
            id: RequestId(6),
            cids: vec![*b.cid()],
        };
        let answer = server.answer(now, peer, 2, &req, &mut store);
        assert_eq!(
            answer.response,
            BlockResponse::DontHave {
                id: RequestId(6),
                cids: vec![*b.cid()]
            }
        );
    }

    #[test]
    fn serves_held_blocks_and_refuses_missing_ones() {
        let (a, b) = (block(100, 1), block(100, 2));
        let mut store = store_with(&[&a]);
        let mut server: BlockServer<u32, u64> = BlockServer::new(ServeConfig::new());
        let peer = 1;
        let answer = server.answer(Instant::ZERO, peer, 1, &want_block(*a.cid()), &mut store);
        assert_eq!(answer.outcome, ServeOutcome::Served { bytes: 100 });
        assert!(
            matches!(answer.response, BlockResponse::Block { ref data, .. } if data == a.data())
        );
        let answer = server.answer(Instant::ZERO, peer, 2, &want_block(*b.cid()), &mut store);
        assert_eq!(answer.outcome, ServeOutcome::NotHeld);
        assert!(matches!(answer.response, BlockResponse::DontHave { .. }));
        assert_eq!(server.stats().bytes_served, 100);
        assert_eq!(server.stats().not_held, 1);
    }

    #[test]
    fn an_upload_budget_of_zero_serves_nothing() {
        let small = block(100, 4);
        let mut store = store_with(&[&small]);
        let mut server: BlockServer<u32, u64> =
            BlockServer::new(ServeConfig::new().with_upload_budget(Some(0)));
        let peer = 1;
        let req = want_block(*small.cid());
        for (i, t) in [1u64, 3_600_000].into_iter().enumerate() {
            let answer = server.answer(Instant::from_millis(t), peer, i as u64, &req, &mut store);
            assert_eq!(answer.outcome, ServeOutcome::OverBudget);
            server.finished(i as u64);
        }
        assert_eq!(server.stats().bytes_served, 0);
    }

    #[test]
    fn upload_budget_refuses_then_recovers() {
        let big = block(MAX_BLOCK_SIZE, 3);
        let mut store = store_with(&[&big]);
        // 1 MiB per minute, burst one block.
        let config = ServeConfig::new().with_upload_budget(Some(MAX_BLOCK_SIZE as u64));
        let mut server: BlockServer<u32, u64> = BlockServer::new(config);
        let peer = 1;
        let t0 = Instant::from_millis(1);
        let req = want_block(*big.cid());
        assert!(matches!(
            server.answer(t0, peer, 1, &req, &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        server.finished(1);
        let refused = server.answer(t0, peer, 2, &req, &mut store);
        assert_eq!(refused.outcome, ServeOutcome::OverBudget);
        assert!(matches!(refused.response, BlockResponse::DontHave { .. }));
        server.finished(2);
        // Half a minute refills half a block: still refused; a minute refills all of it.
        let t1 = t0 + std::time::Duration::from_secs(30);
        assert_eq!(
            server.answer(t1, peer, 3, &req, &mut store).outcome,
            ServeOutcome::OverBudget
        );
        let t2 = t0 + std::time::Duration::from_secs(60);
        assert!(matches!(
            server.answer(t2, peer, 4, &req, &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        assert_eq!(server.stats().over_budget, 2);
    }

    #[test]
    fn one_peer_cannot_take_more_than_its_share() {
        let big = block(MAX_BLOCK_SIZE, 5);
        let mut store = store_with(&[&big]);
        // 4 blocks a minute in all, a quarter each: one block per peer per minute.
        let budget = 4 * MAX_BLOCK_SIZE as u64;
        let config = ServeConfig::new()
            .with_upload_budget(Some(budget))
            .with_peer_share_percent(25);
        let mut server: BlockServer<u32, u64> = BlockServer::new(config);
        let req = want_block(*big.cid());
        let t0 = Instant::from_millis(1);
        let mut id = 0;
        let mut ask = |server: &mut BlockServer<u32, u64>, peer, t| {
            id += 1;
            let outcome = server.answer(t, peer, id, &req, &mut store).outcome;
            server.finished(id);
            outcome
        };
        assert!(matches!(
            ask(&mut server, 1, t0),
            ServeOutcome::Served { .. }
        ));
        // The greedy peer is refused although the shared budget has three blocks left...
        assert_eq!(ask(&mut server, 1, t0), ServeOutcome::OverPeerShare);
        assert_eq!(server.budget_available(t0), Some(3 * MAX_BLOCK_SIZE as u64));
        // ...which the others still get.
        for peer in 2..=4 {
            assert!(matches!(
                ask(&mut server, peer, t0),
                ServeOutcome::Served { .. }
            ));
        }
        // A refusal by the shared budget spends nothing of the peer's share.
        let t1 = t0 + std::time::Duration::from_secs(60);
        assert!(matches!(
            ask(&mut server, 1, t1),
            ServeOutcome::Served { .. }
        ));
        assert_eq!(server.stats().over_peer_share, 1);
        // Leaving and coming back does not give a fresh share.
        server.peer_gone(&1);
        assert_eq!(ask(&mut server, 1, t1), ServeOutcome::OverPeerShare);
    }

    #[test]
    fn paused_serves_nothing_until_resumed() {
        let a = block(10, 1);
        let mut store = store_with(&[&a]);
        let mut server: BlockServer<u32, u64> = BlockServer::new(ServeConfig::new());
        server.set_paused(true);
        let have = BlockRequest::WantHave {
            id: RequestId(1),
            cids: vec![*a.cid()],
        };
        for (i, req) in [have, want_block(*a.cid())].iter().enumerate() {
            let answer = server.answer(Instant::ZERO, 1, i as u64, req, &mut store);
            assert_eq!(answer.outcome, ServeOutcome::Paused);
            assert!(matches!(answer.response, BlockResponse::DontHave { .. }));
            server.finished(i as u64);
        }
        assert_eq!(server.stats().paused, 2);
        server.set_paused(false);
        let answer = server.answer(Instant::ZERO, 1, 9, &want_block(*a.cid()), &mut store);
        assert_eq!(answer.outcome, ServeOutcome::Served { bytes: 10 });
    }

    #[test]
    fn caps_responses_in_flight_per_peer() {
        let a = block(10, 1);
        let mut store = store_with(&[&a]);
        let config = ServeConfig::new().with_max_concurrent_per_peer(2);
        let mut server: BlockServer<u32, u64> = BlockServer::new(config);
        let (p, q) = (1, 2);
        let req = want_block(*a.cid());
        let now = Instant::ZERO;
        assert!(matches!(
            server.answer(now, p, 1, &req, &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        assert!(matches!(
            server.answer(now, p, 2, &req, &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        assert_eq!(
            server.answer(now, p, 3, &req, &mut store).outcome,
            ServeOutcome::PeerBusy
        );
        // Another peer is unaffected.
        assert!(matches!(
            server.answer(now, q, 4, &req, &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        assert_eq!(server.in_flight(&p), 3);
        server.finished(1);
        server.finished(3);
        server.finished(3); // twice: ignored
        server.finished(99); // unknown: ignored
        assert_eq!(server.in_flight(&p), 1);
        assert!(matches!(
            server.answer(now, p, 5, &req, &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        server.peer_gone(&p);
        assert_eq!(server.in_flight(&p), 0);
        assert_eq!(server.in_flight(&q), 1);
    }

    #[test]
    fn keeps_want_blocks_beyond_the_send_window_and_cancels_them_unsent() {
        let blocks: Vec<Block> = (0..5).map(|n| block(1000, n)).collect();
        let mut store = store_with(&blocks.iter().collect::<Vec<_>>());
        let mut server: BlockServer<u32, u64> =
            BlockServer::new(ServeConfig::new().with_send_window_per_peer(2));
        let (p, now) = (1, Instant::ZERO);
        let want = |n: usize| want_block(*blocks[n].cid());
        let mut sent = Vec::new();
        for rid in 0..5u64 {
            if server.admit(&p, rid, &want(rid as usize)) == Admission::Now {
                let answer = server.answer(now, p, rid, &want(rid as usize), &mut store);
                assert!(matches!(answer.outcome, ServeOutcome::Served { .. }));
                sent.push(rid);
            }
        }
        assert_eq!(sent, vec![0, 1], "two on the way, three kept");
        assert_eq!(server.in_flight(&p), 5);
        assert_eq!(server.poll_admitted(), None);
        // A notice goes at once, whatever the window.
        let cancel = BlockRequest::Cancel {
            id: RequestId(9),
            cids: vec![*blocks[3].cid(), *blocks[0].cid()],
        };
        assert_eq!(server.admit(&p, 10, &cancel), Admission::Now);
        assert_eq!(
            server.answer(now, p, 10, &cancel, &mut store).outcome,
            ServeOutcome::Notice
        );
        // Block 3 is dropped unsent; block 0 is on the way already.
        assert_eq!(
            server.cancel(&p, &[*blocks[3].cid(), *blocks[0].cid()]),
            vec![3]
        );
        assert_eq!(server.stats().cancelled, 1);
        assert_eq!(server.stats().blocks_served, 2);
        // A slot frees: the oldest kept one goes next, then the last.
        server.finished(0);
        assert_eq!(server.poll_admitted(), Some(2));
        assert_eq!(server.poll_admitted(), None);
        assert!(matches!(
            server.answer(now, p, 2, &want(2), &mut store).outcome,
            ServeOutcome::Served { .. }
        ));
        server.finished(1);
        assert_eq!(server.poll_admitted(), Some(4));
        // A kept request whose stream failed before its turn frees its place.
        server.finished(4);
        server.finished(2);
        assert_eq!(server.poll_admitted(), None);
        assert_eq!(server.in_flight(&p), 0);
        assert_eq!(server.stats().blocks_served, 3);
    }
}
