//! Fetch planner scenarios in virtual time: every input carries an explicit `now`, nothing sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use mesh_core::Cid;
use mesh_core::block::CHUNK_SIZE;
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{
    Action, BlockSource, CancelOrigin, Config, Deliver, Event, FallbackReason, FetchId,
    OriginFetch, OriginRequestId, Output, Penalty, Planner, ReassignReason,
};
use mesh_core::stats::Source;
use mesh_core::store::{BlockStore, MemoryStore};
use mesh_core::time::Instant;

type Peer = u32;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

mod common;

use common::block_data;

/// Deterministic content that never repeats a chunk.
fn content(len: usize, seed: u32) -> Vec<u8> {
    common::xorshift_bytes(len, seed.wrapping_mul(2_654_435_761).max(1))
}

fn planner() -> Planner<Peer, MemoryStore> {
    Planner::new(Config::new(), MemoryStore::new(64 << 20))
}

/// Drained output of one step.
#[derive(Debug, Default)]
struct Out {
    actions: Vec<Action<Peer>>,
    events: Vec<Event<Peer>>,
}

impl Out {
    fn origin_fetches(&self) -> Vec<(OriginRequestId, Option<std::ops::Range<u64>>)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::OriginFetch(OriginFetch { request, range, .. }) => {
                    Some((*request, range.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn want_blocks(&self) -> Vec<(Peer, Vec<Cid>)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::SendWantBlock { peer, cids, .. } => Some((*peer, cids.clone())),
                _ => None,
            })
            .collect()
    }

    fn delivered(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for a in &self.actions {
            if let Action::Deliver(Deliver { data, .. }) = a {
                out.extend_from_slice(data);
            }
        }
        out
    }

    fn fallback(&self) -> Option<FallbackReason<Peer>> {
        self.events.iter().find_map(|e| match e {
            Event::Fallback { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    fn completed(&self) -> Option<mesh_core::fetch::FetchSummary> {
        self.events.iter().find_map(|e| match e {
            Event::Completed { summary, .. } => Some(summary.clone()),
            _ => None,
        })
    }

    fn extend(&mut self, other: Out) {
        self.actions.extend(other.actions);
        self.events.extend(other.events);
    }
}

fn drain(p: &mut Planner<Peer, MemoryStore>) -> Out {
    let mut out = Out::default();
    while let Some(output) = p.poll_output() {
        match output {
            Output::Action(a) => out.actions.push(a),
            Output::Event(e) => out.events.push(e),
        }
    }
    out
}

/// Starts a fetch of `dag` at 0 ms; `peer` (already connected) says it has it at 1 ms and
/// delivers the root at 2 ms. Returns the fetch and the leaves then asked of `peer`.
fn root_from(p: &mut Planner<Peer, MemoryStore>, dag: &Dag, peer: Peer) -> (FetchId, Vec<Cid>) {
    let root = dag.root.cid;
    let fetch = p.start(ms(0), root, true);
    p.handle_have(ms(1), peer, root);
    drain(p);
    p.handle_block(ms(2), peer, root, block_data(dag, &root));
    let wants = drain(p).want_blocks();
    assert_eq!(wants[0].0, peer, "the leaves are asked of the holder");
    (fetch, wants[0].1.clone())
}

/// Checks that deliveries of one fetch are contiguous from offset 0.
fn assert_in_order(out: &Out, fetch: FetchId) {
    let mut next = 0;
    for a in &out.actions {
        if let Action::Deliver(Deliver {
            fetch: f,
            offset,
            data,
        }) = a
        {
            if *f == fetch {
                assert_eq!(*offset, next, "deliveries must be contiguous");
                next += data.len() as u64;
            }
        }
    }
}

#[test]
fn no_provider_falls_back_to_origin_exactly_at_the_deadline() {
    let data = content(10_000, 1);
    let dag = build_dag(&data);
    let mut p = planner();
    let fetch = p.start(ms(0), dag.root.cid, true);
    let out = drain(&mut p);
    assert!(matches!(out.actions[0], Action::FindProviders { cid } if cid == dag.root.cid));
    assert!(out.origin_fetches().is_empty());
    assert_eq!(p.poll_timeout(), Some(ms(200)));

    p.handle_timeout(Instant::from_micros(199_999));
    assert!(
        drain(&mut p).origin_fetches().is_empty(),
        "not a microsecond early"
    );

    p.handle_timeout(ms(200));
    let out = drain(&mut p);
    assert_eq!(out.fallback(), Some(FallbackReason::Deadline));
    let requests = out.origin_fetches();
    assert_eq!(requests.len(), 1);
    let (request, range) = requests[0].clone();
    assert_eq!(range, None, "root unknown: the whole asset");

    // The body arrives in uneven pieces.
    p.handle_origin_data(ms(250), request, Bytes::copy_from_slice(&data[..3000]));
    p.handle_origin_data(ms(260), request, Bytes::copy_from_slice(&data[3000..]));
    p.handle_origin_done(ms(261), request);
    let out = drain(&mut p);
    assert_eq!(out.delivered(), data);
    assert_in_order(&out, fetch);
    let summary = out.completed().expect("completed");
    assert_eq!(summary.bytes_origin, data.len() as u64);
    assert_eq!(summary.source_label(), "origin");
    assert!(summary.fell_back);
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::Announce { cid } if *cid == dag.root.cid))
    );
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.stats().bytes(Source::Origin), data.len() as u64);
}

#[test]
fn provider_found_at_50ms_delivers_and_origin_is_never_asked() {
    let data = content(40_000, 2);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    let fetch = p.start(ms(0), root, true);
    drain(&mut p);

    p.handle_providers(ms(50), root, vec![7], true);
    let out = drain(&mut p);
    assert!(out.actions.contains(&Action::Connect { peer: 7 }));

    p.handle_peer_connected(ms(60), 7);
    let out = drain(&mut p);
    assert_eq!(out.want_blocks(), vec![(7, vec![root])]);

    p.handle_block(ms(70), 7, root, block_data(&dag, &root));
    let out = drain(&mut p);
    assert_eq!(out.delivered(), data);
    assert_in_order(&out, fetch);
    let summary = out.completed().expect("completed");
    assert_eq!(summary.source_label(), "peer");
    assert_eq!(summary.ttfb, Some(Duration::from_millis(70)));
    assert!(!summary.fell_back);
    assert_eq!(p.poll_timeout(), None, "the deadline is disarmed");
    p.handle_timeout(ms(1000));
    assert!(drain(&mut p).origin_fetches().is_empty());
}

#[test]
fn connected_peers_are_asked_at_once_and_multi_block_assets_arrive_in_order() {
    let data = content(5 * CHUNK_SIZE + 123, 3);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_peer_connected(ms(0), 2);
    let fetch = p.start(ms(1), root, true);
    let out = drain(&mut p);
    let asked: Vec<Peer> = out
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::SendWantHave { peer, cids, .. } if cids == &vec![root] => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![1, 2], "want-have to every connected peer");
    assert!(out.actions.contains(&Action::FindProviders { cid: root }));

    p.handle_have(ms(5), 1, root);
    p.handle_have(ms(5), 2, root);
    let out = drain(&mut p);
    let wants = out.want_blocks();
    assert_eq!(wants.len(), 1);
    let (first, _) = wants[0].clone();
    p.handle_block(ms(8), first, root, block_data(&dag, &root));
    let out = drain(&mut p);
    // Leaves are spread over both holders.
    let wants = out.want_blocks();
    let by_peer: BTreeMap<Peer, usize> = wants.iter().map(|(p, c)| (*p, c.len())).collect();
    assert_eq!(by_peer.values().sum::<usize>(), 6);
    assert_eq!(by_peer.len(), 2, "both holders work: {by_peer:?}");

    // Answer in reverse order: delivery still comes out in file order.
    let mut all = Out::default();
    let mut leaves: Vec<(Peer, Cid)> = wants
        .iter()
        .flat_map(|(peer, cids)| cids.iter().map(move |c| (*peer, *c)))
        .collect();
    leaves.reverse();
    for (i, (peer, cid)) in leaves.into_iter().enumerate() {
        p.handle_block(ms(10 + i as u64), peer, cid, block_data(&dag, &cid));
        all.extend(drain(&mut p));
    }
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    assert_eq!(all.completed().expect("completed").source_label(), "peer");
}

#[test]
fn stalled_peer_loses_the_rest_to_origin_ranges() {
    let data = content(8 * CHUNK_SIZE, 4);
    let dag = build_dag(&data);
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    let (fetch, leaves) = root_from(&mut p, &dag, 1);
    assert_eq!(leaves.len(), 8);
    // Two leaves arrive, then nothing.
    let mut all = Out::default();
    p.handle_block(ms(20), 1, leaves[0], block_data(&dag, &leaves[0]));
    p.handle_block(ms(30), 1, leaves[1], block_data(&dag, &leaves[1]));
    all.extend(drain(&mut p));
    assert_eq!(
        p.poll_timeout(),
        Some(ms(1030)),
        "stall clock runs from the last block"
    );
    p.handle_timeout(ms(1030));
    let out = drain(&mut p);
    assert!(out.events.iter().any(|e| matches!(e,
        Event::Reassigned { peer: 1, reason: ReassignReason::Stalled, cids, .. } if cids.len() == 6)));
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::PeerPenalized {
            peer: 1,
            penalty: Penalty::Stalled,
            ..
        }
    )));
    assert_eq!(out.fallback(), Some(FallbackReason::Stalled(1)));
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::SendCancel { peer: 1, cids } if cids.len() == 6))
    );
    let ranges = out.origin_fetches();
    assert_eq!(ranges.len(), 1);
    let (request, range) = ranges[0].clone();
    let range = range.expect("a range, the leaves are known");
    assert_eq!(range, (2 * CHUNK_SIZE as u64)..(8 * CHUNK_SIZE as u64));
    all.extend(out);
    let body = &data[range.start as usize..range.end as usize];
    for piece in body.chunks(100_000) {
        p.handle_origin_data(ms(1100), request, Bytes::copy_from_slice(piece));
        all.extend(drain(&mut p));
    }
    p.handle_origin_done(ms(1200), request);
    all.extend(drain(&mut p));
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    let summary = all.completed().expect("completed");
    assert_eq!(summary.bytes_origin, 6 * CHUNK_SIZE as u64);
    assert!(summary.bytes_peer >= 2 * CHUNK_SIZE as u64);
    assert_eq!(summary.source_label(), "mixed");
}

#[test]
fn corrupt_block_is_never_released_and_is_refetched_from_another_peer() {
    let data = content(3 * CHUNK_SIZE, 6);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_peer_connected(ms(0), 2);
    let (fetch, leaves) = root_from(&mut p, &dag, 1);
    p.handle_have(ms(3), 2, root);
    drain(&mut p);

    let mut all = Out::default();
    let mut evil = block_data(&dag, &leaves[0]).to_vec();
    evil[17] ^= 0xff;
    p.handle_block(ms(5), 1, leaves[0], Bytes::from(evil));
    let out = drain(&mut p);
    assert!(out.delivered().is_empty(), "nothing unverified is released");
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::PeerPenalized {
            peer: 1,
            penalty: Penalty::Corrupt(_),
            score: -59
        }
    )));
    assert!(
        out.want_blocks().contains(&(2, vec![leaves[0]])),
        "asked of peer 2"
    );
    assert_eq!(p.peer_score(&1), Some(-59));
    all.extend(out);

    // A second lie gets peer 1 ignored; its outstanding blocks move to peer 2.
    let mut evil = block_data(&dag, &leaves[1]).to_vec();
    evil[0] ^= 1;
    p.handle_block(ms(6), 1, leaves[1], Bytes::from(evil));
    let out = drain(&mut p);
    assert!(out.events.contains(&Event::PeerIgnored { peer: 1 }));
    assert!(p.is_ignored(&1));
    all.extend(out);
    for (peer, cids) in all.want_blocks() {
        assert!(
            peer != 1 || cids.iter().all(|c| !leaves[..2].contains(c)),
            "a block peer 1 lied about was asked of it again"
        );
    }
    // Peer 1's later (even correct) blocks are not taken, and nothing more is asked of it.
    let mut later = Out::default();
    p.handle_block(ms(7), 1, leaves[2], block_data(&dag, &leaves[2]));
    later.extend(drain(&mut p));
    for cid in &leaves {
        p.handle_block(ms(8), 2, *cid, block_data(&dag, cid));
        later.extend(drain(&mut p));
    }
    assert!(later.want_blocks().iter().all(|(peer, _)| *peer != 1));
    all.extend(later);
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    let accepted_from_1 = all.events.iter().any(|e| {
        matches!(e, Event::BlockAccepted { from: BlockSource::Peer(1), cid, .. } if *cid != root)
    });
    assert!(!accepted_from_1);
}

#[test]
fn only_a_corrupt_peer_means_origin_at_once() {
    let data = content(1000, 7);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.start(ms(0), root, true);
    p.handle_providers(ms(1), root, vec![], true);
    p.handle_have(ms(2), 1, root);
    drain(&mut p);
    p.handle_block(ms(3), 1, root, Bytes::from_static(b"not the asset"));
    let out = drain(&mut p);
    assert_eq!(out.fallback(), Some(FallbackReason::PeersLost));
    assert_eq!(out.origin_fetches().len(), 1);
    assert!(out.delivered().is_empty());
}

#[test]
fn tampered_origin_is_an_integrity_failure_without_peers() {
    let data = content(1000, 8);
    let dag = build_dag(&data);
    let mut p = planner();
    let fetch = p.start(ms(0), dag.root.cid, true);
    p.handle_providers(ms(10), dag.root.cid, vec![], true);
    let out = drain(&mut p);
    assert_eq!(
        out.fallback(),
        Some(FallbackReason::NoProviders),
        "no need to wait for the deadline"
    );
    let (request, _) = out.origin_fetches()[0].clone();
    let mut bad = data.clone();
    bad[999] ^= 1;
    p.handle_origin_data(ms(20), request, Bytes::from(bad));
    p.handle_origin_done(ms(21), request);
    let out = drain(&mut p);
    assert!(out.delivered().is_empty());
    assert!(out.events.iter().any(|e| matches!(e, Event::Failed { fetch: f, error: mesh_core::fetch::FetchError::Origin { .. } } if *f == fetch)));
    assert_eq!(p.active_fetches(), 0);
}

#[test]
fn multi_block_asset_from_origin_alone_is_verified_by_rebuilding_the_dag() {
    let data = content(3 * CHUNK_SIZE + 5, 9);
    let dag = build_dag(&data);
    let mut p = planner();
    let fetch = p.start(ms(0), dag.root.cid, true);
    assert_eq!(
        p.poll_timeout(),
        Some(ms(800)),
        "a multi-block asset's deadline"
    );
    p.handle_timeout(ms(800));
    let out = drain(&mut p);
    let (request, range) = out.origin_fetches()[0].clone();
    assert_eq!(range, None);
    let mut all = Out::default();
    for piece in data.chunks(70_000) {
        p.handle_origin_data(ms(300), request, Bytes::copy_from_slice(piece));
        all.extend(drain(&mut p));
    }
    assert!(all.delivered().is_empty(), "held until the root is proven");
    p.handle_origin_done(ms(301), request);
    all.extend(drain(&mut p));
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    assert!(all.completed().is_some());
    // Every block is cached and can be served to peers.
    for block in &dag.blocks {
        assert!(p.store().contains(block.cid()));
    }
}

#[test]
fn cancel_releases_wants_origin_requests_and_pins() {
    let data = content(4 * CHUNK_SIZE, 10);
    let dag = build_dag(&data);
    let budget = (4 * CHUNK_SIZE + 4096) as u64;
    let mut p: Planner<Peer, MemoryStore> = Planner::new(Config::new(), MemoryStore::new(budget));
    p.handle_peer_connected(ms(0), 1);
    let (fetch, leaves) = root_from(&mut p, &dag, 1);
    p.handle_block(ms(3), 1, leaves[0], block_data(&dag, &leaves[0]));
    p.handle_timeout(ms(1003)); // stall: origin ranges start
    let out = drain(&mut p);
    assert!(!out.origin_fetches().is_empty());
    let origin: Vec<OriginRequestId> = out.origin_fetches().iter().map(|(r, _)| *r).collect();

    p.cancel(ms(1004), fetch);
    let out = drain(&mut p);
    assert!(out.events.contains(&Event::Cancelled { fetch }));
    for r in &origin {
        assert!(
            out.actions
                .contains(&Action::CancelOrigin(CancelOrigin { request: *r }))
        );
    }
    assert_eq!(p.active_fetches(), 0);
    assert_eq!(p.poll_timeout(), None);
    // Unpinned: a new block that needs the room evicts the cancelled fetch's blocks.
    let filler = mesh_core::Block::from_data(
        mesh_core::block::RAW_CODEC,
        Bytes::from(content(4 * CHUNK_SIZE, 11)[..CHUNK_SIZE * 4].to_vec()),
    );
    assert!(filler.len() as u64 <= budget);
    p.store_mut().put(filler).expect("room after unpinning");
    assert!(!p.store().contains(&leaves[0]));
    // Late data for the cancelled fetch is ignored.
    p.handle_origin_data(ms(1100), origin[0], Bytes::from_static(b"late"));
    p.handle_block(ms(1100), 1, leaves[1], block_data(&dag, &leaves[1]));
    assert!(drain(&mut p).delivered().is_empty());
}

#[test]
fn second_fetch_is_served_from_cache() {
    let data = content(2 * CHUNK_SIZE + 1, 12);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    let first = p.start(ms(0), root, true);
    p.handle_timeout(ms(800));
    let (request, _) = drain(&mut p).origin_fetches()[0].clone();
    p.handle_origin_data(ms(210), request, Bytes::from(data.clone()));
    p.handle_origin_done(ms(211), request);
    assert!(drain(&mut p).completed().is_some());

    let second = p.start(ms(1000), root, true);
    assert_ne!(first, second);
    let out = drain(&mut p);
    assert_eq!(out.delivered(), data);
    let summary = out.completed().expect("completed from cache");
    assert_eq!(summary.source_label(), "cache");
    assert!(
        !out.actions
            .iter()
            .any(|a| matches!(a, Action::FindProviders { .. }))
    );
    assert!(p.store().stats().hits >= 4);
    assert!(
        !out.actions
            .iter()
            .any(|a| matches!(a, Action::Announce { .. })),
        "nothing new to announce"
    );
}

#[test]
fn hedged_origin_and_late_peer_first_verified_wins() {
    let data = content(2000, 13);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    let fetch = p.start(ms(0), root, true);
    p.handle_have(ms(150), 1, root);
    drain(&mut p);
    p.handle_timeout(ms(200)); // peer asked but silent: origin hedges
    let out = drain(&mut p);
    assert_eq!(out.fallback(), Some(FallbackReason::Deadline));
    let (request, _) = out.origin_fetches()[0].clone();
    // The peer wins the race.
    p.handle_block(ms(210), 1, root, block_data(&dag, &root));
    let out = drain(&mut p);
    assert_eq!(out.delivered(), data);
    assert!(
        out.actions
            .contains(&Action::CancelOrigin(CancelOrigin { request }))
    );
    assert_eq!(out.completed().expect("done").source_label(), "peer");
    assert_in_order(&out, fetch);
}

#[test]
fn without_origin_and_without_providers_the_fetch_fails_clearly() {
    let dag = build_dag(&content(100, 14));
    let mut p = planner();
    let fetch = p.start(ms(0), dag.root.cid, false);
    assert_eq!(p.poll_timeout(), None, "no origin, no deadline");
    p.handle_providers(ms(30), dag.root.cid, vec![], true);
    let out = drain(&mut p);
    assert!(out.events.iter().any(|e| matches!(e,
        Event::Failed { fetch: f, error: mesh_core::fetch::FetchError::NoSource { .. } } if *f == fetch)));
}

#[test]
fn unsupported_root_fails_at_start() {
    // dag-cbor (0x71) is not a UnixFS file.
    let raw = mesh_core::block::cid_for(mesh_core::block::RAW_CODEC, b"x");
    let cid = Cid::new_v1(0x71, *raw.hash());
    let mut p = planner();
    let fetch = p.start(ms(0), cid, true);
    let out = drain(&mut p);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::Failed { fetch: f, .. } if *f == fetch))
    );
    assert_eq!(p.active_fetches(), 0);
}

#[test]
fn disconnected_peers_are_forgotten_unless_penalised() {
    let dag = build_dag(&content(1000, 15));
    let root = dag.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_peer_connected(ms(0), 2);
    p.start(ms(0), root, true);
    p.handle_have(ms(1), 2, root);
    drain(&mut p);
    p.handle_block(ms(2), 2, root, Bytes::from_static(b"lie"));
    drain(&mut p);
    p.handle_peer_disconnected(ms(3), 1);
    p.handle_peer_disconnected(ms(3), 2);
    assert_eq!(p.peer_score(&1), None, "a clean peer is forgotten");
    assert_eq!(p.peer_score(&2), Some(-60), "a liar is remembered");
}

/// The browser node's first fetch from a seeder over a fresh WebSocket connection (seen in the
/// browser tests): a 1.3 MB, 5-leaf asset, deadline 5 s. Block exchange 1.x opened one stream per
/// block, so the five leaves move at once and all land ~300 ms after they were asked for.
/// The first leaf's rate sample (256 KiB in 300 ms) undercounts the peer five times; projected
/// from it alone, the other four leaves would "take" 1.2 s against the origin's estimated
/// 0.36 s, and the planner used to start an origin request whose bytes the peer then beat.
#[test]
fn a_parallel_batch_is_not_judged_slow_on_its_first_block() {
    let data = content(1_305_000, 16);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = Planner::new(
        Config::new().with_fallback_after(Duration::from_millis(5000)),
        MemoryStore::new(64 << 20),
    );
    let mut all = Out::default();
    let fetch = p.start(ms(0), root, true);
    p.handle_providers(ms(30), root, vec![7], true);
    all.extend(drain(&mut p));
    p.handle_peer_connected(ms(430), 7);
    all.extend(drain(&mut p));
    p.handle_block(ms(460), 7, root, block_data(&dag, &root));
    let out = drain(&mut p);
    let leaves = out.want_blocks()[0].1.clone();
    assert_eq!(leaves.len(), 5);
    all.extend(out);
    for (i, leaf) in leaves.iter().enumerate() {
        let now = ms(760 + i as u64);
        if p.poll_timeout().is_some_and(|t| t <= now) {
            p.handle_timeout(now);
        }
        p.handle_block(now, 7, *leaf, block_data(&dag, leaf));
        all.extend(drain(&mut p));
    }
    assert_eq!(all.fallback(), None, "{:?}", all.events);
    assert!(all.origin_fetches().is_empty());
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    let summary = all.completed().expect("completed");
    assert!(!summary.fell_back);
    assert_eq!(summary.bytes_origin, 0);
}

/// The same batch on a slower first connection: nothing for 900 ms after the leaves were asked
/// for, then all five. A peer that is still setting up its streams is not stalled: the default
/// stall timeout leaves it alone (500 ms, the old default, brought the origin in).
#[test]
fn a_slow_first_batch_is_not_a_stall_with_the_default_timeout() {
    let data = content(1_305_000, 17);
    let dag = build_dag(&data);
    let mut p = Planner::new(
        Config::new().with_fallback_after(Duration::from_millis(5000)),
        MemoryStore::new(64 << 20),
    );
    p.handle_peer_connected(ms(0), 1);
    let (fetch, leaves) = root_from(&mut p, &dag, 1);
    // The DHT lookup is over: the peer is the only provider.
    p.handle_providers(ms(2), dag.root.cid, vec![1], true);
    let mut all = drain(&mut p);
    let mut now = ms(2);
    while let Some(t) = p.poll_timeout().filter(|t| *t < ms(902)) {
        now = t;
        p.handle_timeout(now);
        all.extend(drain(&mut p));
    }
    assert!(now < ms(902));
    for (i, leaf) in leaves.iter().enumerate() {
        p.handle_block(ms(902 + i as u64), 1, *leaf, block_data(&dag, leaf));
        all.extend(drain(&mut p));
    }
    assert_eq!(all.fallback(), None, "{:?}", all.events);
    assert!(all.origin_fetches().is_empty());
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    let summary = all.completed().expect("completed");
    assert!(!summary.fell_back);
}

/// A genuinely slow serial peer is still judged, one block later: its second block takes as
/// long as its first, which a parallel sender's does not.
#[test]
fn a_serial_slow_peer_is_judged_on_its_second_block() {
    let data = content(12 * CHUNK_SIZE, 18);
    let dag = build_dag(&data);
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    let (_, leaves) = root_from(&mut p, &dag, 1);
    p.handle_block(ms(1002), 1, leaves[0], block_data(&dag, &leaves[0]));
    assert_eq!(drain(&mut p).fallback(), None, "one sample proves nothing");
    p.handle_block(ms(2002), 1, leaves[1], block_data(&dag, &leaves[1]));
    let out = drain(&mut p);
    assert_eq!(out.fallback(), Some(FallbackReason::Slow(1)));
    let moved = out
        .events
        .iter()
        .find_map(|e| match e {
            Event::Reassigned {
                peer: 1,
                reason: ReassignReason::Slow,
                cids,
                ..
            } => Some(cids.len()),
            _ => None,
        })
        .expect("slow peer reassigned");
    assert_eq!(moved, 9, "keeps its oldest outstanding block");
    let ranges: u64 = out
        .origin_fetches()
        .iter()
        .map(|(_, r)| r.clone().map_or(0, |r| r.end - r.start))
        .sum();
    assert_eq!(ranges, 9 * CHUNK_SIZE as u64);
}

/// Recommendation 1 of docs/SIMULATION.md. The deadline passes before anyone delivered the
/// root of a 20-leaf asset, so the origin is asked for the whole file; then a peer delivers the
/// root. The whole-file request is cancelled (the two leaves its body brought in are kept),
/// the peer is asked for 16 leaves and the origin for only the 2 nobody is delivering.
#[test]
fn a_whole_file_request_narrows_to_ranges_once_a_peer_delivers_the_root() {
    let data = content(20 * CHUNK_SIZE, 19);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = Planner::new(
        Config::new().with_large_fallback_after(Duration::ZERO),
        MemoryStore::new(64 << 20),
    );
    let fetch = p.start(ms(0), root, true);
    drain(&mut p);
    p.handle_timeout(ms(200));
    let out = drain(&mut p);
    assert_eq!(out.fallback(), Some(FallbackReason::Deadline));
    let (whole, range) = out.origin_fetches()[0].clone();
    assert_eq!(range, None);
    // Two leaves and a bit of the body arrive; without the root they cannot be verified yet.
    p.handle_origin_data(
        ms(300),
        whole,
        Bytes::copy_from_slice(&data[..2 * CHUNK_SIZE + 10]),
    );
    let out = drain(&mut p);
    assert!(out.delivered().is_empty());
    let mut all = out;
    p.handle_providers(ms(310), root, vec![4], true);
    p.handle_peer_connected(ms(320), 4);
    all.extend(drain(&mut p));
    p.handle_block(ms(350), 4, root, block_data(&dag, &root));
    let out = drain(&mut p);
    assert!(
        out.actions
            .contains(&Action::CancelOrigin(CancelOrigin { request: whole }))
    );
    assert!(out.events.iter().any(|e| matches!(e,
        Event::OriginNarrowed { request, salvaged: 2, .. } if *request == whole)));
    assert_eq!(out.delivered(), data[..2 * CHUNK_SIZE]);
    let wants = out.want_blocks();
    assert_eq!(wants.len(), 1);
    assert_eq!(wants[0].1.len(), 16, "the peer gets its fill");
    let ranges = out.origin_fetches();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let (request, range) = ranges[0].clone();
    let range = range.expect("a range, the leaves are known");
    assert_eq!(range, (18 * CHUNK_SIZE as u64)..(20 * CHUNK_SIZE as u64));
    all.extend(out);
    // Late bytes of the cancelled body are ignored.
    p.handle_origin_data(
        ms(360),
        whole,
        Bytes::copy_from_slice(&data[2 * CHUNK_SIZE + 10..]),
    );
    all.extend(drain(&mut p));
    for leaf in &wants[0].1 {
        p.handle_block(ms(400), 4, *leaf, block_data(&dag, leaf));
        all.extend(drain(&mut p));
    }
    p.handle_origin_data(
        ms(420),
        request,
        Bytes::copy_from_slice(&data[range.start as usize..]),
    );
    p.handle_origin_done(ms(421), request);
    all.extend(drain(&mut p));
    assert_eq!(all.delivered(), data);
    assert_in_order(&all, fetch);
    let summary = all.completed().expect("completed");
    assert!(summary.fell_back);
    assert_eq!(summary.bytes_origin, 4 * CHUNK_SIZE as u64);
    assert_eq!(
        summary.bytes_peer,
        16 * CHUNK_SIZE as u64 + block_data(&dag, &root).len() as u64
    );
}

/// With the narrowing off (the old policy) the whole-file request runs on.
#[test]
fn narrowing_can_be_turned_off() {
    let data = content(20 * CHUNK_SIZE, 20);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = Planner::new(
        Config::new()
            .with_origin_ranges_once_known(false)
            .with_large_fallback_after(Duration::ZERO),
        MemoryStore::new(64 << 20),
    );
    p.start(ms(0), root, true);
    p.handle_timeout(ms(200));
    let (whole, _) = drain(&mut p).origin_fetches()[0].clone();
    p.handle_peer_connected(ms(320), 4);
    p.handle_have(ms(330), 4, root);
    p.handle_block(ms(350), 4, root, block_data(&dag, &root));
    let out = drain(&mut p);
    assert!(
        !out.actions
            .contains(&Action::CancelOrigin(CancelOrigin { request: whole }))
    );
    assert!(out.origin_fetches().is_empty());
}

/// Recommendation 3 of docs/SIMULATION.md: single-block assets (a raw root) get
/// `fallback_after`, multi-block ones (a dag-pb root) the longer `large_fallback_after`; a
/// longer `fallback_after` (the browser's `fallbackMs`) applies to both.
#[test]
fn multi_block_assets_get_the_longer_deadline() {
    let small = build_dag(&content(1000, 21)).root.cid;
    let large = build_dag(&content(2 * CHUNK_SIZE, 22)).root.cid;
    let c = Config::new();
    assert_eq!(c.deadline_for(&small), Duration::from_millis(200));
    assert_eq!(c.deadline_for(&large), Duration::from_millis(800));
    let c = Config::new().with_fallback_after(Duration::from_millis(5000));
    assert_eq!(c.deadline_for(&small), Duration::from_millis(5000));
    assert_eq!(c.deadline_for(&large), Duration::from_millis(5000));
    let mut p = planner();
    p.start(ms(0), small, true);
    p.start(ms(100), large, true);
    drain(&mut p);
    assert_eq!(p.poll_timeout(), Some(ms(200)));
    p.handle_timeout(ms(200));
    assert_eq!(
        drain(&mut p).origin_fetches().len(),
        1,
        "only the small one"
    );
    assert_eq!(p.poll_timeout(), Some(ms(900)));
    p.handle_timeout(ms(900));
    assert_eq!(drain(&mut p).fallback(), Some(FallbackReason::Deadline));
}

/// Recommendation 4 of docs/SIMULATION.md: a single-block asset is asked of the best-scored
/// connected peers with want-block at once (one round trip fewer), of the others with
/// want-have. A peer without it answers don't-have and is simply out; the first verified
/// block wins. Multi-block assets still start with want-have.
#[test]
fn single_block_assets_are_asked_of_warm_peers_with_want_block() {
    let small = build_dag(&content(5000, 23));
    let root = small.root.cid;
    let mut p = Planner::new(
        Config::new().with_want_block_first(2),
        MemoryStore::new(64 << 20),
    );
    for peer in [1, 2, 3] {
        p.handle_peer_connected(ms(0), peer);
    }
    // Peer 3 has earned a better score than the others.
    let earlier = build_dag(&content(3000, 24));
    p.start(ms(0), earlier.root.cid, true);
    drain(&mut p);
    p.handle_block(
        ms(5),
        3,
        earlier.root.cid,
        block_data(&earlier, &earlier.root.cid),
    );
    drain(&mut p);
    assert!(p.peer_score(&3) > p.peer_score(&1));

    p.start(ms(10), root, true);
    let out = drain(&mut p);
    let mut direct: Vec<Peer> = out.want_blocks().iter().map(|(peer, _)| *peer).collect();
    direct.sort();
    assert_eq!(direct, vec![1, 3], "the best-scored first, then by key");
    assert!(
        out.actions
            .iter()
            .any(|a| matches!(a, Action::SendWantHave { peer: 2, .. }))
    );
    p.handle_dont_have(ms(40), 3, root);
    let out = drain(&mut p);
    assert!(out.completed().is_none() && out.fallback().is_none());
    p.handle_block(ms(45), 1, root, block_data(&small, &root));
    let out = drain(&mut p);
    let summary = out.completed().expect("completed");
    assert_eq!(summary.source_label(), "peer");
    assert_eq!(summary.ttfb, Some(Duration::from_millis(35)));
    assert!(!summary.fell_back);

    let large = build_dag(&content(2 * CHUNK_SIZE, 25));
    p.start(ms(100), large.root.cid, true);
    let out = drain(&mut p);
    assert!(out.want_blocks().is_empty(), "multi-block: want-have first");
}

/// A chunk repeated in two subtrees, the second subtree's node arriving only after the first
/// copy was handed to the page: the fetch keeps the chunk's bytes for its later position (a
/// repeated chunk is never asked for again). Letting them go at the first delivery, while
/// positions were still unknown, left the fetch waiting forever.
#[test]
fn a_chunk_repeated_in_a_subtree_revealed_late_is_delivered_again() {
    use mesh_core::Block;
    use mesh_core::block::{DAG_PB_CODEC, RAW_CODEC};
    use mesh_core::unixfs::{FileLink, encode_file_node};
    let leaf = |seed| Block::from_data(RAW_CODEC, Bytes::from(content(CHUNK_SIZE, seed)));
    let node = |children: &[&Block]| {
        let links: Vec<FileLink> = children
            .iter()
            .map(|b| FileLink {
                cid: *b.cid(),
                size: b.len() as u64,
                tsize: b.len() as u64,
            })
            .collect();
        Block::from_data(DAG_PB_CODEC, Bytes::from(encode_file_node(&links)))
    };
    let (x, y, z) = (leaf(1), leaf(2), leaf(3));
    let (a, b) = (node(&[&x, &y]), node(&[&z, &x]));
    let root = Block::from_data(
        DAG_PB_CODEC,
        Bytes::from(encode_file_node(&[
            FileLink {
                cid: *a.cid(),
                size: 2 * CHUNK_SIZE as u64,
                tsize: a.len() as u64,
            },
            FileLink {
                cid: *b.cid(),
                size: 2 * CHUNK_SIZE as u64,
                tsize: b.len() as u64,
            },
        ])),
    );
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    let fetch = p.start(ms(0), *root.cid(), true);
    p.handle_have(ms(1), 1, *root.cid());
    let mut out = drain(&mut p);
    // Subtree A and its leaves first: X and Y go to the page.
    for (t, block) in [(2, &root), (3, &a), (4, &x), (5, &y)] {
        p.handle_block(ms(t), 1, *block.cid(), block.data().clone());
        out.extend(drain(&mut p));
    }
    assert_eq!(out.delivered().len(), 2 * CHUNK_SIZE);
    // Subtree B arrives late; it repeats X, which is in already.
    for (t, block) in [(6, &b), (7, &z)] {
        p.handle_block(ms(t), 1, *block.cid(), block.data().clone());
        out.extend(drain(&mut p));
    }
    let expected: Vec<u8> = [&x, &y, &z, &x]
        .iter()
        .flat_map(|b| b.data().iter().copied())
        .collect();
    assert!(out.delivered() == expected, "every position, in order");
    assert_in_order(&out, fetch);
    assert!(out.completed().is_some(), "the fetch completes");
}

/// With no origin, a fetch whose only provider's connection failed looks it up again (twice at
/// most) before it fails: a dropped connection is usually there on a second dial.
#[test]
fn without_origin_a_lost_provider_is_looked_up_again_before_the_fetch_fails() {
    let dag = build_dag(&content(100, 15));
    let root = dag.root.cid;
    let mut p = planner();
    let fetch = p.start(ms(0), root, false);
    let lookups = |out: &Out| {
        out.actions
            .iter()
            .filter(|a| matches!(a, Action::FindProviders { cid } if *cid == root))
            .count()
    };
    assert_eq!(lookups(&drain(&mut p)), 1);
    for round in 1..=2 {
        p.handle_providers(ms(30 * round), root, vec![7], true);
        assert!(drain(&mut p).actions.contains(&Action::Connect { peer: 7 }));
        // The dial fails (or the connection closes before it is of use).
        p.handle_peer_disconnected(ms(30 * round + 10), 7);
        let out = drain(&mut p);
        assert_eq!(lookups(&out), 1, "round {round}: looked up again");
        assert!(
            !out.events.iter().any(|e| matches!(e, Event::Failed { .. })),
            "round {round}: not failed yet"
        );
    }
    // The third loss ends it.
    p.handle_providers(ms(100), root, vec![7], true);
    drain(&mut p);
    p.handle_peer_disconnected(ms(110), 7);
    let out = drain(&mut p);
    assert_eq!(lookups(&out), 0);
    assert!(out.events.iter().any(|e| matches!(e,
        Event::Failed { fetch: f, error: mesh_core::fetch::FetchError::NoSource { .. } } if *f == fetch)));
    // A lookup that names nobody fails at once, as before (no holder was lost).
    let other = build_dag(&content(100, 16));
    let fetch = p.start(ms(200), other.root.cid, false);
    p.handle_providers(ms(230), other.root.cid, vec![], true);
    let out = drain(&mut p);
    assert!(out.events.iter().any(|e| matches!(e,
        Event::Failed { fetch: f, error: mesh_core::fetch::FetchError::NoSource { .. } } if *f == fetch)));
}
