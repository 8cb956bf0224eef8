//! The planner's one output stream keeps actions and events in the order they happened, so a
//! driver that handles outputs as they come labels bytes by source before it hands them on and
//! reports completion only after the last byte.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mesh_core::Cid;
use mesh_core::block::CHUNK_SIZE;
use mesh_core::dag::{Dag, build_dag};
use mesh_core::fetch::{Action, BlockSource, Config, Deliver, Event, FetchId, Output, Planner};
use mesh_core::store::MemoryStore;
use mesh_core::time::Instant;

mod common;

use common::block_data;

const PEER: u32 = 7;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn drain(p: &mut Planner<u32, MemoryStore>) -> Vec<Output<u32>> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

/// A short name per output, to compare whole sequences.
fn label(output: &Output<u32>) -> String {
    match output {
        Output::Action(Action::Deliver(Deliver { offset, .. })) => format!("deliver@{offset}"),
        Output::Action(Action::Announce { .. }) => "announce".into(),
        Output::Action(Action::SendWantBlock { .. }) => "want-block".into(),
        Output::Event(Event::BlockAccepted { cid, .. }) => format!("accepted {cid}"),
        Output::Event(Event::Completed { .. }) => "completed".into(),
        other => format!("{other:?}"),
    }
}

/// Fetches `dag` from one connected peer up to the point where its leaves are asked for;
/// returns the leaves, in file order.
fn leaves_asked(p: &mut Planner<u32, MemoryStore>, dag: &Dag) -> (FetchId, Vec<Cid>) {
    let root = dag.root.cid;
    p.handle_peer_connected(ms(0), PEER);
    let fetch = p.start(ms(0), root, true);
    p.handle_have(ms(1), PEER, root);
    drain(p);
    p.handle_block(ms(2), PEER, root, block_data(dag, &root));
    let leaves: Vec<Cid> = drain(p)
        .into_iter()
        .filter_map(|o| match o {
            Output::Action(Action::SendWantBlock { cids, .. }) => Some(cids),
            _ => None,
        })
        .flatten()
        .collect();
    (fetch, leaves)
}

#[test]
fn a_block_is_accepted_before_the_bytes_it_releases_and_completion_comes_last() {
    let data = common::xorshift_bytes(3 * CHUNK_SIZE + 100, 11);
    let dag = build_dag(&data);
    let mut p = Planner::new(Config::new(), MemoryStore::new(16 << 20));
    let (fetch, leaves) = leaves_asked(&mut p, &dag);
    assert_eq!(leaves.len(), 4);

    // Later leaves first: each is accepted, but nothing can be delivered yet.
    for (i, cid) in leaves.iter().enumerate().skip(1).rev() {
        p.handle_block(ms(10 + i as u64), PEER, *cid, block_data(&dag, cid));
        let labels: Vec<String> = drain(&mut p).iter().map(label).collect();
        assert_eq!(labels, vec![format!("accepted {cid}")]);
    }

    // The first leaf releases the whole file: its acceptance, then every byte in order, then
    // the announcement, then completion.
    let first = leaves[0];
    p.handle_block(ms(20), PEER, first, block_data(&dag, &first));
    let outputs = drain(&mut p);
    let labels: Vec<String> = outputs.iter().map(label).collect();
    let offsets = (0..4).map(|i| format!("deliver@{}", i * CHUNK_SIZE));
    let expected: Vec<String> = std::iter::once(format!("accepted {first}"))
        .chain(offsets)
        .chain(["announce".to_owned(), "completed".to_owned()])
        .collect();
    assert_eq!(labels, expected);
    assert!(matches!(
        &outputs[0],
        Output::Event(Event::BlockAccepted { fetch: f, from: BlockSource::Peer(PEER), .. })
            if *f == fetch
    ));
    let delivered: Vec<u8> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Action(Action::Deliver(d)) => Some(d.data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(delivered, data);
}

#[test]
fn a_single_block_asset_is_accepted_delivered_announced_then_completed() {
    let data = common::xorshift_bytes(1000, 5);
    let dag = build_dag(&data);
    let root = dag.root.cid;
    let mut p = Planner::new(Config::new(), MemoryStore::new(1 << 20));
    p.handle_peer_connected(ms(0), PEER);
    p.start(ms(0), root, true);
    drain(&mut p);
    p.handle_block(ms(3), PEER, root, block_data(&dag, &root));
    let labels: Vec<String> = drain(&mut p).iter().map(label).collect();
    assert_eq!(
        labels,
        vec![
            format!("accepted {root}"),
            "deliver@0".to_owned(),
            "announce".to_owned(),
            "completed".to_owned()
        ]
    );
}
