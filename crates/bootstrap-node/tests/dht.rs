//! Three bootstrap nodes form one DHT: a provider announced through node A is found by a client
//! of node C; records follow their provider's connection and their TTL.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    ANNOUNCE, BootNode, EVENT_TIMEOUT,
    client::{
        Background, delegated_find, delegated_provide, find_providers, join, new_client,
        new_client_with_kad, provide, reserve,
    },
    three_nodes,
};
use libp2p::kad::RecordKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_via_a_found_via_c_and_dropped_on_disconnect() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let [a, b, c] = three_nodes(&dirs);
    // Every node knows the two others once identify put them in its routing table.
    for node in [&a, &b, &c] {
        node.wait_metric("bootstrap_kad_routing_peers", |v| v == 2.0);
    }

    let key = RecordKey::new(b"bafkreib-site-logo");
    // The provider behaves like a browser: reachable only through its relay reservation at A.
    let mut provider = new_client().await;
    join(&mut provider, &a.addr("tcp")).await;
    reserve(&mut provider, &a.addr("tcp")).await;
    provide(&mut provider, &key).await;
    let provider_id = *provider.local_peer_id();
    let provider = Background::spawn(provider);
    // The client was given only A; A named B and C as the closest peers, and the client stored
    // its record at all three, as Kademlia does.
    c.wait_metric("bootstrap_provider_records", |v| v == 1.0);

    let mut seeker = new_client().await;
    join(&mut seeker, &c.addr("tcp")).await;
    assert_eq!(find_providers(&mut seeker, &key).await, vec![provider_id]);

    // The provider goes away: every node that held its record drops it.
    drop(provider);
    for node in [&a, &b, &c] {
        node.wait_metric("bootstrap_provider_records", |v| v == 0.0);
        node.wait_metric(
            "bootstrap_provider_records_removed_total{reason=\"disconnect\"}",
            |v| v >= 1.0,
        );
    }
    assert!(find_providers(&mut seeker, &key).await.is_empty());
    // The joined nodes ran Kademlia queries of their own.
    assert!(
        c.get("/metrics")
            .body
            .contains("# TYPE libp2p_kad_query_result_duration_seconds histogram")
    );
}

/// The browser's way: a delegating client announces through node A alone (its record lives
/// only there, with its relayed address) and one given only node C finds it: C's store has
/// nobody, so C asks the nodes it joined, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_provider_via_a_found_via_c() {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let [a, b, c] = three_nodes(&dirs);
    for node in [&a, &b, &c] {
        node.wait_metric("bootstrap_kad_routing_peers", |v| v == 2.0);
    }
    let cid = mesh_core::block::cid_for(mesh_core::block::RAW_CODEC, b"site-logo");

    let mut provider = new_client().await;
    join(&mut provider, &a.addr("tcp")).await;
    reserve(&mut provider, &a.addr("tcp")).await;
    assert_eq!(delegated_provide(&mut provider, &cid).await, Ok(()));
    let provider_id = *provider.local_peer_id();
    let provider = Background::spawn(provider);
    a.wait_metric("bootstrap_provider_records", |v| v == 1.0);
    a.wait_metric("bootstrap_routing_requests_total{kind=\"provide\"}", |v| {
        v == 1.0
    });
    for node in [&b, &c] {
        node.wait_metric("bootstrap_provider_records", |v| v == 0.0);
    }

    let mut seeker = new_client().await;
    join(&mut seeker, &c.addr("tcp")).await;
    assert_eq!(delegated_find(&mut seeker, &cid).await, vec![provider_id]);
    // C passed the lookup on to A and B, which answered from their own stores only.
    c.wait_metric("bootstrap_routing_requests_total{kind=\"find\"}", |v| {
        v == 1.0
    });
    for node in [&a, &b] {
        node.wait_metric(
            "bootstrap_routing_requests_total{kind=\"find_held\"}",
            |v| v == 1.0,
        );
    }

    // Gone with its connection, and no lookup finds it through any node.
    drop(provider);
    a.wait_metric("bootstrap_provider_records", |v| v == 0.0);
    assert!(delegated_find(&mut seeker, &cid).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_records_expire_after_their_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[ANNOUNCE, "--provider-ttl", "1s"]);
    let key = RecordKey::new(b"bafkreib-short-lived");

    let mut provider = new_client().await;
    join(&mut provider, &node.addr("tcp")).await;
    reserve(&mut provider, &node.addr("tcp")).await;
    // Earlier than the node's storing of the record, hence earlier than its expiry by > 1 s.
    let announced = Instant::now();
    provide(&mut provider, &key).await;
    let provider_id = *provider.local_peer_id();
    let _provider = Background::spawn(provider);

    let mut seeker = new_client().await;
    join(&mut seeker, &node.addr("tcp")).await;
    assert_eq!(find_providers(&mut seeker, &key).await, vec![provider_id]);
    // The provider stays connected; only the TTL can remove the record.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if find_providers(&mut seeker, &key).await.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "record never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        announced.elapsed() >= Duration::from_secs(1),
        "gone before its TTL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_do_not_mix() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &[ANNOUNCE, "--namespace", "shop-a"]);
    let key = RecordKey::new(b"bafkreib-namespaced");

    let mut provider = new_client_with_kad("/mesh/shop-a/kad/1.0.0").await;
    join(&mut provider, &node.addr("tcp")).await;
    reserve(&mut provider, &node.addr("tcp")).await;
    provide(&mut provider, &key).await;
    let provider_id = *provider.local_peer_id();
    let _provider = Background::spawn(provider);

    let mut same_site = new_client_with_kad("/mesh/shop-a/kad/1.0.0").await;
    join(&mut same_site, &node.addr("tcp")).await;
    assert_eq!(
        find_providers(&mut same_site, &key).await,
        vec![provider_id]
    );

    // A client of another deployment speaks another protocol id and gets no answer at all.
    let mut other_site = new_client().await;
    join(&mut other_site, &node.addr("tcp")).await;
    assert!(find_providers(&mut other_site, &key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_records_are_capped_per_source_address() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--max-provider-records-per-ip", "2"]);
    let addr = node.addr("tcp");
    // Three identities on one address announce one key each; the third is refused.
    let mut held = Vec::new();
    for i in 0..3u8 {
        let mut client = new_client().await;
        join(&mut client, &addr).await;
        provide(&mut client, &RecordKey::new(&[b'k', i])).await;
        held.push(Background::spawn(client));
        if i < 2 {
            node.wait_metric("bootstrap_provider_records", |v| v == f64::from(i + 1));
        }
    }
    node.wait_metric(
        "bootstrap_provider_records_refused_total{reason=\"ip_records\"}",
        |v| v == 1.0,
    );
    assert_eq!(node.metric("bootstrap_provider_records"), Some(2.0));
}
