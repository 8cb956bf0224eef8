//! Randomised swarms in virtual time: peers with their own latency and bandwidth, some lying,
//! some stalling, some leaving, and an origin that may be slow or down. Whatever happens, the
//! page must receive exactly the asset's bytes, in order, or a clear failure — never a wrong
//! byte. Seeded, so every failure reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bytes::Bytes;
use mesh_core::Cid;
use mesh_core::block::CHUNK_SIZE;
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{
    Action, BlockSource, CancelOrigin, Config, Deliver, Event, OriginFetch, OriginRequestId,
    Output, Planner,
};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone)]
struct SimPeer {
    latency_us: u64,
    bytes_per_sec: u64,
    has: bool,
    corrupt: bool,
    stall_after: Option<usize>,
    leaves_at_us: Option<u64>,
    sent: usize,
    /// Blocks asked for and not yet sent; a cancel removes them, as a real peer does.
    queue: std::collections::VecDeque<Cid>,
    sending: bool,
    gone: bool,
}

#[derive(Debug)]
enum Ev {
    Timer,
    Providers(Vec<u32>),
    Connected(u32),
    Disconnected(u32),
    Have(u32, Cid, bool),
    Block(u32, Cid, Bytes),
    /// A peer finished putting a block on the wire and may start the next.
    Sent(u32),
    OriginData(OriginRequestId, Bytes),
    OriginDone(OriginRequestId),
    OriginFailed(OriginRequestId),
}

struct World {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    planner: Planner<u32, MemoryStore>,
    peers: Vec<SimPeer>,
    origin_up: bool,
    origin_latency_us: u64,
    origin_rate: u64,
    cancelled_origin: BTreeSet<OriginRequestId>,
    dag: Dag,
    data: Vec<u8>,
    delivered: Vec<u8>,
    outcome: Option<Result<(), String>>,
    blocks_from_liars: usize,
}

impl World {
    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t.max(self.now), self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn block(&self, cid: &Cid) -> Bytes {
        self.dag
            .blocks
            .iter()
            .find(|b| b.cid() == cid)
            .expect("DAG block")
            .data()
            .clone()
    }

    fn drain(&mut self) {
        while let Some(output) = self.planner.poll_output() {
            match output {
                Output::Action(action) => {
                    if std::env::var_os("SWARM_TRACE").is_some()
                        && !matches!(action, Action::Deliver(_))
                    {
                        eprintln!("{:>10} -> {action:?}", self.now);
                    }
                    self.act(action);
                }
                Output::Event(event) => self.observe(event),
            }
        }
        if let Some(t) = self.planner.poll_timeout() {
            self.at(t.as_micros(), Ev::Timer);
        }
    }

    fn observe(&mut self, event: Event<u32>) {
        if std::env::var_os("SWARM_TRACE").is_some() {
            eprintln!("{:>10} {event:?}", self.now);
        }
        match event {
            Event::Completed { .. } => self.outcome = Some(Ok(())),
            Event::Failed { error, .. } => self.outcome = Some(Err(error.to_string())),
            Event::BlockAccepted {
                from: BlockSource::Peer(p),
                ..
            } if self.peers[p as usize].corrupt => self.blocks_from_liars += 1,
            _ => {}
        }
    }

    fn act(&mut self, action: Action<u32>) {
        let now = self.now;
        match action {
            Action::FindProviders { .. } => {
                let holders: Vec<u32> = (0..self.peers.len() as u32)
                    .filter(|p| self.peers[*p as usize].has && !self.peers[*p as usize].gone)
                    .collect();
                self.at(now + 30_000, Ev::Providers(holders));
            }
            Action::Connect { peer } => {
                let p = &self.peers[peer as usize];
                let ev = if p.gone {
                    Ev::Disconnected(peer)
                } else {
                    Ev::Connected(peer)
                };
                self.at(now + 3 * p.latency_us, ev);
            }
            Action::SendWantHave { peer, cids, .. } => {
                let p = &self.peers[peer as usize];
                if !p.gone {
                    let has = p.has;
                    let t = now + 2 * p.latency_us;
                    for cid in cids {
                        self.at(t, Ev::Have(peer, cid, has));
                    }
                }
            }
            Action::SendWantBlock { peer, cids, .. } => {
                let p = &mut self.peers[peer as usize];
                if p.gone {
                    return;
                }
                for cid in cids {
                    if !p.queue.contains(&cid) {
                        p.queue.push_back(cid);
                    }
                }
                if !p.sending {
                    self.send_next(peer);
                }
            }
            Action::SendCancel { peer, cids } => {
                self.peers[peer as usize]
                    .queue
                    .retain(|c| !cids.contains(c));
            }
            Action::Announce { .. } => {}
            Action::OriginFetch(OriginFetch { request, range, .. }) => {
                if !self.origin_up {
                    self.at(now + self.origin_latency_us, Ev::OriginFailed(request));
                    return;
                }
                let range = range.unwrap_or(0..self.data.len() as u64);
                let body =
                    Bytes::copy_from_slice(&self.data[range.start as usize..range.end as usize]);
                let mut t = now + self.origin_latency_us;
                for piece in body.chunks(64 * 1024) {
                    t += piece.len() as u64 * 1_000_000 / self.origin_rate;
                    self.at(t, Ev::OriginData(request, Bytes::copy_from_slice(piece)));
                }
                self.at(t, Ev::OriginDone(request));
            }
            Action::CancelOrigin(CancelOrigin { request }) => {
                self.cancelled_origin.insert(request);
            }
            Action::Deliver(Deliver { offset, data, .. }) => {
                assert_eq!(offset, self.delivered.len() as u64, "contiguous deliveries");
                self.delivered.extend_from_slice(&data);
                assert_eq!(
                    self.delivered[..],
                    self.data[..self.delivered.len()],
                    "every delivered byte is right"
                );
            }
            other => panic!("unexpected action {other:?}"),
        }
    }

    /// Puts the next queued block on the wire: it leaves after its transmission time and
    /// arrives one latency later.
    fn send_next(&mut self, peer: u32) {
        let now = self.now;
        let p = &mut self.peers[peer as usize];
        let stalled = p.stall_after.is_some_and(|n| p.sent >= n);
        let next = if p.gone || stalled {
            None
        } else {
            p.queue.pop_front()
        };
        let Some(cid) = next else {
            p.sending = false;
            return;
        };
        p.sending = true;
        p.sent += 1;
        let (latency, rate, corrupt) = (p.latency_us, p.bytes_per_sec, p.corrupt);
        let data = self.block(&cid);
        let done = now + data.len() as u64 * 1_000_000 / rate;
        let data = if corrupt && !data.is_empty() {
            let mut v = data.to_vec();
            v[0] ^= 0x55;
            Bytes::from(v)
        } else {
            data
        };
        self.at(done, Ev::Sent(peer));
        self.at(done + latency, Ev::Block(peer, cid, data));
    }

    fn step(&mut self) -> bool {
        let Some(Reverse((t, seq))) = self.queue.pop() else {
            return false;
        };
        self.now = t;
        let now = Instant::from_micros(t);
        // Peers leaving the swarm.
        for i in 0..self.peers.len() {
            if !self.peers[i].gone && self.peers[i].leaves_at_us.is_some_and(|l| l <= t) {
                self.peers[i].gone = true;
                self.planner.handle_peer_disconnected(now, i as u32);
            }
        }
        let ev = self.events.remove(&seq).expect("queued event");
        let root = self.dag.root.cid;
        match ev {
            Ev::Timer => self.planner.handle_timeout(now),
            Ev::Sent(p) => self.send_next(p),
            Ev::Providers(p) => self.planner.handle_providers(now, root, p, true),
            Ev::Connected(p) if !self.peers[p as usize].gone => {
                self.planner.handle_peer_connected(now, p)
            }
            Ev::Connected(p) | Ev::Disconnected(p) => self.planner.handle_peer_disconnected(now, p),
            Ev::Have(p, cid, true) => self.planner.handle_have(now, p, cid),
            Ev::Have(p, cid, false) => self.planner.handle_dont_have(now, p, cid),
            Ev::Block(p, cid, data) => {
                if !self.peers[p as usize].gone {
                    self.planner.handle_block(now, p, cid, data)
                }
            }
            Ev::OriginData(r, d) if !self.cancelled_origin.contains(&r) => {
                self.planner.handle_origin_data(now, r, d)
            }
            Ev::OriginDone(r) if !self.cancelled_origin.contains(&r) => {
                self.planner.handle_origin_done(now, r)
            }
            Ev::OriginFailed(r) => self.planner.handle_origin_failed(now, r, "HTTP 503".into()),
            Ev::OriginData(..) | Ev::OriginDone(..) => {}
        }
        self.drain();
        true
    }
}

fn run(seed: u64) -> World {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let size = match rng.range(0, 3) {
        0 => rng.range(0, 4096),
        1 => rng.range(1, CHUNK_SIZE as u64),
        _ => rng.range(CHUNK_SIZE as u64, 12 * CHUNK_SIZE as u64),
    } as usize;
    let data: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
    let dag = build_dag(&data);
    let n = rng.range(0, 6) as usize;
    let peers: Vec<SimPeer> = (0..n)
        .map(|_| SimPeer {
            latency_us: rng.range(200, 40_000),
            bytes_per_sec: rng.range(100_000, 50_000_000),
            has: rng.chance(70),
            corrupt: rng.chance(20),
            stall_after: rng.chance(20).then(|| rng.range(0, 4) as usize),
            leaves_at_us: rng.chance(15).then(|| rng.range(0, 2_000_000)),
            sent: 0,
            queue: std::collections::VecDeque::new(),
            sending: false,
            gone: false,
        })
        .collect();
    let mut planner = Planner::new(Config::new(), MemoryStore::new(64 << 20));
    for i in 0..n {
        if rng.chance(60) {
            planner.handle_peer_connected(Instant::ZERO, i as u32);
        }
    }
    let mut world = World {
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        events: BTreeMap::new(),
        planner,
        peers,
        origin_up: rng.chance(85),
        origin_latency_us: rng.range(5_000, 300_000),
        origin_rate: rng.range(500_000, 20_000_000),
        cancelled_origin: BTreeSet::new(),
        dag,
        data,
        delivered: Vec::new(),
        outcome: None,
        blocks_from_liars: 0,
    };
    let root = world.dag.root.cid;
    world.planner.start(Instant::ZERO, root, true);
    world.drain();
    for _ in 0..200_000 {
        if world.outcome.is_some() || !world.step() {
            break;
        }
    }
    world
}

#[test]
fn random_swarms_deliver_exactly_the_asset_or_fail_clearly() {
    let mut completed = 0;
    for seed in 0..400 {
        let world = run(seed);
        assert_eq!(
            world.blocks_from_liars, 0,
            "seed {seed}: a lying peer's block was accepted"
        );
        let honest_holder = world
            .peers
            .iter()
            .any(|p| p.has && !p.corrupt && p.stall_after.is_none() && p.leaves_at_us.is_none());
        match &world.outcome {
            Some(Ok(())) => {
                assert_eq!(world.delivered, world.data, "seed {seed}");
                completed += 1;
            }
            Some(Err(e)) => {
                assert!(
                    !world.origin_up && !honest_holder,
                    "seed {seed}: failed ({e}) although a source was available"
                );
            }
            None => panic!(
                "seed {seed}: neither completed nor failed by {} us (origin up: {}, peers: {:?})",
                world.now, world.origin_up, world.peers
            ),
        }
        assert_eq!(world.planner.active_fetches(), 0, "seed {seed}");
    }
    assert!(completed > 300, "most swarms have a source: {completed}");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    for seed in [3, 17, 99] {
        let a = run(seed);
        let b = run(seed);
        assert_eq!(a.now, b.now);
        assert_eq!(a.delivered, b.delivered);
        assert_eq!(a.planner.stats().snapshot(), b.planner.stats().snapshot());
    }
}

/// Replays one seed with its outcome and peers printed; add `SWARM_TRACE=1` for every action
/// and event: `SEED=8845 SWARM_TRACE=1 cargo test -p mesh-core --test planner_swarm replay --
/// --ignored --nocapture`. (The suite above was also run over 20,000 seeds in release.)
#[test]
#[ignore = "diagnostic: replays the seed in $SEED"]
fn replay() {
    let seed: u64 = std::env::var("SEED")
        .expect("SEED")
        .parse()
        .expect("a number");
    let w = run(seed);
    eprintln!(
        "outcome {:?} now {} origin_up {} size {} peers {:#?}",
        w.outcome,
        w.now,
        w.origin_up,
        w.data.len(),
        w.peers
    );
}
