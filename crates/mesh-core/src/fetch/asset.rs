//! The state of one fetch: its layout, who may have it, what the origin is doing, and what has
//! been handed to the page.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;

use super::origin::OriginRequest;
use super::types::{BlockSource, FetchId, FetchSummary, OriginRequestId};
use crate::block::RAW_CODEC;
use crate::layout::AssetLayout;
use crate::small::{SmallMap, SmallSet};
use crate::stats::Source;
use crate::time::Instant;

/// Most deliveries one call makes, so a pathological layout cannot spin forever.
const MAX_DELIVERIES_PER_CALL: usize = 1 << 20;

/// Whether a peer asked for leaves of a fetch has delivered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafClock {
    /// Leaves were first asked of it at this time; none has arrived.
    Waiting(Instant),
    /// It delivered a leaf: it is judged by its rate and stall clock from now on.
    Delivering,
}

/// How often a fetch with no origin looks its holders up again after losing them all to
/// closed or failed connections, before it fails with no source left. A connection that
/// dropped is usually there again on a second dial (the cross-browser e2e test lost its only
/// holder to a connection that never identified in about 4 of 10 runs).
pub(crate) const MAX_REDISCOVERIES: u8 = 2;

#[derive(Debug)]
pub(crate) struct FetchState<P> {
    pub(crate) id: FetchId,
    pub(crate) root: Cid,
    pub(crate) started: Instant,
    /// How long peers get before the origin is asked too ([`super::Config::deadline_for`]).
    pub(crate) deadline: Duration,
    pub(crate) layout: AssetLayout,
    /// Whether the driver can reach an origin for this asset.
    pub(crate) has_origin: bool,
    /// The origin was brought in.
    pub(crate) origin_active: bool,
    /// The origin failed or lied; it is not asked again.
    pub(crate) origin_failed: bool,
    /// The origin was brought in because nobody delivered in time: it may duplicate what peers
    /// were asked, whichever source answers first wins.
    pub(crate) hedge_all: bool,
    pub(crate) origin_requests: SmallMap<OriginRequestId, OriginRequest>,
    /// Peers that have the asset (said have, or were announced as providers and connected).
    pub(crate) holders: SmallSet<P>,
    /// Providers from the DHT not connected yet.
    pub(crate) pending_providers: SmallSet<P>,
    /// Peers asked want-have that have not answered.
    pub(crate) unanswered: SmallSet<P>,
    /// Whether the DHT lookup has finished.
    pub(crate) discovery_done: bool,
    /// Whether a DHT lookup was asked for (not when a connected peer announced the asset:
    /// then one starts only if the announced holders fail).
    pub(crate) discovery_started: bool,
    /// Whether a holder or provider of this fetch was lost to a closed or failed connection
    /// since its last lookup (not proven wrong: worth looking up again before giving up).
    pub(crate) lost_holder: bool,
    /// Lookups started again after holders were lost (at most [`MAX_REDISCOVERIES`]).
    pub(crate) rediscoveries: u8,
    /// Peers never to ask for a block again: they lied about it or said they lack it.
    pub(crate) excluded: SmallMap<Cid, SmallSet<P>>,
    /// Peers that stalled on a block or were too slow for it: asked again only when the origin
    /// cannot be (a slow source beats none).
    pub(crate) demoted: SmallMap<Cid, SmallSet<P>>,
    /// Leaves a withholder sat on: the origin takes them over (while it can be asked), not
    /// another peer, so the fetch ends within the deadline of the origin's own time.
    pub(crate) origin_only: BTreeSet<Cid>,
    /// A peer delivered a verified block: the deadline no longer applies to the fetch as a
    /// whole; each peer asked for leaves is held to it by its [`LeafClock`] instead.
    pub(crate) peer_started: bool,
    /// Per peer asked for this fetch's leaves: since when it owes its first one.
    pub(crate) leaf_clocks: SmallMap<P, LeafClock>,
    /// Verified leaf bytes by CID, until the fetch ends.
    pub(crate) leaf_data: BTreeMap<Cid, Bytes>,
    /// Bytes handed to the page so far; also the offset of the next delivery.
    pub(crate) delivered: u64,
    /// Blocks pinned in the store for this fetch.
    pub(crate) pinned: Vec<Cid>,
    /// Every accepted block made it into the store.
    pub(crate) all_stored: bool,
    pub(crate) summary: FetchSummary,
    /// Sources whose first byte was recorded.
    pub(crate) ttfb_recorded: SmallSet<Source>,
}

impl<P: Ord + Clone> FetchState<P> {
    pub(crate) fn new(
        id: FetchId,
        root: Cid,
        now: Instant,
        deadline: Duration,
        layout: AssetLayout,
        has_origin: bool,
    ) -> Self {
        Self {
            id,
            root,
            started: now,
            deadline,
            layout,
            has_origin,
            origin_active: false,
            origin_failed: false,
            hedge_all: false,
            origin_requests: SmallMap::new(),
            holders: SmallSet::new(),
            pending_providers: SmallSet::new(),
            unanswered: SmallSet::new(),
            discovery_done: false,
            discovery_started: false,
            lost_holder: false,
            rediscoveries: 0,
            excluded: SmallMap::new(),
            demoted: SmallMap::new(),
            peer_started: false,
            leaf_clocks: SmallMap::new(),
            origin_only: BTreeSet::new(),
            leaf_data: BTreeMap::new(),
            delivered: 0,
            pinned: Vec::new(),
            all_stored: true,
            summary: FetchSummary::default(),
            ttfb_recorded: SmallSet::new(),
        }
    }

    /// Whether the origin may be asked.
    pub(crate) fn origin_usable(&self) -> bool {
        self.has_origin && !self.origin_failed
    }

    /// Whether a peer we know of might still answer for the asset.
    pub(crate) fn peers_pending(&self) -> bool {
        !self.pending_providers.is_empty() || !self.unanswered.is_empty() || !self.discovery_done
    }

    /// Whether `peer` may be asked for `cid` (its connection state aside).
    pub(crate) fn may_ask(&self, cid: &Cid, peer: &P) -> bool {
        let excluded = self.excluded.get(cid).is_some_and(|s| s.contains(peer));
        let demoted = self.demoted.get(cid).is_some_and(|m| m.contains(peer))
            || self.origin_only.contains(cid);
        !(excluded || self.origin_usable() && demoted)
    }

    pub(crate) fn exclude(&mut self, cid: Cid, peer: P) {
        self.excluded.entry(cid).or_default().insert(peer);
    }

    pub(crate) fn demote(&mut self, cid: Cid, peer: P) {
        self.demoted.entry(cid).or_default().insert(peer);
    }

    /// Counts an accepted block in the summary; returns whether it is the first byte of
    /// `source` for this fetch.
    pub(crate) fn count(&mut self, now: Instant, from: &BlockSource<P>, bytes: u64) -> bool {
        let source = from.source();
        match source {
            Source::Peer => self.summary.bytes_peer += bytes,
            Source::Origin => self.summary.bytes_origin += bytes,
            Source::Cache => self.summary.bytes_cache += bytes,
        }
        if self.summary.ttfb.is_none() {
            self.summary.ttfb = Some(now - self.started);
        }
        self.ttfb_recorded.insert(source)
    }

    /// Hands out every verified byte that continues the delivered prefix, in order.
    pub(crate) fn take_deliverable(&mut self) -> Vec<(u64, Bytes)> {
        let mut out = Vec::new();
        let all_positions_known = self.layout.all_nodes_in();
        for _ in 0..MAX_DELIVERIES_PER_CALL {
            let leaves = self.layout.leaves();
            let Ok(i) = leaves.binary_search_by_key(&self.delivered, |l| l.offset) else {
                break;
            };
            let cid = leaves[i].cid;
            let Some(data) = self.leaf_data.get(&cid).cloned() else {
                break;
            };
            if data.is_empty() {
                // Only the empty file has an empty leaf; nothing to hand over.
                break;
            }
            // Handed over, a leaf's bytes are the page's (and the store's, if it took them):
            // the fetch lets go once this is the chunk's last position. Only then: a subtree
            // whose node has not arrived may repeat the chunk, and a repeated chunk is never
            // asked for (or accepted) again, so its bytes must stay.
            let last_position = self.layout.leaf_indices(&cid).last() == Some(&leaves[i].index);
            if all_positions_known && last_position {
                self.leaf_data.remove(&cid);
            }
            self.delivered += data.len() as u64;
            out.push((self.delivered - data.len() as u64, data));
        }
        out
    }

    /// Missing blocks that may be asked for now: DAG nodes, and the leaves that start within
    /// `window` bytes of the delivery point, so what arrives ahead of it and waits in
    /// [`FetchState::leaf_data`] stays within the planner's fetch buffer budget.
    pub(crate) fn wanted_now(&self, window: u64) -> Vec<Cid> {
        let end = self.delivered.saturating_add(window);
        let mut wanted = self.layout.missing_near(self.delivered..end);
        // A raw root (a one-block asset) is wanted whatever the window: it is the only block.
        if self.root.codec() == RAW_CODEC
            && self.layout.is_missing(&self.root)
            && !wanted.contains(&self.root)
        {
            wanted.push(self.root);
        }
        wanted
    }

    /// Leaf bytes received and not yet handed to the page.
    pub(crate) fn buffered(&self) -> u64 {
        self.leaf_data.values().map(|d| d.len() as u64).sum()
    }

    /// Every byte delivered and every block in.
    pub(crate) fn is_done(&self) -> bool {
        self.layout.is_complete() && self.layout.total_size() == Some(self.delivered)
    }
}
