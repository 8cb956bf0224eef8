//! The driver loop around one peer's planner, exactly as mesh-core's driving contract asks:
//! after every input, carry out every action and read every event in the order they come,
//! re-arm the one timer.

use mesh_core::Cid;
use mesh_core::fetch::{Action, BlockSource, CancelOrigin, Event, OriginFetch, Output};
use mesh_core::store::BlockStore;
use mesh_core::time::Instant;

use super::peer::PeerState;
use super::{Ev, MAX_OUTPUTS_PER_DRAIN, OVERDUE_TIMER_US, World, ms_us};

/// A connection on which blocks were just asked counts as busy for this long (or until they
/// arrive), so making room for a new connection does not cut a transfer.
const BUSY_AFTER_WANT_US: u64 = 2_000_000;
use crate::content::BlockRef;
use crate::metrics::{fallback_index, reassign_index};

impl World<'_> {
    /// Carries out the planner's actions and records its events, in order, and arms its timer.
    pub(super) fn drain(&mut self, id: u32, st: &mut PeerState) {
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            match st.planner.poll_output() {
                Some(Output::Action(action)) => self.act(id, st, action),
                Some(Output::Event(event)) => self.observe(id, st, event),
                None => break,
            }
        }
        if let Some(t) = st.planner.poll_timeout() {
            let t = t.as_micros();
            let at = if t <= self.now {
                self.now + OVERDUE_TIMER_US
            } else {
                t
            };
            if at < st.timer_at {
                st.timer_at = at;
                self.queue.push(at, Ev::Timer { peer: id });
            }
        }
    }

    pub(super) fn timer(&mut self, id: u32) {
        let now = Instant::from_micros(self.now);
        self.with_peer(id, |w, st| {
            if st.timer_at != w.now {
                return; // Superseded by an earlier timer that already ran.
            }
            st.timer_at = u64::MAX;
            st.planner.handle_timeout(now);
            w.drain(id, st);
        });
    }

    fn refs(&self, cids: &[Cid]) -> Vec<BlockRef> {
        cids.iter().filter_map(|c| self.cat.lookup(c)).collect()
    }

    fn act(&mut self, id: u32, st: &mut PeerState, action: Action<u32>) {
        match action {
            Action::FindProviders { cid } => {
                let Some(r) = self.cat.lookup(&cid) else {
                    return;
                };
                let delay = if self.p.mesh {
                    self.metrics.at(self.now).lookups += 1;
                    ms_us(self.sc.network.lookup_ms.sample(&mut self.net_rng))
                } else {
                    0
                };
                self.queue.push(
                    self.now + delay,
                    Ev::Lookup {
                        peer: id,
                        asset: r.asset,
                    },
                );
            }
            Action::Connect { peer } => self.dial(id, st, peer),
            Action::SendWantHave { peer, cids, .. } => {
                st.touch(peer, self.now);
                let blocks = self.refs(&cids);
                let at = self.now + self.one_way(id, peer);
                self.queue.push(
                    at,
                    Ev::WantHave {
                        from: id,
                        to: peer,
                        blocks,
                    },
                );
            }
            Action::SendWantBlock { peer, cids, .. } => {
                st.touch(peer, self.now);
                if let Some(c) = st.conns.iter_mut().find(|c| c.peer == peer) {
                    c.busy_until = self.now + BUSY_AFTER_WANT_US;
                }
                let blocks = self.refs(&cids);
                let at = self.now + self.one_way(id, peer);
                self.queue.push(
                    at,
                    Ev::WantBlocks {
                        from: id,
                        to: peer,
                        blocks,
                    },
                );
            }
            Action::SendCancel { peer, cids } => {
                let blocks = self.refs(&cids);
                let at = self.now + self.one_way(id, peer);
                self.queue.push(
                    at,
                    Ev::Cancel {
                        from: id,
                        to: peer,
                        blocks,
                    },
                );
            }
            Action::OriginFetch(OriginFetch {
                fetch,
                request,
                range,
            }) => self.origin_fetch(id, st, fetch, request, range),
            Action::CancelOrigin(CancelOrigin { request }) => st.origin.retain(|b| b.id != request),
            Action::Announce { cid } => {
                if !self.p.mesh {
                    return;
                }
                let Some(r) = self.cat.lookup(&cid) else {
                    return;
                };
                // The planner announces after every complete fetch, cache hits included; a node
                // keeps its own records fresh and does not put the same record again.
                if st.announced.contains(r.asset) || st.announcing.contains(&r.asset) {
                    return;
                }
                st.announcing.push(r.asset);
                self.metrics.at(self.now).announces += 1;
                let delay = ms_us(self.sc.network.announce_ms.sample(&mut self.net_rng));
                self.queue.push(
                    self.now + delay,
                    Ev::Announced {
                        peer: id,
                        asset: r.asset,
                    },
                );
            }
            // The page would render these bytes; the simulator only needs their timing, which
            // the Completed summary carries.
            Action::Deliver(_) => {}
            _ => {}
        }
    }

    fn observe(&mut self, id: u32, st: &mut PeerState, event: Event<u32>) {
        match event {
            Event::BlockAccepted { from, bytes, .. } => {
                self.metrics.block(self.now, from.source(), bytes);
            }
            Event::Fallback { reason, .. } => {
                self.metrics.at(self.now).fallbacks[fallback_index(&reason)] += 1;
            }
            Event::Reassigned { reason, .. } => {
                self.metrics.at(self.now).reassigned[reassign_index(reason)] += 1;
            }
            Event::PeerPenalized { .. } => self.metrics.at(self.now).penalties += 1,
            Event::BlockDuplicate {
                from: BlockSource::Peer(_),
                ..
            } => self.metrics.at(self.now).duplicate_blocks += 1,
            Event::Completed { fetch, summary, .. } => {
                if let Some(asset) = st.finish_fetch(fetch) {
                    self.metrics.completed(self.now, asset, &summary);
                    if summary.bytes_origin > 0 {
                        self.intern(st, asset);
                    }
                }
                self.leave_if_done(id, st);
            }
            Event::Failed { fetch, .. } => {
                st.finish_fetch(fetch);
                self.metrics.at(self.now).failed += 1;
                self.leave_if_done(id, st);
            }
            Event::Cancelled { fetch } => {
                st.finish_fetch(fetch);
            }
            _ => {}
        }
    }

    fn leave_if_done(&mut self, id: u32, st: &PeerState) {
        if st.leave_when_done && st.fetches.is_empty() {
            self.queue.push(self.now, Ev::Leave { peer: id });
        }
    }

    /// Replaces the peer's private copies of an asset's blocks (origin range bodies are copied
    /// into fresh buffers by the planner; whole bodies are the catalogue's known blocks) with
    /// the catalogue's shared ones. Pure memory
    /// bookkeeping: same CIDs, same bytes, same sizes, so the store's budget and contents are
    /// unchanged; only the block's LRU position moves to "just used", where a block just
    /// fetched already is.
    fn intern(&mut self, st: &mut PeerState, asset: u32) {
        let store = st.planner.store_mut();
        for block in &self.cat.assets[asset as usize].blocks {
            if !store.contains(block.cid()) {
                continue;
            }
            if let Some(held) = store.remove(block.cid()) {
                let shared = held.data().as_ptr() == block.data().as_ptr();
                let keep = if shared { held } else { block.clone() };
                // Cannot fail: the same number of bytes was just freed.
                let _ = store.put(keep);
            }
        }
    }

    pub(super) fn lookup_done(&mut self, id: u32, asset: u32) {
        let now = Instant::from_micros(self.now);
        let root = self.cat.assets[asset as usize].root;
        self.with_peer(id, |w, st| {
            let providers = if w.p.mesh {
                let nat_filter = w.p.nat_aware && w.attrs[id as usize].nat;
                let attrs = &w.attrs;
                w.registry
                    .providers(asset, id, w.p.providers_per_lookup, &mut w.reg_rng, |q| {
                        !(nat_filter && attrs[q as usize].nat)
                    })
            } else {
                Vec::new()
            };
            st.planner.handle_providers(now, root, providers, true);
            w.drain(id, st);
        });
    }

    pub(super) fn announced(&mut self, id: u32, asset: u32) {
        self.with_peer(id, |w, st| {
            st.announcing.retain(|&a| a != asset);
            if w.registry.announce(asset, id) {
                st.announced.push(asset);
            }
        });
    }
}
