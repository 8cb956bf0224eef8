//! One simulated browser tab: its fixed attributes and its live state.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::Bytes;
use mesh_core::fetch::{FetchId, OriginRequestId, Planner};
use mesh_core::store::MemoryStore;

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

/// An open connection and when it last carried anything (for closing the least recently used).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    pub(crate) peer: u32,
    pub(crate) last_active: u64,
}

/// A block waiting for the uplink.
#[derive(Debug)]
pub(crate) struct Upload {
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

/// A peer while it is online.
#[derive(Debug)]
pub(crate) struct PeerState {
    /// mesh-core's planner, with the tab's store as its cache.
    pub(crate) planner: Planner<u32, MemoryStore>,
    /// Its behaviour: page views, asset choices.
    pub(crate) rng: Stream,
    pub(crate) session_end: u64,
    pub(crate) conns: Vec<Conn>,
    pub(crate) dialing: Vec<u32>,
    pub(crate) uploads: VecDeque<Upload>,
    pub(crate) uploading: bool,
    /// Upload budget left, bytes.
    pub(crate) upload_left: u64,
    pub(crate) fetches: Vec<ActiveFetch>,
    pub(crate) origin: Vec<OriginBody>,
    /// Assets it announced (its provider records).
    pub(crate) announced: Vec<u32>,
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
