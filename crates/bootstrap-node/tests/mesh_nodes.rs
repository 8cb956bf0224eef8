//! The real bootstrap binary with real mesh nodes: three bootstrap nodes joined with `--peer`,
//! a seeder announcing through A, and ten mesh nodes that know only C find it through the DHT
//! and fetch verified bytes from it — none of which pass through a bootstrap node.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::three_nodes;
use libp2p::Multiaddr;
use mesh_node::{Node, NodeConfig};
use mesh_protocol::Namespace;

const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

fn config(bootstrap: Multiaddr) -> NodeConfig {
    // The bootstrap binary's default namespace.
    NodeConfig::new(Namespace::new("default").unwrap())
        .with_listen(vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()])
        .with_bootstrap(vec![bootstrap])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mesh_nodes_fetch_through_three_bootstrap_nodes() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let [a, b, c] = three_nodes(&dirs);
    for node in [&a, &b, &c] {
        node.wait_metric("bootstrap_kad_routing_peers", |v| v >= 2.0);
    }

    let (seeder, seeder_task) = Node::start(config(a.addr("tcp"))).await.unwrap();
    // 1.5 MiB: a dag-pb root over six raw leaves.
    // xorshift32, so no two leaves are alike (identical leaves would be fetched once).
    let mut x = 0x9e37_79b9_u32;
    let original: Bytes = (0..3u32 << 19)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into();
    let root = seeder.add_bytes(original.clone()).await.unwrap();
    // The record reached the node the fetchers will ask.
    c.wait_metric("bootstrap_provider_records", |v| v >= 1.0);

    let mut fetchers = Vec::new();
    for _ in 0..10 {
        fetchers.push(Node::start(config(c.addr("tcp"))).await.unwrap());
    }
    let fetches = fetchers.iter().map(|(handle, _)| {
        let handle = handle.clone();
        tokio::spawn(async move { tokio::time::timeout(FETCH_TIMEOUT, handle.fetch(root)).await })
    });
    for result in futures::future::join_all(fetches).await {
        let fetched = result.unwrap().expect("fetch in time").unwrap();
        assert_eq!(fetched.data, original, "fetched bytes differ");
        let summary = &fetched.report.summary;
        assert_eq!(summary.bytes_origin, 0, "no origin configured");
        assert!(summary.bytes_peer >= original.len() as u64, "{summary:?}");
    }
    // Asset bytes went peer to peer: the bootstrap nodes relayed none.
    for node in [&a, &b, &c] {
        assert_eq!(node.metric("bootstrap_relay_bytes_total").unwrap(), 0.0);
    }

    for (handle, task) in fetchers.into_iter().chain([(seeder, seeder_task)]) {
        handle.shutdown().await;
        task.await.unwrap();
    }
}
