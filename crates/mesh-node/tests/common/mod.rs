//! Shared helpers: real nodes over TCP on 127.0.0.1, a small DHT of kad-server nodes, and
//! deadlines instead of sleeps.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Future;
use std::time::Duration;

use libp2p::Multiaddr;
use mesh_node::{Node, NodeConfig, NodeHandle, NodeStatus};
use mesh_protocol::{KadMode, Namespace};
use tokio::task::JoinHandle;

pub use mesh_testkit::{data, init_tracing};

/// Longest any single step of a test may take; a failure shows up as a timeout, never a hang.
pub const STEP: Duration = Duration::from_secs(30);

pub fn namespace() -> Namespace {
    Namespace::new("test").unwrap()
}

pub fn loopback() -> Vec<Multiaddr> {
    vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]
}

/// A config on loopback with `bootstrap` peers.
pub fn config(bootstrap: &[Multiaddr]) -> NodeConfig {
    NodeConfig::new(namespace())
        .with_listen(loopback())
        .with_bootstrap(bootstrap.to_vec())
}

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub struct Running {
    pub handle: NodeHandle,
    pub task: JoinHandle<()>,
    pub addrs: Vec<Multiaddr>,
}

pub async fn start(config: NodeConfig) -> Running {
    let (handle, task) = within("node start", Node::start(config)).await.unwrap();
    let addrs = handle.listen_addrs().await.unwrap();
    assert!(!addrs.is_empty());
    Running {
        handle,
        task,
        addrs,
    }
}

pub async fn wait(node: &Running, what: &str, cond: impl FnMut(&NodeStatus) -> bool) {
    within(what, node.handle.wait_for(cond)).await.unwrap();
}

/// `n` kad-server nodes that know each other: the stand-in for bootstrap nodes.
pub async fn dht(n: usize) -> Vec<Running> {
    let mut servers: Vec<Running> = Vec::new();
    for _ in 0..n {
        let bootstrap: Vec<Multiaddr> = servers.iter().map(|s| s.addrs[0].clone()).collect();
        servers.push(start(config(&bootstrap).with_kad_mode(KadMode::Server)).await);
    }
    for server in &servers {
        wait(server, "DHT servers know each other", |s| {
            s.routing_table >= n - 1
        })
        .await;
    }
    servers
}

pub async fn stop(nodes: impl IntoIterator<Item = Running>) {
    for node in nodes {
        node.handle.shutdown().await;
        within("node stops", node.task).await.unwrap();
    }
}
