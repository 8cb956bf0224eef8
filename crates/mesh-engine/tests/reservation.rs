//! A relay reservation the bootstrap node refuses is asked for again on a backoff schedule
//! (250 ms doubling, jitter x0.5-1) over the connection that stays up: not at once, without
//! redialling the bootstrap node and without re-announcing what the node provides.

use std::collections::HashSet;
use std::time::Duration;

use mesh_core::fetch::Config as PlannerConfig;
use mesh_engine::{EngineConfig, INITIAL_DELAY, Output};
use mesh_protocol::KadMode;
use mesh_testkit::{MemNet, NodeId, data};

/// What the client said since the last call that matters here: reservations refused (relay
/// listeners that failed), announcements, and bootstrap connection changes.
#[derive(Debug, Default)]
struct Seen {
    refused: usize,
    announced: usize,
    peer_changes: usize,
}

fn seen(net: &mut MemNet, id: NodeId) -> Seen {
    let mut s = Seen::default();
    let mut listeners = HashSet::new();
    for o in net.node(id).take_outputs() {
        match o {
            Output::ListenerFailed {
                address, listener, ..
            } => {
                // Only the relay listener: the in-memory transport cannot listen on `/webrtc`,
                // which fails at `listen_on` and never becomes a listener.
                assert!(
                    address
                        .as_ref()
                        .is_none_or(|a| a.to_string().contains("p2p-circuit")),
                    "{address:?}"
                );
                // A refusal is a listener error; the engine then closes the listener.
                listeners.insert(listener);
            }
            Output::Announced { .. } => s.announced += 1,
            Output::PeerChanged { .. } => s.peer_changes += 1,
            _ => {}
        }
    }
    s.refused = listeners.len();
    s
}

#[test]
fn a_refused_reservation_is_retried_with_backoff_without_reannouncing() {
    let mut net = MemNet::new();
    // The bootstrap node runs no relay server: every reservation is refused.
    let (_, boot_addr) = net.spawn_bootstrap();
    let client = net.spawn(
        KadMode::Client,
        PlannerConfig::new(),
        EngineConfig::default()
            .with_bootstrap(vec![boot_addr])
            .with_reserve_relay(true)
            .with_seed(7),
    );
    net.join(client);
    net.seed(client, &data(10_000, 3));
    let first = seen(&mut net, client);
    assert_eq!(
        first.refused, 1,
        "the first reservation was asked for and refused"
    );
    assert_eq!(first.announced, 1);

    let mut base = INITIAL_DELAY;
    let mut total = Duration::ZERO;
    for attempt in 0..6 {
        let delay = net
            .next_timeout()
            .expect("a reservation retry is scheduled")
            - net.now;
        assert!(
            delay >= base / 2 && delay < base,
            "retry {attempt}: {delay:?} outside [{:?}, {base:?})",
            base / 2
        );
        // Nothing happens before the retry is due.
        net.advance(delay - Duration::from_millis(1));
        assert_eq!(
            seen(&mut net, client).refused,
            0,
            "retry {attempt} too early"
        );
        net.advance(Duration::from_millis(1));
        let s = seen(&mut net, client);
        assert_eq!(s.refused, 1, "retry {attempt}: asked once, refused once");
        assert_eq!(s.announced, 0, "retry {attempt}: nothing re-announced");
        assert_eq!(
            s.peer_changes, 0,
            "retry {attempt}: the bootstrap connection stayed up"
        );
        total += delay;
        base *= 2;
    }
    assert_eq!(net.node(client).engine.status().bootstrap_peers, 1);
    // Six refusals took at least 250 ms x (1 + 2 + ... + 32) / 2, not a burst.
    assert!(total >= INITIAL_DELAY * 63 / 2, "{total:?}");
}
