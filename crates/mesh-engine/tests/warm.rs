//! Warm peers: once connected to the bootstrap node, the engine opens connections to
//! providers of the site's assets before anything is fetched — as many as configured, no
//! more — and opens new ones on the next round (not before) when they are gone.
//!
//! Kademlia's provider lookup itself also connects to the providers it hears of (rust-libp2p
//! adds them to the query's walk); the policy counts those as open and dials fewer, so its
//! own part is read from its dial counter.

use libp2p::kad::store::RecordStore;
use libp2p::{Multiaddr, PeerId};
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, Output, WARM_INTERVAL};
use mesh_protocol::{KadMode, provider_key};
use mesh_testkit::{MemNet, NodeId, data};

/// Mesh peers of `id` other than `boot` (an engine too, here).
fn mesh_peers(net: &mut MemNet, id: NodeId, boot: PeerId) -> usize {
    let engine = &mut net.node(id).engine;
    engine.status().mesh_peers - usize::from(engine.is_mesh_peer(&boot))
}

fn warm_dials(net: &mut MemNet, id: NodeId) -> u64 {
    net.node(id).engine.stats().warm_dials
}

/// A seeder of `content` that announced through `boot` and left it: its record stays, and
/// the bootstrap node does not hand it out as a peer to query.
fn seeder(net: &mut MemNet, boot: NodeId, content: &[u8]) -> (NodeId, cid::Cid) {
    let boot_addr = net.node(boot).addr.clone();
    let boot_peer = net.node(boot).peer_id();
    let s = net.spawn(
        KadMode::Client,
        PlannerConfig::new(),
        EngineConfig::default(),
    );
    net.node(s)
        .engine
        .connect(boot_addr)
        .expect("an address with a peer id");
    net.run();
    let cid = net.seed(s, content);
    let peer = net.node(s).peer_id();
    let _ = net.node(s).engine.swarm_mut().disconnect_peer_id(boot_peer);
    net.run();
    net.node(boot).kad().remove_peer(&peer);
    (s, cid)
}

/// A browser-like node that joins through `boot_addr` and keeps `warm` warm connections to
/// providers of `assets` (none when `warm` is 0).
fn tab(net: &mut MemNet, boot_addr: &Multiaddr, warm: usize, assets: Vec<cid::Cid>) -> NodeId {
    let mut config = EngineConfig::default().with_bootstrap(vec![boot_addr.clone()]);
    if warm > 0 {
        config = config.with_warm_peers(warm, assets);
    }
    net.spawn(KadMode::Client, PlannerConfig::new(), config)
}

#[test]
fn opens_the_wanted_number_ahead_of_need_and_again_when_gone() {
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    let boot_peer = net.node(boot).peer_id();
    let content = data(20_000, 11);
    let (first, seeders): (Vec<_>, Vec<_>) =
        (0..3).map(|_| seeder(&mut net, boot, &content)).unzip();
    let cid = seeders[0];

    let tab = tab(&mut net, &boot_addr, 2, vec![cid]);
    net.join(tab);
    assert_eq!(
        warm_dials(&mut net, tab),
        0,
        "no round before the bootstrap node is up"
    );
    // The first round is due as soon as the bootstrap node is connected.
    net.advance_to(net.now);
    let dials = warm_dials(&mut net, tab);
    assert!((1..=2).contains(&dials), "{dials} dials for two wanted");
    assert!(mesh_peers(&mut net, tab, boot_peer) >= 2);
    assert!(
        net.node(tab)
            .outputs
            .iter()
            .all(|o| !matches!(o, Output::Deliver { .. })),
        "nothing was fetched"
    );

    // Enough open: the next round dials nobody.
    net.advance(WARM_INTERVAL);
    assert_eq!(warm_dials(&mut net, tab), dials);

    // Every provider leaves (and, as a bootstrap node does, the DHT drops their records);
    // two others come. The next round, and not before, reaches them.
    for s in first {
        let peer = net.node(s).peer_id();
        net.stop(s);
        net.node(boot)
            .kad()
            .store_mut()
            .remove_provider(&provider_key(&cid), &peer);
    }
    assert_eq!(mesh_peers(&mut net, tab, boot_peer), 0);
    for _ in 0..2 {
        seeder(&mut net, boot, &content);
    }
    net.advance(WARM_INTERVAL / 2);
    assert_eq!(warm_dials(&mut net, tab), dials, "not before the round");
    assert_eq!(mesh_peers(&mut net, tab, boot_peer), 0);
    net.advance(WARM_INTERVAL / 2);
    assert!(warm_dials(&mut net, tab) > dials);
    assert_eq!(mesh_peers(&mut net, tab, boot_peer), 2);
}

fn warming(net: &mut MemNet, id: NodeId) -> bool {
    net.node(id).engine.status().warming
}

/// `warming` (what the browser node's `mesh.ready()` waits for) holds from start until the
/// first round's lookups ended and its dials settled, whether it found providers or none.
#[test]
fn warming_lasts_until_the_first_round_settled() {
    let mut net = MemNet::new();
    let (boot, boot_addr) = net.spawn_bootstrap();
    let boot_peer = net.node(boot).peer_id();
    let content = data(20_000, 12);
    let (_, cid) = seeder(&mut net, boot, &content);
    let unheld = mesh_core::dag::build_dag(&data(5_000, 13)).root.cid;

    let with_provider = tab(&mut net, &boot_addr, 2, vec![cid]);
    let alone = tab(&mut net, &boot_addr, 2, vec![unheld]);
    let unwanted = tab(&mut net, &boot_addr, 0, Vec::new());
    assert!(
        warming(&mut net, with_provider),
        "before the bootstrap node"
    );
    assert!(warming(&mut net, alone));
    assert!(!warming(&mut net, unwanted), "no warm peers wanted");
    for id in [with_provider, alone, unwanted] {
        net.join(id);
    }
    net.advance_to(net.now);
    assert_eq!(mesh_peers(&mut net, with_provider, boot_peer), 1);
    assert!(
        !warming(&mut net, with_provider),
        "its provider is connected"
    );
    assert_eq!(warm_dials(&mut net, alone), 0);
    assert!(!warming(&mut net, alone), "the lookup found nobody");
    assert!(!warming(&mut net, unwanted));

    // Consent withdrawn and given again: the first round is awaited afresh.
    let now = net.now;
    net.node(with_provider).engine.leave(now);
    net.run();
    assert!(warming(&mut net, with_provider), "no round while left");
    net.join(with_provider);
    net.advance_to(net.now);
    assert!(!warming(&mut net, with_provider), "the new round connected");
}
