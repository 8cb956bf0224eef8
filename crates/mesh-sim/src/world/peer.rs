//! One simulated browser tab: its fixed attributes and its live state.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::Bytes;
use mesh_core::fetch::{FetchId, OriginRequestId, Planner};
use mesh_core::serve::{BlockServer, ServeOutcome};
use mesh_core::store::MemoryStore;
use mesh_core::wire::{BlockRequest, BlockResponse};
use smallvec::SmallVec;

use crate::content::BlockRef;
use crate::rng::Stream;

/// What never changes about a peer (kept after it leaves, so messages to it can be judged).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs {
    /// One-way access latency.
    pub(crate) latency_us: u64,
    /// Downlink, bytes per second.
    pub(crate) down_bps: f64,
    /// Uplink share mesh may use, bytes per second.
    pub(crate) serve_bps: f64,
    /// Behind a NAT that accepts no connections.
    pub(crate) nat: bool,
    pub(crate) online: bool,
}

/// An open connection, when it last carried anything and until when it is expected to carry
/// something (for choosing which connection to close).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    pub(crate) peer: u32,
    pub(crate) last_active: u64,
    /// Blocks were asked on it: it is busy until this time unless blocks arrive sooner.
    pub(crate) busy_until: u64,
    /// Whether the planner has been told about it (see [`PeerState::report_connections`]).
    pub(crate) reported: bool,
}

/// A block waiting for the uplink: the block server's answer to one want-block.
#[derive(Debug)]
pub(crate) struct Upload {
    /// The block server's name for the request, to report it finished.
    pub(crate) request: u64,
    pub(crate) to: u32,
    pub(crate) block: BlockRef,
    pub(crate) data: Bytes,
}

/// A fetch the planner is running, and for which asset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActiveFetch {
    pub(crate) id: FetchId,
    pub(crate) asset: u32,
}

/// An origin response being received.
#[derive(Debug)]
pub(crate) struct OriginBody {
    pub(crate) id: OriginRequestId,
    pub(crate) asset: u32,
    /// Next byte to deliver.
    pub(crate) pos: u64,
    pub(crate) range: Range<u64>,
    /// This request's throughput, bytes per second.
    pub(crate) rate: f64,
}

/// Connections held inline up to the default limit: every message looks its connection up, and
/// a separate allocation would be one more cache miss per event at 10,000 peers.
pub(crate) type Conns = SmallVec<[Conn; 16]>;

/// The assets a peer announced, in announcement order (the registry is told about them in
/// this order when the peer leaves), with a bit per asset so that "did it announce this?",
/// asked after every completed fetch, does not scan the list.
#[derive(Debug, Default)]
pub(crate) struct AssetList {
    order: Vec<u32>,
    member: Vec<u64>,
}

impl AssetList {
    pub(crate) fn contains(&self, asset: u32) -> bool {
        let (word, bit) = (asset as usize / 64, asset % 64);
        self.member.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Adds `asset` at the end (it must not be in the list).
    pub(crate) fn push(&mut self, asset: u32) {
        let (word, bit) = (asset as usize / 64, asset % 64);
        if self.member.len() <= word {
            self.member.resize(word + 1, 0);
        }
        self.member[word] |= 1 << bit;
        self.order.push(asset);
    }

    /// Removes `asset` as `Vec::swap_remove` at its position would; false if absent.
    pub(crate) fn swap_remove(&mut self, asset: u32) -> bool {
        if !self.contains(asset) {
            return false;
        }
        if let Some(i) = self.order.iter().position(|&a| a == asset) {
            self.order.swap_remove(i);
        }
        self.member[asset as usize / 64] &= !(1 << (asset % 64));
        true
    }

    pub(crate) fn as_slice(&self) -> &[u32] {
        &self.order
    }
}

/// A peer while it is online.
#[derive(Debug)]
pub(crate) struct PeerState {
    /// mesh-core's planner, with the tab's store as its cache.
    pub(crate) planner: Planner<u32, MemoryStore>,
    /// Its behaviour: page views, asset choices.
    pub(crate) rng: Stream,
    pub(crate) session_end: u64,
    pub(crate) conns: Conns,
    pub(crate) dialing: Vec<u32>,
    /// Answers peers' requests within the upload budget and per-peer cap. Its responses in
    /// flight are the queued uploads and the one on the uplink, so it also bounds the queue
    /// (connections times the per-peer cap).
    pub(crate) server: BlockServer<u32, u64>,
    /// Names the next request the server answers.
    pub(crate) next_request: u64,
    pub(crate) uploads: VecDeque<Upload>,
    /// The peer the uplink is sending to, and the request it answers.
    pub(crate) uploading: Option<(u32, u64)>,
    pub(crate) fetches: Vec<ActiveFetch>,
    pub(crate) origin: Vec<OriginBody>,
    /// Assets it announced (its provider records).
    pub(crate) announced: AssetList,
    /// Announcements on their way to the registry.
    pub(crate) announcing: Vec<u32>,
    /// Due time of the planner timer armed, `u64::MAX` if none.
    pub(crate) timer_at: u64,
    /// Its session is over but it stays to finish a download.
    pub(crate) leave_when_done: bool,
}

impl PeerState {
    pub(crate) fn conn(&self, peer: u32) -> Option<usize> {
        self.conns.iter().position(|c| c.peer == peer)
    }

    pub(crate) fn is_connected(&self, peer: u32) -> bool {
        self.conn(peer).is_some()
    }

    /// Marks the connection to `peer` used at `now`; false if there is none.
    pub(crate) fn touch(&mut self, peer: u32, now: u64) -> bool {
        match self.conns.iter_mut().find(|c| c.peer == peer) {
            Some(c) => {
                c.last_active = now;
                true
            }
            None => false,
        }
    }

    /// Whether the connection to `peer` carries, or is about to carry, blocks either way.
    pub(crate) fn is_busy(&self, c: &Conn, now: u64) -> bool {
        c.busy_until > now
            || self.uploading.is_some_and(|(to, _)| to == c.peer)
            || self.uploads.iter().any(|u| u.to == c.peer)
    }

    /// The connection to close to make room: an idle one if any, the least recently used
    /// among equals; never `keep`.
    pub(crate) fn eviction_victim(&self, keep: u32, now: u64) -> Option<u32> {
        self.conns
            .iter()
            .filter(|c| c.peer != keep)
            .min_by_key(|c| (self.is_busy(c, now), c.last_active, c.peer))
            .map(|c| c.peer)
    }

    /// Tells the planner about every open connection it has not heard of yet.
    ///
    /// A planner with no fetch running does nothing with a new connection but remember the
    /// peer, and mesh-core's planner remembers every peer it was ever told about, scanning them
    /// all on every timer poll. A long-lived tab that serves many others would make each of
    /// its events cost time proportional to everyone who ever connected to it. So while its
    /// planner is idle the driver holds new connections back and reports them just before
    /// the next fetch starts (or as soon as the planner asks to dial one). The planner's
    /// decisions are the same either way: an idle planner only records the peer, with a
    /// fresh score and rate estimate, exactly as it would at the later call.
    pub(crate) fn report_connections(&mut self, now: u64) {
        let at = mesh_core::time::Instant::from_micros(now);
        for c in &mut self.conns {
            if !c.reported {
                c.reported = true;
                self.planner.handle_peer_connected(at, c.peer);
            }
        }
    }

    /// Answers `from`'s request with the block server over this tab's store, as a node does
    /// (`get` counts a hit and refreshes the block in the LRU). Returns the server's name for
    /// the request and the response. A refusal or a want-have answer is sent at once; a block
    /// stays in flight until its upload ends or is dropped.
    pub(crate) fn answer(
        &mut self,
        now: u64,
        from: u32,
        request: BlockRequest,
    ) -> (u64, BlockResponse) {
        let id = self.next_request;
        self.next_request += 1;
        let at = mesh_core::time::Instant::from_micros(now);
        let answer = self
            .server
            .answer(at, from, id, &request, self.planner.store_mut());
        match answer.outcome {
            ServeOutcome::Served { bytes } => self.planner.record_served(bytes),
            _ => self.server.finished(id),
        }
        (id, answer.response)
    }

    /// The asset of a running fetch.
    pub(crate) fn asset_of(&self, fetch: FetchId) -> Option<u32> {
        self.fetches.iter().find(|f| f.id == fetch).map(|f| f.asset)
    }

    /// Forgets a finished fetch; returns its asset.
    pub(crate) fn finish_fetch(&mut self, fetch: FetchId) -> Option<u32> {
        let i = self.fetches.iter().position(|f| f.id == fetch)?;
        Some(self.fetches.swap_remove(i).asset)
    }
}
