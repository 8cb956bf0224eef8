//! Have-summaries and cancels between engines on the in-memory transport: a connected peer
//! that announced an asset is asked for it with one request and no DHT lookup, roots fetched
//! later are announced to connected peers, want-blocks cancelled before their turn are never
//! sent, and a DHT lookup ends with the answer that named a provider.

use mesh_core::block::Block;
use mesh_core::dag::build_dag;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::EngineConfig;
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

/// A bootstrap node and `n` nodes that joined it.
fn joined(n: usize) -> (MemNet, Vec<NodeId>) {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let config = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let nodes = (0..n)
        .map(|_| {
            let id = net.spawn(KadMode::Client, PlannerConfig::new(), config.clone());
            net.join(id);
            id
        })
        .collect();
    (net, nodes)
}

/// `from` dials `to` directly and both see each other as mesh peers.
fn connect(net: &mut MemNet, from: NodeId, to: NodeId) {
    let addr = net.node(to).addr.clone();
    net.node(from).engine.connect(addr).expect("a /p2p address");
    net.run();
    let (a, b) = (net.node(from).peer_id(), net.node(to).peer_id());
    assert!(net.node(from).engine.is_mesh_peer(&b));
    assert!(net.node(to).engine.is_mesh_peer(&a));
}

#[test]
fn an_announced_asset_takes_one_request_and_no_dht_lookup() {
    let (mut net, nodes) = joined(2);
    let (seeder, fetcher) = (nodes[0], nodes[1]);
    let content = data(100 << 10, 1);
    let cid = net.seed(seeder, &content);
    connect(&mut net, fetcher, seeder);

    let fetch = net.fetch(fetcher, cid, None);
    let report = net.completed(fetcher, fetch).expect("completed at once");
    assert_eq!(net.delivered(fetcher, fetch), content);
    assert_eq!(report.sources.label(), "peer");
    assert_eq!(net.node(fetcher).engine.stats().provider_lookups, 0);
    let served = net.node(seeder).engine.stats().serve;
    assert_eq!(served.want_haves, 0, "no want-have round trip");
    assert_eq!(served.blocks_served, 1, "one want-block, one block");
    net.run();
    // The fetcher provides it now, but does not announce it back to where it came from.
    let fetcher_peer = net.node(fetcher).peer_id();
    assert!(net.node(fetcher).engine.provided().any(|root| *root == cid));
    assert!(
        !net.node(seeder)
            .engine
            .planner()
            .peer_holds(&fetcher_peer, &cid)
    );
}

#[test]
fn a_lookup_asks_the_dht_node_and_not_the_providers_it_names() {
    let (mut net, nodes) = joined(2);
    let (seeder, fetcher) = (nodes[0], nodes[1]);
    let content = data(3000, 3);
    let cid = net.seed(seeder, &content);

    let fetch = net.fetch(fetcher, cid, None);
    let report = net.completed(fetcher, fetch).expect("completed");
    assert_eq!(report.sources.label(), "peer");
    net.run();
    let stats = net.node(fetcher).engine.stats();
    assert_eq!(stats.provider_lookups, 1);
    // Kademlia goes on to ask the providers it learnt of, as if they were DHT nodes: the
    // seeder, a DHT client, refuses, and is dialled for it if not connected yet.
    assert_eq!(
        stats.provider_lookup_requests, 1,
        "one request, to the bootstrap node"
    );
}

#[test]
fn a_root_fetched_later_is_announced_to_connected_peers() {
    let (mut net, nodes) = joined(3);
    let (seeder, middle, last) = (nodes[0], nodes[1], nodes[2]);
    let content = data(3000, 2);
    let cid = net.seed(seeder, &content);
    connect(&mut net, last, middle);
    // `middle` fetches it from the seeder (found in the DHT), then holds it.
    let first = net.fetch(middle, cid, None);
    assert!(net.completed(middle, first).is_some());

    let fetch = net.fetch(last, cid, None);
    let report = net.completed(last, fetch).expect("completed at once");
    let middle_peer = net.node(middle).peer_id();
    assert_eq!(report.peers.keys().collect::<Vec<_>>(), vec![&middle_peer]);
    assert_eq!(net.node(last).engine.stats().provider_lookups, 0);
}

#[test]
fn want_blocks_cancelled_before_their_turn_are_never_sent() {
    let (mut net, nodes) = joined(2);
    let (seeder, fetcher) = (nodes[0], nodes[1]);
    // 16 leaves of 256 KiB: the planner asks all of them of the one holder at once.
    let content = data(16 << 18, 3);
    let cid = net.seed(seeder, &content);
    connect(&mut net, fetcher, seeder);
    // The fetcher holds the root already (an earlier, interrupted visit), so its requests for
    // the leaves go out while the seeder is stopped.
    let dag = build_dag(&content);
    let root: Block = dag
        .blocks
        .iter()
        .find(|b| *b.cid() == cid)
        .cloned()
        .expect("the root block");
    net.node(fetcher)
        .engine
        .add(cid, vec![root])
        .expect("room for the root");
    net.run();
    net.freeze(seeder);
    let fetch = net.fetch(fetcher, cid, None);
    // The page goes away before the seeder answered: every want-block is cancelled.
    let now = net.now;
    net.node(fetcher).engine.cancel_fetch(now, fetch);
    net.run();
    // The seeder reads the requests and the cancel while its first blocks are still on the
    // way (the fetcher reads nothing meanwhile: flow control holds them), then all moves.
    net.freeze(fetcher);
    net.thaw(seeder);
    net.thaw(fetcher);

    let served = net.node(seeder).engine.stats().serve;
    assert!(
        served.cancelled > 0,
        "kept want-blocks were dropped: {served:?}"
    );
    assert_eq!(served.blocks_served + served.cancelled, 16, "{served:?}");
    assert!(
        served.blocks_served <= mesh_protocol::blocks::DEFAULT_SEND_WINDOW_PER_PEER as u64 + 1,
        "at most the send window (and a request that came after the cancel) went out: {served:?}"
    );
}
