//! Have-summaries in the planner, in virtual time: a connected peer that announced an asset is
//! asked for its blocks directly (one request, no want-have, no DHT lookup), and want-haves go
//! to a few chosen peers, never to every connected one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mesh_core::Cid;
use mesh_core::block::CHUNK_SIZE;
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{Action, Config, Event, Output, Planner};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

mod common;

use common::block_data;

type Peer = u32;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn planner() -> Planner<Peer, MemoryStore> {
    Planner::new(Config::new(), MemoryStore::new(64 << 20))
}

fn dag(len: usize, seed: u32) -> Dag {
    build_dag(&common::xorshift_bytes(
        len,
        seed.wrapping_mul(2_654_435_761).max(1),
    ))
}

fn drain(p: &mut Planner<Peer, MemoryStore>) -> (Vec<Action<Peer>>, Vec<Event<Peer>>) {
    let (mut actions, mut events) = (Vec::new(), Vec::new());
    while let Some(output) = p.poll_output() {
        match output {
            Output::Action(a) => actions.push(a),
            Output::Event(e) => events.push(e),
        }
    }
    (actions, events)
}

/// The block-exchange and DHT actions, in order, as (kind, peer) pairs; the peer is 0 for a
/// DHT lookup.
fn asks(actions: &[Action<Peer>]) -> Vec<(&'static str, Peer)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendWantBlock { peer, .. } => Some(("want-block", *peer)),
            Action::SendWantHave { peer, .. } => Some(("want-have", *peer)),
            Action::FindProviders { .. } => Some(("find-providers", 0)),
            _ => None,
        })
        .collect()
}

fn completed(events: &[Event<Peer>]) -> bool {
    events.iter().any(|e| matches!(e, Event::Completed { .. }))
}

#[test]
fn an_announced_single_block_asset_takes_one_request_and_no_lookup() {
    let small = dag(100 << 10, 1);
    let root = small.root.cid;
    let mut p = planner();
    for peer in 1..=6 {
        p.handle_peer_connected(ms(0), peer);
    }
    p.handle_announced(ms(1), 4, &[root]);
    drain(&mut p);

    p.start(ms(10), root, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(asks(&actions), vec![("want-block", 4)]);

    p.handle_block(ms(12), 4, root, block_data(&small, &root));
    let (actions, events) = drain(&mut p);
    assert!(completed(&events));
    assert!(asks(&actions).is_empty());
}

#[test]
fn an_announced_multi_block_asset_starts_with_its_root_block() {
    let large = dag(3 * CHUNK_SIZE, 2);
    let root = large.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_peer_connected(ms(0), 2);
    p.handle_announced(ms(0), 2, &[root]);
    p.start(ms(5), root, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(asks(&actions), vec![("want-block", 2)]);

    p.handle_block(ms(7), 2, root, block_data(&large, &root));
    let (actions, _) = drain(&mut p);
    assert_eq!(
        asks(&actions),
        vec![("want-block", 2)],
        "the leaves, in one batch"
    );
    let Some(Action::SendWantBlock { cids, .. }) = actions
        .iter()
        .find(|a| matches!(a, Action::SendWantBlock { .. }))
    else {
        unreachable!()
    };
    for (i, leaf) in cids.iter().enumerate() {
        p.handle_block(ms(10 + i as u64), 2, *leaf, block_data(&large, leaf));
    }
    let (_, events) = drain(&mut p);
    assert!(completed(&events));
}

#[test]
fn when_the_announced_holders_fail_the_dht_is_asked() {
    let small = dag(4000, 3);
    let root = small.root.cid;
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_announced(ms(0), 1, &[root]);
    p.start(ms(0), root, true);
    drain(&mut p);
    // It evicted the block since.
    p.handle_dont_have(ms(3), 1, root);
    let (actions, events) = drain(&mut p);
    assert_eq!(asks(&actions), vec![("find-providers", 0)]);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Fallback { .. })),
        "the lookup gets its chance until the deadline"
    );
    p.handle_providers(ms(20), root, vec![], true);
    let (actions, _) = drain(&mut p);
    assert!(
        actions.iter().any(|a| matches!(a, Action::OriginFetch(_))),
        "nobody else: the origin at once"
    );
}

#[test]
fn want_haves_go_to_a_few_chosen_peers_not_to_every_connected_one() {
    let large = dag(2 * CHUNK_SIZE, 4);
    let small = dag(1000, 5);
    let mut p = Planner::new(
        Config::new()
            .with_want_block_first(2)
            .with_want_have_fanout(3),
        MemoryStore::new(64 << 20),
    );
    for peer in 1..=20 {
        p.handle_peer_connected(ms(0), peer);
    }
    p.start(ms(0), large.root.cid, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(
        asks(&actions),
        vec![
            ("find-providers", 0),
            ("want-have", 1),
            ("want-have", 2),
            ("want-have", 3)
        ]
    );

    p.start(ms(1), small.root.cid, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(
        asks(&actions),
        vec![
            ("find-providers", 0),
            ("want-block", 1),
            ("want-block", 2),
            ("want-have", 3),
            ("want-have", 4),
            ("want-have", 5)
        ]
    );

    // Newcomers are not asked once enough peers were; a DHT provider that connects is a
    // holder without being asked.
    p.handle_peer_connected(ms(2), 21);
    p.handle_providers(ms(3), large.root.cid, vec![22], false);
    drain(&mut p);
    p.handle_peer_connected(ms(4), 22);
    let (actions, _) = drain(&mut p);
    assert_eq!(asks(&actions), vec![("want-block", 22)]);
}

#[test]
fn withdrawn_and_disconnected_announcements_are_forgotten() {
    let a = dag(1000, 6);
    let b = dag(1000, 7);
    let mut p = Planner::new(
        Config::new().with_want_block_first(0),
        MemoryStore::new(64 << 20),
    );
    p.handle_peer_connected(ms(0), 1);
    p.handle_announced(ms(0), 1, &[a.root.cid, b.root.cid]);
    p.handle_withdrawn(ms(1), 1, &[a.root.cid]);
    p.start(ms(2), a.root.cid, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(
        asks(&actions),
        vec![("find-providers", 0), ("want-have", 1)]
    );

    p.handle_peer_disconnected(ms(3), 1);
    p.handle_peer_connected(ms(4), 1);
    drain(&mut p);
    p.start(ms(5), b.root.cid, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(
        asks(&actions),
        vec![("find-providers", 0), ("want-have", 1)],
        "an announcement lasts as long as the connection"
    );
}

#[test]
fn announcements_are_bounded_per_peer() {
    let target = dag(1000, 8);
    let mut p = Planner::new(
        Config::new().with_want_block_first(0),
        MemoryStore::new(64 << 20),
    );
    p.handle_peer_connected(ms(0), 1);
    let filler: Vec<Cid> = (0..5000u32)
        .map(|n| mesh_core::block::cid_for(mesh_core::block::RAW_CODEC, &n.to_be_bytes()))
        .collect();
    p.handle_announced(ms(0), 1, &filler);
    p.handle_announced(ms(0), 1, &[target.root.cid]);
    p.start(ms(1), target.root.cid, true);
    let (actions, _) = drain(&mut p);
    assert_eq!(
        asks(&actions),
        vec![("find-providers", 0), ("want-have", 1)],
        "past the cap, an announcement is ignored: the peer is found the usual way"
    );
}

/// A page asks for more small assets at once than one peer takes requests
/// ([`Config::max_in_flight_per_peer`], 16): each block that comes back frees a slot, and the
/// next waiting fetch is asked at once. Before, the waiting ones were asked only at their next
/// timer, the deadline, when the origin took them (the demo: 16 of 40 small assets from the
/// peer, the rest from the origin).
#[test]
fn fetches_beyond_a_peers_request_slots_are_asked_as_slots_free() {
    let assets: Vec<Dag> = (0..20).map(|i| dag(2000 + i, 100 + i as u32)).collect();
    let mut p = planner();
    p.handle_peer_connected(ms(0), 1);
    p.handle_announced(
        ms(0),
        1,
        &assets.iter().map(|d| d.root.cid).collect::<Vec<_>>(),
    );
    drain(&mut p);
    for a in &assets {
        p.start(ms(1), a.root.cid, true);
    }
    let (actions, _) = drain(&mut p);
    let asked = |actions: &[Action<Peer>]| -> Vec<Cid> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::SendWantBlock { cids, .. } => Some(cids.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let first = asked(&actions);
    assert_eq!(first.len(), 16, "one peer takes 16 requests at a time");
    // The peer answers the first four; each answer lets one more fetch ask, well before any
    // deadline (the default is 200 ms).
    let mut later = Vec::new();
    for (i, cid) in first.iter().take(4).enumerate() {
        let a = assets.iter().find(|d| d.root.cid == *cid).unwrap();
        p.handle_block(ms(20 + i as u64), 1, *cid, block_data(a, cid));
        let (actions, _) = drain(&mut p);
        later.extend(asked(&actions));
    }
    assert_eq!(later.len(), 4, "{later:?}");
    assert!(
        later.iter().all(|c| !first.contains(c)),
        "new fetches asked"
    );
    let (_, events) = {
        p.handle_timeout(ms(150));
        drain(&mut p)
    };
    assert!(
        !events.iter().any(|e| matches!(e, Event::Fallback { .. })),
        "no fallback before the deadline"
    );
}
