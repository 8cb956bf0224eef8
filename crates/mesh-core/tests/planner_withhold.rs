//! Withholding peers, in virtual time: a peer that delivers an asset's root and then sits on
//! its leaves costs a fetch at most the deadline beyond what the origin alone would take, and
//! is demoted for every asset until its demotion decays.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::ops::Range;

use bytes::Bytes;
use mesh_core::Cid;
use mesh_core::block::CHUNK_SIZE;
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{
    Action, Config, Event, FallbackReason, OriginFetch, OriginRequestId, Output, Planner,
    ReassignReason,
};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

mod common;

use common::block_data;

type Peer = u32;

const STALLER: Peer = 1;
const GOOD: Peer = 2;
/// The origin in these tests: first byte after 100 ms, then 4 MB/s (the planner's estimates).
const ORIGIN_LATENCY_MS: u64 = 100;
const ORIGIN_BYTES_PER_MS: u64 = 4_000;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn content(len: usize, seed: u32) -> Vec<u8> {
    common::xorshift_bytes(len, seed.wrapping_mul(2_654_435_761).max(1))
}

fn planner() -> Planner<Peer, MemoryStore> {
    Planner::new(Config::new(), MemoryStore::new(64 << 20))
}

fn drain(p: &mut Planner<Peer, MemoryStore>) -> Vec<Output<Peer>> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn want_blocks(out: &[Output<Peer>], peer: Peer) -> Vec<Cid> {
    out.iter()
        .filter_map(|o| match o {
            Output::Action(Action::SendWantBlock { peer: p, cids, .. }) if *p == peer => {
                Some(cids.clone())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

fn origin_fetches(out: &[Output<Peer>]) -> Vec<(OriginRequestId, Option<Range<u64>>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Action(Action::OriginFetch(OriginFetch { request, range, .. })) => {
                Some((*request, range.clone()))
            }
            _ => None,
        })
        .collect()
}

fn demoted_until(out: &[Output<Peer>], peer: Peer) -> Option<Instant> {
    out.iter().find_map(|o| match o {
        Output::Event(Event::PeerDemoted { peer: p, until }) if *p == peer => Some(*until),
        _ => None,
    })
}

fn fallback(out: &[Output<Peer>]) -> Option<FallbackReason<Peer>> {
    out.iter().find_map(|o| match o {
        Output::Event(Event::Fallback { reason, .. }) => Some(reason.clone()),
        _ => None,
    })
}

/// The byte range of each leaf of `dag`, in file order.
fn leaf_ranges(dag: &Dag, data_len: usize) -> Vec<(Cid, Range<u64>)> {
    let leaves: Vec<Cid> = dag
        .blocks
        .iter()
        .filter(|b| b.cid().codec() == mesh_core::block::RAW_CODEC)
        .map(|b| *b.cid())
        .collect();
    let mut offset = 0u64;
    let mut out = Vec::new();
    for cid in leaves {
        let len = (CHUNK_SIZE as u64).min(data_len as u64 - offset);
        out.push((cid, offset..offset + len));
        offset += len;
    }
    out
}

/// Both peers are connected and hold a 12-leaf asset. The staller is asked first and delivers
/// the root at 2 ms; the leaves are split between the two. The good peer delivers its six over
/// a second (three before the deadline, three after); the staller sends nothing more. The
/// origin must take over exactly the staller's leaves at the deadline, and the fetch must end
/// no later than the origin alone would have plus the deadline.
#[test]
fn a_root_then_silence_costs_at_most_the_deadline_beyond_the_origin() {
    let data = content(12 * CHUNK_SIZE, 1);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let ranges = leaf_ranges(&dag, data.len());
    let mut p = planner();
    p.handle_peer_connected(ms(0), STALLER);
    p.handle_peer_connected(ms(0), GOOD);
    p.start(ms(0), root, true);
    p.handle_have(ms(1), STALLER, root);
    assert_eq!(want_blocks(&drain(&mut p), STALLER), vec![root]);
    p.handle_have(ms(1), GOOD, root);
    p.handle_block(ms(2), STALLER, root, block_data(&dag, &root));
    let out = drain(&mut p);
    let withheld: BTreeSet<Cid> = want_blocks(&out, STALLER).into_iter().collect();
    let good: Vec<Cid> = want_blocks(&out, GOOD);
    assert_eq!(
        (withheld.len(), good.len()),
        (6, 6),
        "leaves split: {out:?}"
    );

    // The good peer's leaves, at 100 ms, 200 ms, ... 600 ms; the deadline is at 802 ms
    // (800 ms for a multi-block asset, from when the staller was asked).
    let mut peer_due: Vec<(u64, Cid)> = good
        .iter()
        .enumerate()
        .map(|(i, c)| (100 * (i as u64 + 1) + if i >= 3 { 400 } else { 0 }, *c))
        .collect();
    peer_due.reverse();
    let mut origin_due: Vec<(u64, OriginRequestId, Range<u64>)> = Vec::new();
    let mut origin_leaves = BTreeSet::new();
    let mut completed_at = None;
    let mut demoted = None;
    let mut now = 2;
    for _ in 0..1000 {
        let next_peer = peer_due.last().map(|(t, _)| *t);
        let next_origin = origin_due.iter().map(|(t, _, _)| *t).min();
        let next_timer = p.poll_timeout().map(|t| (t - ms(0)).as_millis() as u64);
        let Some(next) = [next_peer, next_origin, next_timer]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        assert!(next >= now, "time goes forward");
        now = next;
        if next_peer == Some(now) {
            let (_, cid) = peer_due.pop().unwrap();
            p.handle_block(ms(now), GOOD, cid, block_data(&dag, &cid));
        } else if next_origin == Some(now) {
            let i = origin_due.iter().position(|(t, _, _)| *t == now).unwrap();
            let (_, request, range) = origin_due.remove(i);
            let body = &data[range.start as usize..range.end as usize];
            p.handle_origin_data(ms(now), request, Bytes::copy_from_slice(body));
            p.handle_origin_done(ms(now), request);
        } else {
            p.handle_timeout(ms(now));
        }
        let out = drain(&mut p);
        demoted = demoted.or(demoted_until(&out, STALLER));
        for (request, range) in origin_fetches(&out) {
            let range = range.expect("leaf ranges: the DAG is known");
            for (cid, r) in &ranges {
                if r.start >= range.start && r.end <= range.end {
                    origin_leaves.insert(*cid);
                }
            }
            let took = ORIGIN_LATENCY_MS + (range.end - range.start) / ORIGIN_BYTES_PER_MS;
            origin_due.push((now + took, request, range));
        }
        if out
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Completed { .. })))
        {
            completed_at = Some(now);
            break;
        }
    }
    let completed_at = completed_at.expect("the fetch completes");
    let origin_alone = ORIGIN_LATENCY_MS + data.len() as u64 / ORIGIN_BYTES_PER_MS;
    assert!(
        completed_at <= origin_alone + 800,
        "done at {completed_at} ms; the origin alone takes {origin_alone} ms"
    );
    assert_eq!(
        origin_leaves, withheld,
        "the origin took over the staller's leaves and nothing else"
    );
    assert_eq!(
        demoted,
        Some(ms(802 + 30_000)),
        "demoted for the default 30 s"
    );
    assert_eq!(p.peer_score(&GOOD).map(|s| s > 0), Some(true));
}

/// Starts a fetch of `dag` that only `peer` holds (discovery says so, every other connected
/// peer lacks it) at `t`; returns what the planner did.
fn fetch_held_by(
    p: &mut Planner<Peer, MemoryStore>,
    dag: &Dag,
    peer: Peer,
    others: &[Peer],
    t: u64,
) -> Vec<Output<Peer>> {
    let root = dag.root.cid;
    p.start(ms(t), root, true);
    let mut out = drain(p);
    p.handle_have(ms(t + 1), peer, root);
    for other in others {
        p.handle_dont_have(ms(t + 1), *other, root);
    }
    p.handle_providers(ms(t + 1), root, vec![peer], true);
    out.extend(drain(p));
    out
}

/// A staller that withheld one asset's leaves is not asked for the next asset at all while
/// the origin can provide it: the origin is asked at once instead of after the deadline. The
/// demotion ends after 30 s; a second offence soon after doubles it, and good standing for
/// as long again as a demotion forgives one offence.
#[test]
fn a_withholder_is_demoted_for_every_asset_and_recovers() {
    let mut p = planner();
    p.handle_peer_connected(ms(0), STALLER);
    p.handle_peer_connected(ms(0), GOOD);
    let first = build_dag(&content(4 * CHUNK_SIZE, 2));
    let out = fetch_held_by(&mut p, &first, STALLER, &[GOOD], 0);
    assert_eq!(want_blocks(&out, STALLER), vec![first.root.cid]);
    p.handle_block(
        ms(2),
        STALLER,
        first.root.cid,
        block_data(&first, &first.root.cid),
    );
    assert_eq!(want_blocks(&drain(&mut p), STALLER).len(), 4);
    assert_eq!(p.poll_timeout(), Some(ms(802)));
    p.handle_timeout(ms(802));
    let out = drain(&mut p);
    assert_eq!(fallback(&out), Some(FallbackReason::Withheld(STALLER)));
    assert!(out.iter().any(|o| matches!(o,
        Output::Event(Event::Reassigned { peer: STALLER, reason: ReassignReason::Withheld, cids, .. })
            if cids.len() == 4)));
    assert!(out.iter().any(|o| matches!(o,
        Output::Action(Action::SendCancel { peer: STALLER, cids }) if cids.len() == 4)));
    assert_eq!(demoted_until(&out, STALLER), Some(ms(30_802)));

    // Another asset, a single block: the staller is not sent want-block first.
    let small = build_dag(&content(5000, 3));
    p.start(ms(1000), small.root.cid, true);
    let out = drain(&mut p);
    assert!(want_blocks(&out, STALLER).is_empty(), "{out:?}");
    assert_eq!(want_blocks(&out, GOOD), vec![small.root.cid]);

    // Another multi-block asset only the staller holds: straight to the origin.
    let second = build_dag(&content(4 * CHUNK_SIZE, 4));
    let out = fetch_held_by(&mut p, &second, STALLER, &[GOOD], 2000);
    assert!(want_blocks(&out, STALLER).is_empty(), "{out:?}");
    assert_eq!(fallback(&out), Some(FallbackReason::PeersLost));
    assert_eq!(origin_fetches(&out).len(), 1);

    // After the demotion it is asked again, and withholding again soon doubles it.
    let third = build_dag(&content(4 * CHUNK_SIZE, 5));
    let out = fetch_held_by(&mut p, &third, STALLER, &[GOOD], 31_000);
    assert_eq!(want_blocks(&out, STALLER), vec![third.root.cid]);
    assert_eq!(fallback(&out), None);
    p.handle_block(
        ms(31_002),
        STALLER,
        third.root.cid,
        block_data(&third, &third.root.cid),
    );
    drain(&mut p);
    p.handle_timeout(ms(31_802));
    let out = drain(&mut p);
    assert_eq!(demoted_until(&out, STALLER), Some(ms(31_802 + 60_000)));

    // A demotion length (60 s) plus two base lengths of good standing forgive both offences.
    let fourth = build_dag(&content(4 * CHUNK_SIZE, 6));
    let t = 31_802 + 60_000 + 60_000;
    fetch_held_by(&mut p, &fourth, STALLER, &[GOOD], t);
    p.handle_block(
        ms(t + 2),
        STALLER,
        fourth.root.cid,
        block_data(&fourth, &fourth.root.cid),
    );
    drain(&mut p);
    p.handle_timeout(ms(t + 802));
    let out = drain(&mut p);
    assert_eq!(demoted_until(&out, STALLER), Some(ms(t + 802 + 30_000)));
}

/// A peer that delivers leaves is not a withholder, however slowly its first batch started:
/// only peers that owe their first leaf are judged at the deadline.
#[test]
fn a_peer_that_delivers_a_leaf_is_not_judged_at_the_deadline() {
    let data = content(8 * CHUNK_SIZE, 7);
    let dag = build_dag(&data);
    let mut p = planner();
    p.handle_peer_connected(ms(0), GOOD);
    let out = fetch_held_by(&mut p, &dag, GOOD, &[], 0);
    assert_eq!(want_blocks(&out, GOOD), vec![dag.root.cid]);
    p.handle_block(ms(2), GOOD, dag.root.cid, block_data(&dag, &dag.root.cid));
    let leaves = want_blocks(&drain(&mut p), GOOD);
    p.handle_block(ms(700), GOOD, leaves[0], block_data(&dag, &leaves[0]));
    drain(&mut p);
    let next = p.poll_timeout().expect("a stall clock");
    assert!(
        next > ms(802),
        "no leaf deadline once a leaf arrived: {next:?}"
    );
    p.handle_timeout(ms(802));
    let out = drain(&mut p);
    assert_eq!(fallback(&out), None, "{out:?}");
    assert!(demoted_until(&out, GOOD).is_none());
}

/// Fetch buffers count toward a budget: leaves that arrive ahead of an earlier one wait in the
/// fetch until it comes, so a fetch asks only for leaves within its share of
/// [`Config::fetch_buffer`] of its delivery point, and lets go of a leaf once handed over.
#[test]
fn fetch_buffers_stay_within_the_budget() {
    const LEAVES: usize = 40;
    let data = content(LEAVES * CHUNK_SIZE, 8);
    let dag = build_dag(&data);
    let budget = 8 * CHUNK_SIZE as u64;
    let mut p = Planner::new(
        Config::new()
            .with_fetch_buffer(budget)
            .with_max_origin_range_leaves(4),
        MemoryStore::new(64 << 20),
    );
    p.handle_peer_connected(ms(0), GOOD);
    fetch_held_by(&mut p, &dag, GOOD, &[], 0);
    p.handle_block(ms(2), GOOD, dag.root.cid, block_data(&dag, &dag.root.cid));
    let asked = want_blocks(&drain(&mut p), GOOD);
    let order: Vec<Cid> = leaf_ranges(&dag, data.len())
        .iter()
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(asked, order[..8], "only the leaves within the budget");

    // Everything but the first leaf arrives: it all waits, within the budget; nothing more is
    // asked until the first one lets the page have them.
    for leaf in &asked[1..] {
        p.handle_block(ms(10), GOOD, *leaf, block_data(&dag, leaf));
        assert!(want_blocks(&drain(&mut p), GOOD).is_empty());
        assert!(p.buffered_bytes() <= budget);
    }
    assert_eq!(p.buffered_bytes(), 7 * CHUNK_SIZE as u64);
    p.handle_block(ms(20), GOOD, asked[0], block_data(&dag, &asked[0]));
    let out = drain(&mut p);
    assert_eq!(p.buffered_bytes(), 0, "handed over, let go");
    let mut next = want_blocks(&out, GOOD);
    assert_eq!(next, order[8..16]);

    let mut delivered = 8 * CHUNK_SIZE;
    let mut now = 20;
    while !next.is_empty() {
        now += 10;
        let mut more = Vec::new();
        for leaf in next.iter().rev() {
            p.handle_block(ms(now), GOOD, *leaf, block_data(&dag, leaf));
            let out = drain(&mut p);
            for o in &out {
                if let Output::Action(Action::Deliver(d)) = o {
                    assert_eq!(d.offset as usize, delivered);
                    assert_eq!(d.data[..], data[delivered..delivered + d.data.len()]);
                    delivered += d.data.len();
                }
            }
            more.extend(want_blocks(&out, GOOD));
            assert!(p.buffered_bytes() <= budget);
        }
        next = more;
    }
    assert_eq!(delivered, data.len());
    assert_eq!(p.active_fetches(), 0);
}
