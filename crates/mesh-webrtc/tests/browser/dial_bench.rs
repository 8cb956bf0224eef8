//! The dial benchmark of issue 6 at the transport level (ignored by default; not a test that
//! can fail on the numbers): a swarm listens on `/webrtc` behind the relay, then N fresh swarms
//! (new identity, new `RTCPeerConnection`s), one after the other, connect to the relay and dial
//! it. Each dial is timed from `Swarm::dial` to the `/webrtc` `ConnectionEstablished` (relay
//! circuit + signaling + ICE/DTLS/SCTP), as `rust_to_rust` measures one; a dial that errors or
//! takes longer than 10 s counts as failed or hung. Both swarms run in one page (one renderer).
//!
//! Run: `crates/mesh-webrtc/tests/browser.sh --include-ignored dial_bench` (N from
//! `MESH_WEBRTC_BENCH_DIALS` at compile time, default 55: see [`PACE`] for why not 500; `MESH_WEBRTC_RELEASE=1` for an
//! optimised build). Prints `MEASURE dial bench: …` lines.

use std::{pin::pin, time::Duration};

use crate::common::*;
use futures::future::{self, Either};
use libp2p::{multiaddr::Protocol, swarm::SwarmEvent};
use wasm_bindgen_test::wasm_bindgen_test;
use web_time::Instant;

/// A dial slower than this counts as hung.
const HANG: Duration = Duration::from_secs(10);

/// Pause between dials (A settles the closed connections). Not a way around the relay's rate
/// limit: libp2p's relay (the bootstrap node keeps its default limiters) lets one source IP
/// open a burst of 60 circuits, then refills one token per minute (`rate_limiter.rs` adds
/// `elapsed / interval` tokens), and on loopback every swarm is 127.0.0.1 — so with an
/// unmodified bootstrap node only about 60 dials per relay process can be measured; keep
/// `MESH_WEBRTC_BENCH_DIALS` under that, or relax the relay's limits.
const PACE: Duration = Duration::from_millis(200);

#[wasm_bindgen_test]
#[ignore = "benchmark: run with --include-ignored dial_bench"]
async fn dial_bench() {
    within(3600, run()).await;
}

async fn run() {
    setup();
    let dials: usize = option_env!("MESH_WEBRTC_BENCH_DIALS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(55);
    let mut a = build_swarm();
    let a_peer = *a.local_peer_id();
    let a_addr = listen_via_relay(&mut [&mut a], 0)
        .await
        .with(Protocol::P2p(a_peer));

    let mut times = Vec::with_capacity(dials);
    let (mut failed, mut hung) = (0usize, 0usize);
    let started = Instant::now();
    for i in 0..dials {
        let pace = futures_timer::Delay::new(PACE);
        let mut b = build_swarm();
        let swarms = &mut [&mut a, &mut b];
        connect_to_relay(swarms, 1).await;
        let t = Instant::now();
        swarms[1].dial(a_addr.clone()).expect("dial starts");
        let established = wait_for(swarms, 1, |e| match e {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } if *peer_id == a_peer && is_webrtc(endpoint) => Some(Ok(())),
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(p),
                error,
                ..
            } if *p == a_peer => Some(Err(error.to_string())),
            _ => None,
        });
        match future::select(pin!(established), futures_timer::Delay::new(HANG)).await {
            Either::Left((Ok(()), _)) => times.push(t.elapsed().as_secs_f64() * 1000.0),
            Either::Left((Err(e), _)) => {
                failed += 1;
                log(&format!("MEASURE dial bench: dial {i} failed: {e}"));
            }
            Either::Right(_) => {
                hung += 1;
                log(&format!("MEASURE dial bench: dial {i} hung (> {HANG:?})"));
            }
        }
        // Dropping the swarm closes its connections; A sees them close while the next dials run.
        drop(b);
        // A keeps running (closing the old connections) while the pace runs out.
        drive(&mut [&mut a], pace).await;
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| {
        times
            .get(((times.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    log(&format!(
        "MEASURE dial bench: {dials} dials in {:.0} s: {} ok, {failed} failed, {hung} hung; \
         dial to usable /webrtc connection p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, min {:.1}, max {:.1}",
        started.elapsed().as_secs_f64(),
        times.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.0),
        q(1.0),
    ));
    assert_eq!(failed + hung + times.len(), dials, "every dial was counted");
}
