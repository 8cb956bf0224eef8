//! Losing the bootstrap node: redials back off (250 ms doubling, jitter x0.5-1), the node
//! reconnects when the bootstrap node is back, re-announces what it provides, and the
//! schedule starts over.

use std::time::Duration;

use libp2p::identity::Keypair;
use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, INITIAL_DELAY, Output, PeerKind};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

/// The client's bootstrap connection changes since the last call. The bootstrap node (which
/// speaks the block exchange too) is never reported as a mesh peer, on connect or on loss.
fn bootstrap_changes(net: &mut MemNet, id: NodeId) -> Vec<bool> {
    net.node(id)
        .take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::PeerChanged {
                kind: PeerKind::Mesh,
                connected,
                ..
            } => panic!("the bootstrap node reported as a mesh peer (connected: {connected})"),
            Output::PeerChanged {
                kind: PeerKind::Bootstrap,
                connected,
                ..
            } => Some(connected),
            _ => None,
        })
        .collect()
}

/// Time until the client's next redial.
fn next_redial(net: &MemNet, at: mesh_core::time::Instant) -> Duration {
    net.next_timeout().expect("a redial is scheduled") - at
}

#[test]
fn redials_back_off_then_reconnect_and_reannounce() {
    let mut net = MemNet::new();
    let boot_key = Keypair::generate_ed25519();
    let listen = MemNet::fresh_addr();
    let spawn_boot = |net: &mut MemNet| {
        net.spawn_at(
            boot_key.clone(),
            listen.clone(),
            KadMode::Server,
            PlannerConfig::new(),
            EngineConfig::default(),
        )
    };
    let boot = spawn_boot(&mut net);
    let boot_addr = net.node(boot).addr.clone();
    let joined = EngineConfig::default()
        .with_bootstrap(vec![boot_addr])
        .with_seed(42);
    let client = net.spawn(KadMode::Client, PlannerConfig::new(), joined.clone());
    net.join(client);
    assert_eq!(net.node(client).engine.status().bootstrap_peers, 1);
    let content = data(30_000, 5);
    let cid = net.seed(client, &content);
    assert_eq!(bootstrap_changes(&mut net, client), vec![true]);

    net.stop(boot);
    assert_eq!(bootstrap_changes(&mut net, client), vec![false]);
    assert_eq!(net.node(client).engine.status().bootstrap_peers, 0);
    // Each failed redial doubles the delay, jittered within [half, full).
    let mut base = INITIAL_DELAY;
    for _ in 0..4 {
        let at = net.now;
        let delay = next_redial(&net, at);
        assert!(
            delay >= base / 2 && delay < base,
            "{delay:?} outside [{:?}, {base:?})",
            base / 2
        );
        net.advance(delay);
        base *= 2;
    }
    assert!(bootstrap_changes(&mut net, client).is_empty(), "still down");

    let boot = spawn_boot(&mut net);
    let delay = next_redial(&net, net.now);
    net.advance(delay);
    assert_eq!(bootstrap_changes(&mut net, client), vec![true]);

    // The new bootstrap node knows the client's record again: a newcomer finds it there.
    let fetcher = net.spawn(KadMode::Client, PlannerConfig::new(), joined);
    net.join(fetcher);
    let fetch = net.fetch(fetcher, cid, None);
    let report = net
        .completed(fetcher, fetch)
        .expect("found the re-announced provider");
    assert_eq!(net.delivered(fetcher, fetch), content);
    assert_eq!(report.sources.label(), "peer");

    // A new loss starts the schedule over.
    net.stop(boot);
    let delay = next_redial(&net, net.now);
    assert!(delay < INITIAL_DELAY, "{delay:?}");
}
