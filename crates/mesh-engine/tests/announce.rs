//! When what a node fetched is announced: to connected mesh peers at once, in the DHT once
//! fetching pauses (`ANNOUNCE_QUIET` after the last asset, `ANNOUNCE_MAX_WAIT` at most), and
//! never if it left the cache meanwhile.

use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use libp2p::PeerId;
use libp2p::kad::store::RecordStore as _;
use mesh_core::dag::build_dag;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{ANNOUNCE_MAX_WAIT, ANNOUNCE_QUIET, EngineConfig, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

/// A bootstrap node and `n` nodes that joined it, with stores of `store_bytes`.
fn joined(n: usize, store_bytes: u64) -> (MemNet, NodeId, Vec<NodeId>) {
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    net.set_store_bytes(store_bytes);
    let config = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let nodes = (0..n)
        .map(|_| {
            let id = net.spawn(KadMode::Client, PlannerConfig::new(), config.clone());
            net.join(id);
            id
        })
        .collect();
    (net, boot, nodes)
}

/// Fetches `content` at `id`, the test answering its origin request at once.
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

/// The peers the bootstrap node holds provider records of `cid` for.
fn dht_providers(net: &mut MemNet, boot: NodeId, cid: &Cid) -> Vec<PeerId> {
    let key = mesh_protocol::provider_key(cid);
    let kad = &mut net.node(boot).engine.swarm_mut().behaviour_mut().kad;
    kad.store_mut()
        .providers(&key)
        .into_iter()
        .map(|r| r.provider)
        .collect()
}

#[test]
fn fetched_assets_reach_peers_at_once_and_the_dht_once_fetching_pauses() {
    let (mut net, boot, nodes) = joined(2, 64 << 20);
    let (fetcher, peer) = (nodes[0], nodes[1]);
    let addr = net.node(peer).addr.clone();
    net.node(fetcher)
        .engine
        .connect(addr)
        .expect("a /p2p address");
    net.run();
    let fetcher_id = net.node(fetcher).peer_id();

    let first = fetch_from_origin(&mut net, fetcher, &data(50_000, 1));
    net.advance(ANNOUNCE_QUIET / 2);
    let second = fetch_from_origin(&mut net, fetcher, &data(50_000, 3));
    for cid in [first, second] {
        assert!(
            net.node(peer)
                .engine
                .planner()
                .peer_holds(&fetcher_id, &cid),
            "the connected peer hears of it at once"
        );
        assert!(
            dht_providers(&mut net, boot, &cid).is_empty(),
            "not in the DHT while fetching goes on"
        );
    }
    // The first asset waited longer than ANNOUNCE_QUIET, but the second restarted the wait.
    net.advance(ANNOUNCE_QUIET / 2 + Duration::from_millis(1));
    assert!(dht_providers(&mut net, boot, &first).is_empty());
    net.advance(ANNOUNCE_QUIET / 2);
    for cid in [first, second] {
        assert_eq!(dht_providers(&mut net, boot, &cid), vec![fetcher_id]);
    }
}

#[test]
fn a_steady_stream_of_fetches_is_announced_after_the_longest_wait() {
    let (mut net, boot, nodes) = joined(1, 64 << 20);
    let node = nodes[0];
    let step = ANNOUNCE_QUIET / 2;
    let first = fetch_from_origin(&mut net, node, &data(20_000, 1));
    let mut waited = Duration::ZERO;
    while waited + step < ANNOUNCE_MAX_WAIT {
        net.advance(step);
        waited += step;
        fetch_from_origin(
            &mut net,
            node,
            &data(20_000, 3 + 2 * waited.as_millis() as u64),
        );
        assert!(dht_providers(&mut net, boot, &first).is_empty());
    }
    net.advance(ANNOUNCE_MAX_WAIT - waited);
    assert_eq!(dht_providers(&mut net, boot, &first).len(), 1);
}

#[test]
fn an_asset_that_leaves_the_cache_before_its_announcement_is_never_announced() {
    // Room for one 200 kB asset only.
    let (mut net, boot, nodes) = joined(1, 300_000);
    let node = nodes[0];
    let evicted = fetch_from_origin(&mut net, node, &data(200_000, 1));
    let kept = fetch_from_origin(&mut net, node, &data(200_000, 3));
    net.advance(ANNOUNCE_MAX_WAIT);
    assert!(dht_providers(&mut net, boot, &evicted).is_empty());
    assert_eq!(dht_providers(&mut net, boot, &kept).len(), 1);
}
