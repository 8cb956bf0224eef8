//! The site rendezvous: a node holding any of the site's assets provides the site's key (its
//! manifest's CID), and a newcomer's warm round finds it with that one lookup — no lookup per
//! asset — and opens a connection to it before anything is fetched. A node whose cache no
//! longer holds any of the site stops providing the key.

use bytes::Bytes;
use libp2p::kad::store::RecordStore;
use mesh_core::dag::build_dag;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, PersistedBlock};
use mesh_protocol::{KadMode, provider_key};
use mesh_testkit::{MemNet, NodeId, data};

fn provides(net: &mut MemNet, id: NodeId, key: &cid::Cid) -> bool {
    let key = provider_key(key);
    let store = net.node(id).kad().store_mut();
    RecordStore::provided(store).any(|r| r.key == key)
}

#[test]
fn one_lookup_of_the_site_key_finds_a_peer_holding_part_of_the_site() {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let site = build_dag(b"{\"version\":1,\"assets\":{}}").root.cid;
    let (a, b): (Bytes, Bytes) = (data(100_000, 31), data(100_000, 33));
    let assets = vec![build_dag(&a).root.cid, build_dag(&b).root.cid];
    let config = EngineConfig::default()
        .with_bootstrap(vec![boot_addr])
        .with_warm_peers(1, assets.clone())
        .with_site(Some(site));

    let holder = net.spawn(KadMode::Client, PlannerConfig::new(), config.clone());
    net.join(holder);
    assert!(
        !provides(&mut net, holder, &site),
        "holds nothing of the site yet"
    );
    let fetch = net.fetch(holder, assets[0], Some("http://origin.test/a"));
    net.serve_origin(holder, fetch, a.clone());
    assert!(
        provides(&mut net, holder, &site),
        "holds an asset of the site"
    );

    // The newcomer's warm list names only the asset the holder does not have: a lookup per
    // asset would find nobody, so only the site key can lead it to the holder.
    let newcomer_config = config.with_warm_peers(1, vec![assets[1]]);
    let newcomer = net.spawn(KadMode::Client, PlannerConfig::new(), newcomer_config);
    net.join(newcomer);
    // The first warm round is due as the bootstrap node connects.
    let now = net.now;
    net.advance_to(now);
    let holder_peer = net.node(holder).peer_id();
    assert!(
        net.node(newcomer).engine.is_mesh_peer(&holder_peer),
        "the warm round found the holder through the site key and connected"
    );
    assert!(net.node(newcomer).engine.stats().warm_dials <= 1);
}

#[test]
fn a_node_holding_nothing_of_the_site_stops_providing_its_key() {
    let mut net = MemNet::new();
    let site = build_dag(b"site").root.cid;
    let a = data(100_000, 35);
    let other = data(100_000, 37);
    let config = EngineConfig::default()
        .with_warm_peers(1, vec![build_dag(&a).root.cid])
        .with_site(Some(site));
    net.set_store_bytes(150_000);
    let node = net.spawn(KadMode::Client, PlannerConfig::new(), config);
    let blocks = build_dag(&a)
        .blocks
        .iter()
        .map(|b| PersistedBlock::new(*b.cid(), b.data().clone()))
        .collect();
    let now = net.now;
    net.node(node)
        .engine
        .restore(now, blocks, vec![build_dag(&a).root.cid]);
    // Announced when the shell next polls (the queue of `announce.rs`).
    net.run();
    assert!(provides(&mut net, node, &site));
    // An asset that is not the site's takes the room: the site's leaves the cache.
    let blocks = build_dag(&other)
        .blocks
        .iter()
        .map(|b| PersistedBlock::new(*b.cid(), b.data().clone()))
        .collect();
    net.node(node)
        .engine
        .restore(now, blocks, vec![build_dag(&other).root.cid]);
    net.run();
    assert!(!provides(&mut net, node, &site));
    assert!(!net.node(node).engine.provided().any(|c| *c == site));
}
