//! A provider found in the DHT is dialled and the asset comes from it, verified, before any
//! deadline: no origin request, every byte attributed to that peer, every delivery labelled
//! `peer` when the shell takes it.

use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

/// A bootstrap node, a seeder that joined it and announced `content`, and a fetcher that
/// joined it too.
struct Swarm {
    net: MemNet,
    seeder_peer: libp2p::PeerId,
    fetcher: NodeId,
    cid: cid::Cid,
}

fn seeded_swarm(content: &[u8]) -> Swarm {
    let mut net = MemNet::new();
    let (_, boot_addr) = net.spawn_bootstrap();
    let joined = EngineConfig::default().with_bootstrap(vec![boot_addr]);
    let seeder = net.spawn(KadMode::Client, PlannerConfig::new(), joined.clone());
    net.join(seeder);
    let cid = net.seed(seeder, content);
    let seeder_peer = net.node(seeder).peer_id();
    let fetcher = net.spawn(KadMode::Client, PlannerConfig::new(), joined);
    net.join(fetcher);
    Swarm {
        net,
        seeder_peer,
        fetcher,
        cid,
    }
}

#[test]
fn provider_found_in_the_dht_serves_the_asset() {
    mesh_testkit::init_tracing();
    // Three 256 KiB leaves and a root: the planner walks the DAG from the peer.
    let content = data(700_000, 7);
    let Swarm {
        mut net,
        seeder_peer,
        fetcher,
        cid,
    } = seeded_swarm(&content);
    let start = net.now;
    let fetch = net.fetch(fetcher, cid, None);

    let report = net
        .completed(fetcher, fetch)
        .expect("the fetch completed without the clock moving");
    assert_eq!(net.now, start, "no timer was needed");
    assert_eq!(net.delivered(fetcher, fetch), content);
    assert_eq!(report.sources.label(), "peer");
    assert_eq!(report.peers.keys().collect::<Vec<_>>(), vec![&seeder_peer]);
    assert_eq!(report.peers[&seeder_peer], report.summary.bytes_peer);
    assert!(report.summary.bytes_peer >= content.len() as u64);
    let labels = &net.node(fetcher).labels;
    assert!(!labels.is_empty());
    assert!(
        labels.iter().all(|l| *l == (fetch, Some("peer"))),
        "{labels:?}"
    );
    let node = net.node(fetcher);
    assert!(
        !node
            .outputs
            .iter()
            .any(|o| matches!(o, Output::OriginFetch { .. })),
        "no origin request"
    );
    assert!(node.outputs.iter().any(|o| matches!(
        o,
        Output::PeerChanged { peer, connected: true, .. } if *peer == seeder_peer
    )));
}

#[test]
fn a_one_block_asset_is_labelled_by_its_source_although_it_completes_at_once() {
    let content = data(5_000, 8);
    let Swarm {
        mut net,
        fetcher,
        cid,
        ..
    } = seeded_swarm(&content);
    let fetch = net.fetch(fetcher, cid, None);
    assert!(net.completed(fetcher, fetch).is_some());
    assert_eq!(net.node(fetcher).labels, vec![(fetch, Some("peer"))]);
    assert_eq!(
        net.node(fetcher).engine.fetch_sources(fetch),
        None,
        "forgotten once ended"
    );
}
