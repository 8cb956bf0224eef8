//! Seeding and fetching across a DHT: 3 kad-server nodes standing in for bootstrap nodes, a
//! seeder announcing through the first, ten fetchers joining through the last.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mesh_node::FetchChunk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_find_a_provider_across_the_dht_and_fetch_verified_bytes() {
    init_tracing();
    let servers = dht(3).await;
    let seeder = start(config(&[servers[0].addrs[0].clone()])).await;
    // 1.5 MiB: a dag-pb root over six raw leaves.
    let original = data(3 << 19, 7);
    let root = within("seed", seeder.handle.add_bytes(original.clone()))
        .await
        .unwrap();

    let mut fetchers = Vec::new();
    for _ in 0..10 {
        fetchers.push(start(config(&[servers[2].addrs[0].clone()])).await);
    }
    let fetches = fetchers.iter().map(|f| {
        let handle = f.handle.clone();
        tokio::spawn(async move { handle.fetch(root).await })
    });
    let results = within("ten fetches", futures::future::join_all(fetches)).await;
    for result in results {
        let fetched = result.unwrap().unwrap();
        assert_eq!(fetched.data, original, "fetched bytes differ");
        let summary = &fetched.report.summary;
        assert_eq!(summary.size, original.len() as u64);
        assert_eq!(summary.bytes_origin, 0);
        assert!(summary.bytes_peer >= original.len() as u64);
        assert!(!fetched.report.peers.is_empty());
    }
    let served = seeder.handle.stats().await.unwrap().serve;
    assert!(served.blocks_served > 0, "the seeder served nothing");

    stop(fetchers).await;
    stop([seeder]).await;
    stop(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_without_any_provider_fails_cleanly() {
    init_tracing();
    let servers = dht(1).await;
    let node = start(config(&[servers[0].addrs[0].clone()])).await;
    let missing = mesh_core::dag::cid_of(b"nobody has this");
    let mut stream = node.handle.fetch_stream(missing, None).await.unwrap();
    let first = within("fetch ends", stream.next()).await;
    assert!(
        matches!(first, Some(FetchChunk::Failed(_))),
        "expected a failure, got {first:?}"
    );
    stop([node]).await;
    stop(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespace_never_mixes() {
    init_tracing();
    let servers = dht(1).await;
    let seeder = start(config(&[servers[0].addrs[0].clone()])).await;
    let root = within("seed", seeder.handle.add_bytes(data(1000, 3)))
        .await
        .unwrap();
    let stranger_config =
        mesh_node::NodeConfig::new(mesh_protocol::Namespace::new("other").unwrap())
            .with_listen(loopback());
    let stranger = start(stranger_config).await;
    let err = within("connect", stranger.handle.connect(seeder.addrs[0].clone()))
        .await
        .unwrap_err();
    // Whichever side reads the other's identify first hangs up: the stranger hears either the
    // version mismatch or the closed connection.
    assert!(matches!(err, mesh_node::NodeError::Connect { .. }), "{err}");
    let result = within("fetch", stranger.handle.fetch(root)).await;
    assert!(result.is_err());
    stop([stranger, seeder]).await;
    stop(servers).await;
}
