//! The cache by asset: a fetched asset is handed to the shell whole to persist and is
//! provided; an asset losing a block to eviction is withdrawn; a persisted cache restored on
//! the next run is verified block by block, kept within the budget, served without the
//! origin, and announced again.

use bytes::Bytes;
use cid::Cid;
use libp2p::kad::store::RecordStore;
use mesh_core::Sha256Digest;
use mesh_core::dag::build_dag;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_core::store::BlockStore;
use mesh_engine::{EngineConfig, Output, PersistedBlock};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

/// A bootstrap (DHT server) node and a client that joined it, with a store of `store_bytes`:
/// the network, the bootstrap node, the client and its configuration.
fn joined_pair(store_bytes: u64) -> (MemNet, NodeId, NodeId, EngineConfig) {
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    let joined = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    net.set_store_bytes(store_bytes);
    let node = net.spawn(KadMode::Client, PlannerConfig::new(), joined.clone());
    net.join(node);
    (net, boot, node, joined)
}

/// Fetches `content` at `id` with the test answering the one origin request at once.
fn fetch_from_origin(net: &mut MemNet, id: NodeId, content: &Bytes) -> Cid {
    let cid = build_dag(content).root.cid;
    let fetch = net.fetch(id, cid, Some("http://origin.test/x"));
    let request = net
        .node(id)
        .take_outputs()
        .into_iter()
        .find_map(|o| match o {
            Output::OriginFetch(r) if r.fetch == fetch => Some(r.request),
            _ => None,
        })
        .expect("nobody provides it: the origin at once");
    let now = net.now;
    let engine = &mut net.node(id).engine;
    engine.handle_origin_data(now, request, content.clone());
    engine.handle_origin_done(now, request);
    net.run();
    cid
}

fn cached(outputs: &[Output]) -> Vec<(Cid, Vec<Cid>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Cached { root, blocks } => {
                Some((*root, blocks.iter().map(|b| *b.cid()).collect()))
            }
            _ => None,
        })
        .collect()
}

/// A persisted cache of `n` assets of 20 kB (seeds `seed`, `seed + 2`, …: `data` ignores the
/// lowest bit): its blocks, oldest first, and its roots.
fn persisted_assets(n: u64, seed: u64) -> (Vec<PersistedBlock>, Vec<Cid>) {
    let dags: Vec<_> = (0..n)
        .map(|i| build_dag(&data(20_000, seed + 2 * i)))
        .collect();
    let blocks = dags
        .iter()
        .flat_map(|d| &d.blocks)
        .map(|b| PersistedBlock::new(*b.cid(), b.data().clone()))
        .collect();
    (blocks, dags.iter().map(|d| d.root.cid).collect())
}

/// Whether the DHT server `boot` holds `node`'s provider record of `root`.
fn announced(net: &mut MemNet, boot: NodeId, node: NodeId, root: &Cid) -> bool {
    let peer = net.node(node).peer_id();
    let server = net.node(boot).kad().store_mut();
    RecordStore::providers(server, &mesh_protocol::provider_key(root))
        .iter()
        .any(|r| r.provider == peer)
}

fn uncached(outputs: &[Output]) -> Vec<(Vec<Cid>, Vec<Cid>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Uncached { blocks, roots } => Some((blocks.clone(), roots.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fetched_asset_is_handed_over_whole_and_provided() {
    let (mut net, _, node, _) = joined_pair(64 << 20);
    // A root over three leaves.
    let content = data(600_000, 1);
    let dag = build_dag(&content);
    let cid = fetch_from_origin(&mut net, node, &content);
    let outputs = net.node(node).take_outputs();
    let got = cached(&outputs);
    let [(root, blocks)] = &got[..] else {
        panic!("one Cached output, got {got:?}");
    };
    assert_eq!(*root, cid);
    assert_eq!(blocks.first(), Some(&cid), "root first");
    let mut expected: Vec<Cid> = dag.blocks.iter().map(|b| *b.cid()).collect();
    let mut got_blocks = blocks.clone();
    expected.sort();
    got_blocks.sort();
    assert_eq!(got_blocks, expected, "every block of the DAG, once");
    assert!(net.node(node).engine.provided().any(|c| *c == cid));
}

#[test]
fn an_asset_losing_a_block_to_eviction_is_withdrawn() {
    // Room for one 200 kB asset only.
    let (mut net, _, node, _) = joined_pair(300_000);
    let first = fetch_from_origin(&mut net, node, &data(200_000, 1));
    net.node(node).take_outputs();
    let second = fetch_from_origin(&mut net, node, &data(200_000, 2));
    let outputs = net.node(node).take_outputs();
    assert_eq!(uncached(&outputs), vec![(vec![first], vec![first])]);
    assert_eq!(cached(&outputs).len(), 1);
    let engine = &mut net.node(node).engine;
    let provided: Vec<Cid> = engine.provided().copied().collect();
    assert_eq!(
        provided,
        vec![second],
        "the evicted asset is no longer provided"
    );
    assert!(!engine.planner().store().contains(&first), "nor served");
    let key = mesh_protocol::provider_key(&first);
    let local = net.node(node).kad().store_mut();
    assert!(
        libp2p::kad::store::RecordStore::provided(local).all(|r| r.key != key),
        "no provider record of it is republished"
    );
}

#[test]
fn a_restored_cache_with_the_shells_digests_is_verified_against_them() {
    let (mut net, _, node, _) = joined_pair(64 << 20);
    let good = build_dag(&data(600_000, 5));
    let bad = build_dag(&data(300_000, 6));
    let mut blocks: Vec<PersistedBlock> = good
        .blocks
        .iter()
        .chain(&bad.blocks)
        .map(|b| {
            PersistedBlock::new(*b.cid(), b.data().clone()).with_digest(Sha256Digest::of(b.data()))
        })
        .collect();
    // The right bytes of one leaf of the second asset, with a digest of other bytes: the
    // digest decides.
    let leaf = *bad.blocks.last().map(|b| b.cid()).expect("blocks");
    let wrong = blocks.iter_mut().find(|b| b.cid == leaf).expect("leaf");
    wrong.digest = Some(Sha256Digest::of(b"other bytes"));

    let now = net.now;
    let restored = net
        .node(node)
        .engine
        .restore(now, blocks, vec![good.root.cid, bad.root.cid]);
    assert_eq!(restored.blocks, good.blocks.len() + bad.blocks.len() - 1);
    assert_eq!(
        restored.corrupt.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        vec![leaf]
    );
    assert_eq!(restored.provided, vec![good.root.cid]);
    assert_eq!(restored.incomplete, vec![bad.root.cid]);
    assert!(!net.node(node).engine.planner().store().contains(&leaf));
    let engine = &net.node(node).engine;
    assert_eq!(
        engine.stats().shell_digests,
        (good.blocks.len() + bad.blocks.len()) as u64
    );
}

#[test]
fn a_restored_cache_is_verified_served_and_announced() {
    let (mut net, _, node, joined) = joined_pair(64 << 20);
    let good = build_dag(&data(600_000, 3));
    let bad = build_dag(&data(300_000, 4));
    let mut blocks: Vec<PersistedBlock> = good
        .blocks
        .iter()
        .chain(&bad.blocks)
        .map(|b| PersistedBlock::new(*b.cid(), b.data().clone()))
        .collect();
    // Disk corruption: one leaf of the second asset no longer matches its CID.
    let leaf = *bad.blocks.last().map(|b| b.cid()).expect("blocks");
    let corrupt = blocks.iter_mut().find(|b| b.cid == leaf).expect("leaf");
    let mut flipped = corrupt.data.to_vec();
    flipped[10] ^= 1;
    corrupt.data = flipped.into();

    let now = net.now;
    let restored = net
        .node(node)
        .engine
        .restore(now, blocks, vec![good.root.cid, bad.root.cid]);
    assert_eq!(restored.blocks, good.blocks.len() + bad.blocks.len() - 1);
    assert_eq!(
        restored.corrupt.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        vec![leaf]
    );
    assert_eq!(restored.provided, vec![good.root.cid]);
    assert_eq!(restored.incomplete, vec![bad.root.cid]);
    let engine = &mut net.node(node).engine;
    assert!(!engine.planner().store().contains(&leaf), "never stored");

    // Served from the store: no origin request, labelled cache.
    net.run();
    let fetch = net.fetch(node, good.root.cid, Some("http://origin.test/x"));
    let report = net.completed(node, fetch).expect("from the store at once");
    assert_eq!(report.sources.label(), "cache");
    assert!(
        !net.node(node)
            .outputs
            .iter()
            .any(|o| matches!(o, Output::OriginFetch(_)))
    );

    // Another node finds this one in the DHT and gets the asset from it.
    let other = net.spawn(KadMode::Client, PlannerConfig::new(), joined);
    net.join(other);
    let fetch = net.fetch(other, good.root.cid, None);
    let report = net.completed(other, fetch).expect("from the restored node");
    assert_eq!(report.sources.label(), "peer");
}

#[test]
fn a_restored_cache_is_announced_once_a_bootstrap_node_connects() {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let joined = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let node = net.spawn(KadMode::Client, PlannerConfig::new(), joined.clone());
    // Restored before the node joins: the first announcement reaches nobody.
    let dag = build_dag(&data(100_000, 5));
    let blocks = dag
        .blocks
        .iter()
        .map(|b| PersistedBlock::new(*b.cid(), b.data().clone()))
        .collect();
    let now = net.now;
    let restored = net
        .node(node)
        .engine
        .restore(now, blocks, vec![dag.root.cid]);
    assert_eq!(restored.provided, vec![dag.root.cid]);
    net.join(node);
    let other = net.spawn(KadMode::Client, PlannerConfig::new(), joined);
    net.join(other);
    let fetch = net.fetch(other, dag.root.cid, None);
    let report = net.completed(other, fetch).expect("found in the DHT");
    assert_eq!(report.sources.label(), "peer");
}

#[test]
fn a_restored_cache_over_the_budget_keeps_the_newest() {
    let (mut net, _, node, _) = joined_pair(450_000);
    // Odd seeds: `data` ignores the lowest bit.
    let assets: Vec<_> = [21, 23, 25].map(|s| build_dag(&data(200_000, s))).to_vec();
    let blocks = assets
        .iter()
        .flat_map(|d| {
            d.blocks
                .iter()
                .map(|b| PersistedBlock::new(*b.cid(), b.data().clone()))
        })
        .collect();
    let roots = assets.iter().map(|d| d.root.cid).collect();
    let now = net.now;
    let restored = net.node(node).engine.restore(now, blocks, roots);
    assert_eq!(
        restored.provided,
        vec![assets[1].root.cid, assets[2].root.cid]
    );
    assert_eq!(restored.incomplete, vec![assets[0].root.cid]);
    net.run();
    let outputs = net.node(node).take_outputs();
    assert_eq!(
        uncached(&outputs),
        vec![(vec![assets[0].root.cid], vec![])],
        "the oldest was evicted for the budget, so the shell deletes its copy"
    );
    let store = net.node(node).engine.planner().store().stats();
    assert!(store.used_bytes <= 450_000);
}

#[test]
fn a_restored_cache_is_announced_a_few_queries_at_a_time_behind_lookups() {
    let (mut net, boot, node, _) = joined_pair(64 << 20);
    // The bootstrap node stops answering: every query started from now on keeps running.
    net.freeze(boot);
    let (blocks, roots) = persisted_assets(12, 40);
    let now = net.now;
    let restored = net.node(node).engine.restore(now, blocks, roots.clone());
    assert_eq!(restored.provided.len(), 12);
    net.run();
    let status = net.node(node).engine.status();
    assert_eq!(
        (status.announcing, status.announcements_waiting),
        (mesh_engine::ANNOUNCING, 12 - mesh_engine::ANNOUNCING),
        "a few announcements run, the others wait"
    );

    // A lookup the page needs starts at once, ahead of the waiting announcements.
    let unknown = build_dag(&data(1_000, 99)).root.cid;
    net.fetch(node, unknown, None);
    let status = net.node(node).engine.status();
    assert_eq!(net.node(node).engine.stats().provider_lookups, 1);
    assert_eq!(status.announcing, mesh_engine::ANNOUNCING, "none started");

    // Once the bootstrap node answers, every restored asset is announced to it.
    net.thaw(boot);
    let status = net.node(node).engine.status();
    assert_eq!((status.announcing, status.announcements_waiting), (0, 0));
    for root in &roots {
        assert!(
            announced(&mut net, boot, node, root),
            "{root} announced to the bootstrap node"
        );
    }
}

#[test]
fn restored_announcements_wait_while_a_fetch_runs_fetched_ones_do_not() {
    let (mut net, boot, node, _) = joined_pair(64 << 20);
    // A fetch from the origin that the test does not answer: the node stays busy.
    let pending = build_dag(&data(1_000, 61)).root.cid;
    let slow = net.fetch(node, pending, Some("http://origin.test/slow"));
    let (blocks, roots) = persisted_assets(6, 70);
    let now = net.now;
    net.node(node).engine.restore(now, blocks, roots.clone());
    net.run();
    let status = net.node(node).engine.status();
    assert_eq!(
        (status.announcing, status.announcements_waiting),
        (0, 6),
        "held while the fetch runs"
    );
    let hold_ends = net.now + mesh_engine::ANNOUNCE_HOLD;
    assert_eq!(net.node(node).engine.poll_timeout(), Some(hold_ends));

    // An asset fetched meanwhile is announced at once, busy or not.
    let fresh = fetch_from_origin(&mut net, node, &data(30_000, 91));
    assert!(
        announced(&mut net, boot, node, &fresh),
        "fetched, announced"
    );
    let status = net.node(node).engine.status();
    assert_eq!(
        status.announcements_waiting, 6,
        "the restored ones still wait"
    );

    // The hold ends: they go out, one after the other, while the fetch still runs.
    net.advance(mesh_engine::ANNOUNCE_HOLD);
    let status = net.node(node).engine.status();
    assert_eq!((status.announcing, status.announcements_waiting), (0, 0));
    assert!(
        !net.node(node).outputs.iter().any(
            |o| matches!(o, Output::Completed { fetch, .. } | Output::Failed { fetch, .. }
                if *fetch == slow)
        ),
        "the fetch still runs"
    );
    for root in &roots {
        assert!(announced(&mut net, boot, node, root), "{root} announced");
    }
}
