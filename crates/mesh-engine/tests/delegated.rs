//! Delegated routing, as browsers route: nodes without Kademlia announce to and look up
//! through their bootstrap node, one request each, and interoperate with nodes that walk the
//! DHT (a record announced either way is found either way).

use cid::Cid;
use libp2p::kad::store::RecordStore;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, Output};
use mesh_protocol::{KadMode, RoutingMode};
use mesh_testkit::{MemNet, NodeId, data};

/// The addresses `boot` holds in `node`'s provider record of `root`, if it holds one.
fn record_addrs(
    net: &mut MemNet,
    boot: NodeId,
    node: NodeId,
    root: &Cid,
) -> Option<Vec<libp2p::Multiaddr>> {
    let peer = net.node(node).peer_id();
    let store = net.node(boot).kad().store_mut();
    RecordStore::providers(store, &mesh_protocol::provider_key(root))
        .into_iter()
        .find(|r| r.provider == peer)
        .map(|r| r.addresses)
}

/// A fetch of `cid` by `fetcher` came wholly from `seeder`, with no origin request.
fn fetched_from_peer(net: &mut MemNet, fetcher: NodeId, seeder: NodeId, cid: Cid, content: &[u8]) {
    let seeder_peer = net.node(seeder).peer_id();
    let fetch = net.fetch(fetcher, cid, None);
    let report = net
        .completed(fetcher, fetch)
        .expect("the fetch completed without the clock moving");
    assert_eq!(net.delivered(fetcher, fetch), content);
    assert_eq!(report.sources.label(), "peer");
    assert_eq!(
        report.peers.get(&seeder_peer),
        Some(&report.summary.bytes_peer),
        "every peer byte from the seeder: {:?}",
        report.peers
    );
    assert!(
        !net.node(fetcher)
            .outputs
            .iter()
            .any(|o| matches!(o, Output::OriginFetch { .. })),
        "no origin request"
    );
}

#[test]
fn a_delegating_node_announces_through_its_bootstrap_node_and_another_finds_it() {
    mesh_testkit::init_tracing();
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    let joined = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let seeder = net.spawn(RoutingMode::Delegated, PlannerConfig::new(), joined.clone());
    net.join(seeder);
    assert_eq!(
        net.node(seeder).engine.status().routing_table,
        1,
        "the bootstrap node routes for it"
    );
    let content = data(700_000, 3);
    let cid = net.seed(seeder, &content);
    let seeder_addr = net.node(seeder).addr.clone();
    let addrs = record_addrs(&mut net, boot, seeder, &cid).expect("the record is held");
    assert!(
        addrs
            .iter()
            .any(|a| seeder_addr.to_string().starts_with(&a.to_string())),
        "the record carries the seeder's address: {addrs:?}"
    );

    let fetcher = net.spawn(RoutingMode::Delegated, PlannerConfig::new(), joined);
    net.join(fetcher);
    fetched_from_peer(&mut net, fetcher, seeder, cid, &content);
    let stats = net.node(fetcher).engine.stats();
    assert_eq!(stats.provider_lookups, 1);
    assert_eq!(
        stats.provider_lookup_requests, 1,
        "one request, to the one server"
    );

    // Withdrawn at once (Kademlia could only let it expire).
    net.node(seeder)
        .engine
        .swarm_mut()
        .behaviour_mut()
        .routing
        .stop_providing(&cid);
    net.run();
    assert_eq!(record_addrs(&mut net, boot, seeder, &cid), None);

    // Consent withdrawn: nothing left to route through.
    let now = net.now;
    net.node(fetcher).engine.leave(now);
    net.run();
    assert_eq!(net.node(fetcher).engine.status().routing_table, 0);
}

#[test]
fn delegating_and_dht_walking_nodes_find_each_other() {
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    let joined = EngineConfig::default().with_bootstrap(vec![boot_addr.clone()]);
    let walker = net.spawn(KadMode::Client, PlannerConfig::new(), joined.clone());
    let delegator = net.spawn(RoutingMode::Delegated, PlannerConfig::new(), joined);
    net.join(walker);
    net.join(delegator);

    let by_walker = data(300_000, 10);
    let cid = net.seed(walker, &by_walker);
    assert!(record_addrs(&mut net, boot, walker, &cid).is_some());
    fetched_from_peer(&mut net, delegator, walker, cid, &by_walker);

    let by_delegator = data(300_000, 20);
    let cid = net.seed(delegator, &by_delegator);
    assert!(record_addrs(&mut net, boot, delegator, &cid).is_some());
    // The walker is connected to the delegator already: have-summaries would name the asset.
    // A newcomer walking the DHT must find it by the record.
    let newcomer = net.spawn(
        KadMode::Client,
        PlannerConfig::new(),
        EngineConfig::default().with_bootstrap(vec![boot_addr]),
    );
    net.join(newcomer);
    fetched_from_peer(&mut net, newcomer, delegator, cid, &by_delegator);
}

#[test]
fn without_a_server_lookups_end_at_once_and_announcements_say_so() {
    let mut net = MemNet::new();
    let alone = net.spawn(
        RoutingMode::Delegated,
        PlannerConfig::new(),
        EngineConfig::default(),
    );
    let root = net.add(alone, &data(10_000, 6));
    let outcome = net.announced(alone, root);
    let Some(Err(error)) = outcome else {
        panic!("the announcement failed and said so: {outcome:?}");
    };
    assert!(error.to_string().contains("no routing server"), "{error}");

    // A lookup with nobody to ask ends: the fetch falls back to the origin at its deadline
    // rather than waiting on a lookup that cannot answer.
    let missing = mesh_core::dag::build_dag(&data(1_000, 7)).root.cid;
    let fetch = net.fetch(alone, missing, Some("https://origin.test/x"));
    net.run();
    assert_eq!(net.node(alone).engine.stats().provider_lookup_requests, 0);
    assert!(
        net.origin_request(alone, fetch).is_some(),
        "the origin is asked"
    );
}

#[test]
fn the_first_warm_round_lasts_until_its_dial_settles_though_one_answer_ends_the_lookup() {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let content = data(50_000, 40);
    let asset = mesh_core::dag::build_dag(&content).root.cid;
    let site = mesh_core::dag::build_dag(b"{\"version\":1,\"assets\":{}}")
        .root
        .cid;
    let config = EngineConfig::default()
        .with_bootstrap(vec![boot_addr])
        .with_warm_peers(1, vec![asset])
        .with_site(Some(site));
    let holder = net.spawn(RoutingMode::Delegated, PlannerConfig::new(), config.clone());
    net.join(holder);
    // From the origin into the cache: it now holds an asset of the site and provides its key.
    let fetch = net.fetch(holder, asset, Some("http://origin.test/a"));
    net.serve_origin(holder, fetch, content);
    let holder_peer = net.node(holder).peer_id();

    // The holder stops answering: the newcomer's dial to it hangs.
    net.freeze(holder);
    let newcomer = net.spawn(RoutingMode::Delegated, PlannerConfig::new(), config);
    net.join(newcomer);
    let now = net.now;
    net.advance_to(now);
    assert_eq!(net.node(newcomer).engine.stats().warm_dials, 1);
    assert!(
        net.node(newcomer).engine.status().warming,
        "the lookup ended with its one answer, but the dial it started goes on"
    );

    net.thaw(holder);
    net.run();
    assert!(net.node(newcomer).engine.is_mesh_peer(&holder_peer));
    assert!(!net.node(newcomer).engine.status().warming);
}
