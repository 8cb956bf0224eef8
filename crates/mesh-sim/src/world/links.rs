//! Connections between peers, the block-exchange messages on them, and uplinks.
//!
//! A dial is signalled through the bootstrap relay (one round trip to it) and then takes
//! `connect_rtts` round trips between the two peers. Two peers behind NATs never connect: the
//! dial fails after the NAT timeout, and the dialling planner hears about it as a disconnect,
//! which is all a browser would learn. A peer at its connection limit closes a connection to
//! make room: the least recently used of those not carrying blocks, if there is one.
//!
//! A message arrives one latency later, and only if the connection is still open at both
//! ends. A peer answers want-haves and want-blocks with mesh-core's block server over its own
//! store (the nodes' serving policy: upload budget, per-peer cap); blocks queue for its uplink
//! (one at a time, at the uplink share mesh may use), and share the receiver's downlink with
//! everything else it is receiving (see [`World::start_download`]).

use bytes::Bytes;
use mesh_core::Cid;
use mesh_core::store::BlockStore;
use mesh_core::time::Instant;
use mesh_core::wire::{BlockRequest, BlockResponse, RequestId};

use super::peer::{Conn, PeerState, Upload};
use super::{Ev, World, transfer_us};
use crate::content::BlockRef;

impl World<'_> {
    fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    fn cid(&self, r: BlockRef) -> Cid {
        *self.cat.block(r).cid()
    }

    /// Starts a connection from `id` to `to` (for the planner or for warm connections).
    pub(super) fn dial(&mut self, id: u32, st: &mut PeerState, to: u32) {
        if to == id || st.dialing.contains(&to) || to as usize >= self.attrs.len() {
            return;
        }
        if st.is_connected(to) {
            // Already up: tell the planner again (it asked because it did not know).
            self.queue.push(self.now, Ev::Dialed { from: id, to });
            return;
        }
        st.dialing.push(to);
        self.metrics.at(self.now).dials += 1;
        let delay = if !self.online(to) {
            self.bootstrap_rtt(id)
        } else if !self.reachable(id, to) {
            self.p.nat_timeout_us
        } else {
            let rtt = 2 * self.one_way(id, to);
            self.bootstrap_rtt(id) + (self.sc.network.connect_rtts * rtt as f64) as u64
        };
        self.queue
            .push(self.now + delay, Ev::Dialed { from: id, to });
    }

    pub(super) fn dialed(&mut self, from: u32, to: u32) {
        let ok = self.online(to) && self.reachable(from, to);
        let now = self.instant();
        let establish = self.with_peer(from, |w, st| {
            st.dialing.retain(|&p| p != to);
            if let Some(c) = st.conns.iter_mut().find(|c| c.peer == to) {
                c.reported = true;
                st.planner.handle_peer_connected(now, to);
                w.drain(from, st);
                false
            } else if ok {
                true
            } else {
                w.metrics.at(w.now).dial_failures += 1;
                st.planner.handle_peer_disconnected(now, to);
                w.drain(from, st);
                false
            }
        });
        if establish == Some(true) {
            self.establish(from, to);
        }
    }

    /// Opens the connection at both ends, closing least recently used ones to make room.
    fn establish(&mut self, a: u32, b: u32) {
        self.make_room(a, b);
        self.make_room(b, a);
        let now = self.instant();
        for (x, y) in [(a, b), (b, a)] {
            self.with_peer(x, |w, st| {
                if !st.is_connected(y) {
                    st.conns.push(Conn {
                        peer: y,
                        last_active: w.now,
                        busy_until: 0,
                        reported: false,
                    });
                }
                // Reported now if the planner is working, else before the next
                // fetch: see `PeerState::report_connections`.
                if st.planner.active_fetches() > 0 {
                    if let Some(c) = st.conns.iter_mut().find(|c| c.peer == y) {
                        c.reported = true;
                    }
                    st.planner.handle_peer_connected(now, y);
                    w.drain(x, st);
                }
            });
        }
    }

    fn make_room(&mut self, id: u32, keep: u32) {
        let max = self.p.max_connections;
        let now = self.now;
        let victim = self
            .peers
            .get(id as usize)
            .and_then(|p| p.as_deref())
            .filter(|st| st.conns.len() >= max)
            .and_then(|st| st.eviction_victim(keep, now));
        if let Some(v) = victim {
            self.metrics.at(self.now).evictions += 1;
            self.disconnect(id, v);
        }
    }

    /// Closes the connection between `a` and `b` at both ends.
    pub(super) fn disconnect(&mut self, a: u32, b: u32) {
        let now = self.instant();
        for (x, y) in [(a, b), (b, a)] {
            self.with_peer(x, |w, st| {
                if let Some(i) = st.conn(y) {
                    let c = st.conns.swap_remove(i);
                    st.uploads.retain(|u| u.to != y);
                    st.server.peer_gone(&y);
                    if c.reported {
                        st.planner.handle_peer_disconnected(now, y);
                        w.drain(x, st);
                    }
                }
            });
        }
    }

    pub(super) fn want_have(&mut self, from: u32, to: u32, blocks: Vec<BlockRef>) {
        self.with_peer(to, |w, st| {
            if !st.touch(from, w.now) {
                return;
            }
            let cids: Vec<Cid> = blocks.iter().map(|r| w.cid(*r)).collect();
            let want = BlockRequest::WantHave {
                id: RequestId(0),
                cids,
            };
            let held = match st.answer(w.now, from, want) {
                (_, BlockResponse::Have { cids, .. }) => cids,
                _ => Vec::new(),
            };
            let mut answers = Vec::with_capacity(blocks.len());
            for r in blocks {
                let cid = w.cid(r);
                let has = held.contains(&cid);
                if !st.planner.store().contains(&cid) && w.cat.assets[r.asset as usize].root == cid
                {
                    // It announced an asset it no longer holds: withdraw the record, as a node
                    // that noticed the eviction (or let the record expire) would.
                    if st.announced.swap_remove(r.asset) {
                        w.registry.withdraw(r.asset, to);
                        w.metrics.at(w.now).withdrawals += 1;
                    }
                }
                answers.push((r, has));
            }
            let at = w.now + w.one_way(to, from);
            w.queue.push(
                at,
                Ev::Haves {
                    to: from,
                    from: to,
                    answers,
                },
            );
        });
    }

    pub(super) fn haves(&mut self, to: u32, from: u32, answers: Vec<(BlockRef, bool)>) {
        let now = self.instant();
        self.with_peer(to, |w, st| {
            if !st.touch(from, w.now) {
                return;
            }
            for (r, has) in answers {
                let cid = w.cid(r);
                if has {
                    st.planner.handle_have(now, from, cid);
                } else {
                    st.planner.handle_dont_have(now, from, cid);
                }
            }
            w.drain(to, st);
        });
    }

    pub(super) fn want_blocks(&mut self, from: u32, to: u32, blocks: Vec<BlockRef>) {
        self.with_peer(to, |w, st| {
            if !st.touch(from, w.now) {
                return;
            }
            let mut dont = Vec::new();
            for r in blocks {
                let cid = w.cid(r);
                let want = BlockRequest::WantBlock {
                    id: RequestId(0),
                    cid,
                };
                match st.answer(w.now, from, want) {
                    (request, BlockResponse::Block { data, .. }) => st.uploads.push_back(Upload {
                        request,
                        to: from,
                        block: r,
                        data,
                    }),
                    _ => dont.push(r),
                }
            }
            if !dont.is_empty() {
                let at = w.now + w.one_way(to, from);
                w.queue.push(
                    at,
                    Ev::DontHaves {
                        to: from,
                        from: to,
                        blocks: dont,
                    },
                );
            }
            w.pump_uploads(to, st);
        });
    }

    pub(super) fn dont_haves(&mut self, to: u32, from: u32, blocks: Vec<BlockRef>) {
        let now = self.instant();
        self.with_peer(to, |w, st| {
            if !st.touch(from, w.now) {
                return;
            }
            for r in blocks {
                let cid = w.cid(r);
                st.planner.handle_dont_have(now, from, cid);
            }
            w.drain(to, st);
        });
    }

    pub(super) fn cancel(&mut self, from: u32, to: u32, blocks: Vec<BlockRef>) {
        self.with_peer(to, |_, st| {
            let PeerState {
                uploads, server, ..
            } = st;
            // Dropping the unsent answers, as a node's server does on a cancel.
            uploads.retain(|u| {
                let cancelled = u.to == from && blocks.contains(&u.block);
                if cancelled {
                    server.finished(u.request);
                }
                !cancelled
            });
        });
    }

    /// Starts the next upload if the uplink is idle.
    fn pump_uploads(&mut self, id: u32, st: &mut PeerState) {
        if st.uploading.is_some() {
            return;
        }
        while let Some(up) = st.uploads.pop_front() {
            if !self.online(up.to) || !st.is_connected(up.to) {
                st.server.finished(up.request);
                continue;
            }
            let size = up.data.len() as u64;
            st.touch(up.to, self.now);
            self.metrics.at(self.now).peer_egress += size;
            let rate = self.attrs[id as usize].serve_bps;
            let sent = self.now + transfer_us(size, rate);
            let received = self.start_download(up.to, self.now, size, rate);
            let arrives = received + self.one_way(id, up.to);
            self.queue.push(sent, Ev::UploadDone { peer: id });
            self.queue.push(
                arrives,
                Ev::Block {
                    to: up.to,
                    from: id,
                    block: up.block,
                    data: up.data,
                },
            );
            st.uploading = Some((up.to, up.request));
            break;
        }
    }

    pub(super) fn upload_done(&mut self, id: u32) {
        self.with_peer(id, |w, st| {
            if let Some((_, request)) = st.uploading.take() {
                st.server.finished(request);
            }
            w.pump_uploads(id, st);
        });
    }

    pub(super) fn block_arrived(&mut self, to: u32, from: u32, block: BlockRef, data: Bytes) {
        let now = self.instant();
        self.end_download(to);
        self.with_peer(to, |w, st| {
            if !st.touch(from, w.now) {
                w.metrics.at(w.now).lost_blocks += 1;
                return;
            }
            let cid = w.cid(block);
            st.planner.handle_block(now, from, cid, data);
            w.drain(to, st);
        });
    }
}
