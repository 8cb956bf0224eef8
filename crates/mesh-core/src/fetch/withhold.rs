//! Withholding peers: a peer that delivers an asset's root and then sits on its leaves.
//!
//! Delivering the root disarms the fetch's deadline (a peer has started), so without more a
//! withholder would hold the leaves it was asked for until its stall patience ran out, which
//! grows with what it was asked (seconds for a batch of leaves at the floor rate). Instead
//! each peer asked for leaves owes its first one within the fetch's deadline, counted from when
//! it was first asked (never before the fetch started): a peer that misses it loses this fetch's
//! leaves to origin Range requests (per-leaf hedging: peers that are delivering keep theirs)
//! and is demoted for every asset for a while ([`super::peers::Demotion`]). So a withholder
//! delays a fetch by at most its deadline beyond what the origin alone would take.

use super::asset::LeafClock;
use super::*;
use crate::block::RAW_CODEC;

/// Whether `state`'s peer may be asked for blocks of `f` at `now`: connected, not ignored, and
/// not demoted unless the origin cannot be asked (a slow source beats none).
pub(super) fn askable<P: Ord + Clone>(f: &FetchState<P>, state: &PeerState, now: Instant) -> bool {
    state.usable() && !(f.origin_usable() && state.demoted(now))
}

/// Whether `cid` is one of `f`'s leaves (not its root: a single-block asset is covered by the
/// fetch's own deadline).
fn is_leaf<P>(f: &FetchState<P>, cid: &Cid) -> bool {
    cid.codec() == RAW_CODEC && *cid != f.root
}

impl<P: PeerKey, S: BlockStore> Planner<P, S> {
    /// `peer` is being asked for `cid` of fetch `id`: starts its leaf clock if it is a leaf and
    /// the peer has not delivered one yet, and restarts it if the peer owed no other leaf of
    /// this fetch (its earlier ones went elsewhere: it is not late for this one).
    pub(super) fn leaf_asked(&mut self, now: Instant, id: FetchId, peer: &P, cid: &Cid) {
        let Some(f) = self.fetches.get(&id) else {
            return;
        };
        if !is_leaf(f, cid) {
            return;
        }
        let owes_other = self.peers.get(peer).is_some_and(|s| {
            s.in_flight
                .iter()
                .any(|(c, fl)| fl.fetch == id && c != cid && is_leaf(f, c))
        });
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        let clock = f
            .leaf_clocks
            .entry(peer.clone())
            .or_insert(LeafClock::Waiting(now));
        if !owes_other && matches!(clock, LeafClock::Waiting(_)) {
            *clock = LeafClock::Waiting(now);
        }
    }

    /// `peer` delivered `cid` to fetch `id`: a leaf proves it is not withholding.
    pub(super) fn leaf_delivered(&mut self, id: FetchId, peer: &P, cid: &Cid) {
        if let Some(f) = self.fetches.get_mut(&id)
            && is_leaf(f, cid)
        {
            f.leaf_clocks.insert(peer.clone(), LeafClock::Delivering);
        }
    }

    /// When each waiting peer's first leaf is due, per fetch, while it still has leaves of that
    /// fetch outstanding and the origin can take them over.
    pub(super) fn leaf_deadlines(&self) -> Vec<(Instant, FetchId, P)> {
        let mut due = Vec::new();
        for f in self.fetches.values().filter(|f| f.origin_usable()) {
            for (peer, clock) in &f.leaf_clocks {
                let LeafClock::Waiting(since) = *clock else {
                    continue;
                };
                let owes = self.peers.get(peer).is_some_and(|s| {
                    s.in_flight
                        .iter()
                        .any(|(c, fl)| fl.fetch == f.id && is_leaf(f, c))
                });
                if owes {
                    due.push((since.max(f.started) + f.deadline, f.id, peer.clone()));
                }
            }
        }
        due
    }

    /// Hands the leaves of every peer whose first leaf is overdue to the origin.
    pub(super) fn check_withheld(&mut self, now: Instant) {
        for (at, id, peer) in self.leaf_deadlines() {
            if now >= at {
                self.withheld(now, id, &peer);
            }
        }
    }

    /// `peer` delivered no leaf of fetch `id` within the deadline: the origin takes over its
    /// outstanding blocks of this fetch (no other peer is asked for them while the origin can
    /// be: each would need its own deadline), and it is demoted for every asset.
    fn withheld(&mut self, now: Instant, id: FetchId, peer: &P) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        f.leaf_clocks.remove(peer);
        self.penalize(peer, Penalty::Withheld, self.config.stall_penalty);
        self.demote_peer(now, peer);
        let Some(state) = self.peers.get(peer) else {
            return;
        };
        let cids: Vec<Cid> = state
            .in_flight
            .iter()
            .filter(|(_, fl)| fl.fetch == id)
            .map(|(c, _)| *c)
            .collect();
        self.take_back(peer, Some(&cids), ReassignReason::Withheld);
        if let Some(f) = self.fetches.get_mut(&id) {
            f.origin_only.extend(cids);
        }
        self.fall_back(now, id, FallbackReason::Withheld(peer.clone()));
    }

    /// Demotes `peer` for every asset (see [`super::peers::Demotion`]).
    pub(super) fn demote_peer(&mut self, now: Instant, peer: &P) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        let until = state.demote(now, self.config.demotion, self.config.max_demotion);
        self.outputs.push_back(Output::Event(Event::PeerDemoted {
            peer: peer.clone(),
            until,
        }));
    }
}
