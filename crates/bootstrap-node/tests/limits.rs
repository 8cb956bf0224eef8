//! Connection limits: connections beyond a cap are refused, the ones within it keep working and
//! the process stays healthy.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    BootNode,
    client::{Background, Client, connect, drive_until, new_client},
};
use libp2p::{
    Multiaddr,
    swarm::{
        SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};

/// Dials `addr` and waits until the node has dropped the connection (or refused it outright).
async fn refused(client: &mut Client, opts: DialOpts) {
    client.dial(opts).unwrap();
    drive_until(client, "refusal", |_, event| match event {
        SwarmEvent::ConnectionClosed { .. } | SwarmEvent::OutgoingConnectionError { .. } => {
            Some(())
        }
        _ => None,
    })
    .await;
}

fn to(addr: &Multiaddr) -> DialOpts {
    DialOpts::unknown_peer_id().address(addr.clone()).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_connections_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--max-connections", "3"]);
    let addr = node.addr("tcp");

    let mut held = Vec::new();
    for _ in 0..3 {
        let mut client = new_client().await;
        connect(&mut client, &addr).await;
        held.push(Background::spawn(client));
    }
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 3.0);

    for _ in 0..4 {
        let mut extra = new_client().await;
        refused(&mut extra, to(&addr)).await;
    }
    node.wait_metric("bootstrap_connections_denied_total", |v| v == 4.0);
    // The three within the cap are untouched, and the node still serves.
    assert_eq!(
        node.metric("bootstrap_connections{transport=\"tcp\"}"),
        Some(3.0)
    );
    assert_eq!(node.get("/healthz").status, 200);

    // Capacity freed is capacity regained.
    held.pop();
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 2.0);
    let mut late = new_client().await;
    connect(&mut late, &addr).await;
    let _late = Background::spawn(late);
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_peer_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--max-connections-per-peer", "1"]);
    let addr = node.addr("tcp");

    let mut client = new_client().await;
    let boot = connect(&mut client, &addr).await;
    let mut transport = addr.clone();
    transport.pop();
    // A second connection from the same peer, which the dialer would otherwise reuse.
    let again = DialOpts::peer_id(boot)
        .addresses(vec![transport])
        .condition(PeerCondition::Always)
        .build();
    client.dial(again).unwrap();
    let _client = Background::spawn(client);
    node.wait_metric("bootstrap_connections_denied_total", |v| v == 1.0);
    assert_eq!(
        node.metric("bootstrap_connections{transport=\"tcp\"}"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_budget_refuses_connections_not_the_process() {
    let dir = tempfile::tempdir().unwrap();
    // Any real process is above 1 MiB: every new connection must be refused.
    let mut node = BootNode::start(dir.path(), &["--max-memory-mib", "1"]);
    let addr = node.addr("tcp");
    for _ in 0..3 {
        let mut client = new_client().await;
        refused(&mut client, to(&addr)).await;
    }
    node.wait_metric("bootstrap_connections_denied_total", |v| v == 3.0);
    assert_eq!(node.get("/healthz").status, 200);
    assert!(node.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_ip_are_capped_whatever_the_peer_ids() {
    let dir = tempfile::tempdir().unwrap();
    let node = BootNode::start(dir.path(), &["--max-connections-per-ip", "2"]);
    let addr = node.addr("tcp");

    let mut held = Vec::new();
    for _ in 0..2 {
        let mut client = new_client().await;
        connect(&mut client, &addr).await;
        held.push(Background::spawn(client));
    }
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 2.0);
    // Fresh identities from the same address, over another transport too.
    let mut extra = new_client().await;
    refused(&mut extra, to(&addr)).await;
    let mut extra = new_client().await;
    refused(&mut extra, to(&node.addr("ws"))).await;
    node.wait_metric(
        "bootstrap_connections_denied_by_source_total{limit=\"ip\"}",
        |v| v == 2.0,
    );
    assert_eq!(
        node.metric("bootstrap_connections{transport=\"tcp\"}"),
        Some(2.0)
    );

    held.pop();
    node.wait_metric("bootstrap_connections{transport=\"tcp\"}", |v| v == 1.0);
    let mut late = new_client().await;
    connect(&mut late, &addr).await;
}
