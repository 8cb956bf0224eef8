//! Sessions: a tab opens, views pages (or downloads the file), and closes.

use std::collections::VecDeque;

use mesh_core::fetch::Planner;
use mesh_core::serve::BlockServer;
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

use super::peer::{ActiveFetch, AssetList, Attrs, Conns, PeerState};
use super::{Ev, World, mbps, ms_us, us};
use crate::rng::{Purpose, Stream};
use crate::scenario::Workload;

/// Most draws spent finding distinct assets for one page view.
const MAX_DRAWS_PER_VIEW: usize = 64;

impl World<'_> {
    /// A new tab opens: its attributes are drawn from its own stream, so the same peer number
    /// is the same person in every variant of a scenario.
    pub(super) fn arrive(&mut self) {
        let id = self.attrs.len() as u32;
        let sp = &self.sc.peers;
        let mut rng = Stream::new(self.sc.seed, Purpose::Peer, u64::from(id));
        let attrs = Attrs {
            latency_us: ms_us(sp.latency_ms.sample(&mut rng)),
            down_bps: mbps(sp.down_mbps.sample(&mut rng)),
            serve_bps: mbps(sp.up_mbps.sample(&mut rng) * sp.upload_fraction),
            nat: rng.chance(sp.nat_fraction),
            online: true,
        };
        let session_end = self.now + us(sp.session_s.sample(&mut rng));
        let st = PeerState {
            planner: Planner::new(self.config.clone(), MemoryStore::new(self.p.cache_bytes)),
            rng,
            session_end,
            conns: Conns::new(),
            dialing: Vec::new(),
            server: BlockServer::new(self.p.serve.clone()),
            next_request: 0,
            uploads: VecDeque::new(),
            uploading: None,
            fetches: Vec::new(),
            origin: Vec::new(),
            announced: AssetList::default(),
            announcing: Vec::new(),
            timer_at: u64::MAX,
            leave_when_done: false,
        };
        self.attrs.push(attrs);
        self.downloads.push(0);
        self.peers.push(Some(Box::new(st)));
        self.registry.join(id);
        self.metrics.joined(self.now);
        self.queue.push(session_end, Ev::Leave { peer: id });
        self.queue.push(self.now, Ev::View { peer: id });
    }

    /// A page view: top up warm connections, then fetch the page's assets.
    pub(super) fn view(&mut self, id: u32) {
        self.with_peer(id, |w, st| {
            w.top_up(id, st);
            match &w.sc.workload {
                Workload::Site {
                    assets_per_view,
                    view_interval_s,
                    ..
                } => {
                    let mut chosen: Vec<u32> = Vec::with_capacity(*assets_per_view as usize);
                    if let Some(zipf) = &w.zipf {
                        for _ in 0..MAX_DRAWS_PER_VIEW {
                            if chosen.len() == *assets_per_view as usize {
                                break;
                            }
                            let a = zipf.sample(&mut st.rng) as u32;
                            if !chosen.contains(&a) {
                                chosen.push(a);
                            }
                        }
                    }
                    for asset in chosen {
                        if !st.fetches.iter().any(|f| f.asset == asset) {
                            w.start_fetch(st, asset);
                        }
                    }
                    let next = w.now + us(view_interval_s.sample(&mut st.rng));
                    if next < st.session_end {
                        w.queue.push(next, Ev::View { peer: id });
                    }
                }
                Workload::LargeFile { .. } => w.start_fetch(st, 0),
            }
            w.drain(id, st);
        });
    }

    fn start_fetch(&mut self, st: &mut PeerState, asset: u32) {
        st.report_connections(self.now);
        let root = self.cat.assets[asset as usize].root;
        let fetch = st.planner.start(Instant::from_micros(self.now), root, true);
        st.fetches.push(ActiveFetch { id: fetch, asset });
        self.metrics.at(self.now).started += 1;
    }

    /// Opens connections to random online peers until `warm_peers` are open or being opened.
    pub(super) fn top_up(&mut self, id: u32, st: &mut PeerState) {
        if !self.p.mesh {
            return;
        }
        let have = st.conns.len() + st.dialing.len();
        let want = self.p.warm_peers.saturating_sub(have);
        if want == 0 {
            return;
        }
        self.metrics.at(self.now).discovery += 1;
        let nat_filter = self.p.nat_aware && self.attrs[id as usize].nat;
        let attrs = &self.attrs;
        let picks = self
            .registry
            .random_online(id, want, &mut self.reg_rng, |q| {
                let known = st.is_connected(q) || st.dialing.contains(&q);
                let unreachable = nat_filter && attrs[q as usize].nat;
                !known && !unreachable
            });
        for q in picks {
            self.dial(id, st, q);
        }
    }

    /// The session's time is up. A large-file user finishes the download first.
    pub(super) fn session_over(&mut self, id: u32) {
        let stay = self.p.large_file
            && self
                .with_peer(id, |_, st| {
                    let busy = !st.fetches.is_empty();
                    st.leave_when_done = busy;
                    busy
                })
                .unwrap_or(false);
        if !stay {
            self.leave(id);
        }
    }

    /// The tab closes: its connections drop, its provider records go, its state is freed.
    pub(super) fn leave(&mut self, id: u32) {
        let Some(st) = self.peers.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.attrs[id as usize].online = false;
        self.metrics
            .left(self.now, st.planner.active_fetches() as u64);
        self.registry.leave(id, st.announced.as_slice());
        let now = Instant::from_micros(self.now);
        for c in &st.conns {
            self.with_peer(c.peer, |w, other| {
                let Some(i) = other.conn(id) else {
                    return;
                };
                let c = other.conns.swap_remove(i);
                other.uploads.retain(|u| u.to != id);
                other.server.peer_gone(&id);
                if c.reported {
                    other.planner.handle_peer_disconnected(now, id);
                    w.drain(c.peer, other);
                }
            });
        }
    }

    /// `fraction` of the peers online close their tabs at once.
    pub(super) fn mass_departure(&mut self, fraction: f64) {
        let n = (self.registry.online() as f64 * fraction).round() as usize;
        let leaving = self.registry.sample_online(n, &mut self.departure_rng);
        for id in leaving {
            self.leave(id);
        }
    }
}
