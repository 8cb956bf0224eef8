//! Interop with js-libp2p (`@libp2p/webrtc`) in the same Chromium page, both directions, through
//! the real relay. The js peer is `tests/js-interop/peer.js`, bundled to `dist/js-peer.js` by
//! `tests/browser.sh` (this test needs the `js-interop-test` feature, which the script turns on
//! once the bundle exists).

use crate::common::*;
use libp2p::{Multiaddr, PeerId, multiaddr::Protocol, swarm::SwarmEvent};
use wasm_bindgen::{JsValue, prelude::wasm_bindgen};
use wasm_bindgen_test::wasm_bindgen_test;
use web_time::Instant;

#[wasm_bindgen(module = "/tests/js-interop/dist/js-peer.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = jsStart)]
    async fn js_start(relay: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = jsPeerId)]
    fn js_peer_id() -> String;
    #[wasm_bindgen(catch, js_name = jsDial)]
    async fn js_dial(addr: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = jsCloseRelayed)]
    async fn js_close_relayed(peer: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = jsPing)]
    async fn js_ping(peer: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = jsEcho)]
    async fn js_echo(peer: String, size: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = jsStop)]
    async fn js_stop() -> Result<JsValue, JsValue>;
}

fn js<T>(what: &str, result: Result<JsValue, JsValue>, f: impl FnOnce(JsValue) -> T) -> T {
    match result {
        Ok(v) => f(v),
        Err(e) => panic!("js {what} failed: {e:?}"),
    }
}

#[wasm_bindgen_test]
async fn rust_dials_js() {
    within(90, async {
        setup();
        let js_addr: Multiaddr = js("start", js_start(relay_addr().to_string()).await, |v| {
            v.as_string().expect("address string").parse().expect("multiaddr")
        });
        let js_peer: PeerId = js_peer_id().parse().expect("peer id");
        log(&format!("js peer listens on {js_addr}"));

        let mut a = build_swarm();
        let swarms = &mut [&mut a];
        connect_to_relay(swarms, 0).await;
        let (conn, relayed, dial_ms) = dial_webrtc(swarms, 0, js_addr, js_peer).await;
        log(&format!(
            "MEASURE rust->js dial to usable direct connection (relay already connected): {dial_ms} ms"
        ));
        close_connections(swarms, 0, &relayed).await;
        let rtt = ping_on(swarms, 0, conn).await;
        log(&format!("MEASURE rust->js ping rtt: {rtt:?}"));

        let (response, close_ms, _) = echo(swarms, 0, js_peer, b"hello js").await;
        assert_eq!(response, b"hello js");
        log(&format!("MEASURE rust->js close (FIN to FIN_ACK): {close_ms} ms"));
        assert!(close_ms < 2_000, "js did not FIN_ACK our FIN ({close_ms} ms)");

        let payload = test_payload(1024 * 1024);
        let (echoed, _, echo_ms) = echo(swarms, 0, js_peer, &payload).await;
        assert!(echoed == payload, "echo differs ({} bytes back)", echoed.len());
        log(&format!(
            "MEASURE rust->js 1 MiB echo: {echo_ms} ms ({:.1} MiB/s: 1 MiB there, then back)",
            2000.0 / echo_ms.max(1) as f64
        ));

        // The js node stops (closing its peer connection): we notice at once. (The close may
        // already come while js_stop runs, so look at the connection, not just for the event.)
        let t = Instant::now();
        js("stop", drive(swarms, js_stop()).await, |_| ());
        while swarms[0].is_connected(&js_peer) {
            wait_for(swarms, 0, |e| match e {
                SwarmEvent::ConnectionClosed { peer_id, .. } if *peer_id == js_peer => Some(()),
                _ => None,
            })
            .await;
        }
        let closed_ms = t.elapsed().as_millis();
        log(&format!("MEASURE js stop noticed after {closed_ms} ms"));
        assert!(closed_ms < 3_000, "noticed js's close only after {closed_ms} ms");
    })
    .await;
}

#[wasm_bindgen_test]
async fn js_dials_rust() {
    within(90, async {
        setup();
        let mut b = build_swarm();
        let b_peer = *b.local_peer_id();
        serve_echo(&mut b);
        let swarms = &mut [&mut b];
        let b_addr = listen_via_relay(swarms, 0).await.with(Protocol::P2p(b_peer));
        js("start", js_start(relay_addr().to_string()).await, |_| ());

        let dial_ms = drive(swarms, js_dial(b_addr.to_string())).await;
        let dial_ms = js("dial", dial_ms, |v| v.as_f64().expect("ms"));
        log(&format!("MEASURE js->rust dial to usable direct connection: {dial_ms:.0} ms"));
        // js-libp2p keeps the relayed connection; close it so nothing can fall back to it.
        js("close relayed", drive(swarms, js_close_relayed(b_peer.to_string())).await, |_| ());

        let rtt = js("ping", drive(swarms, js_ping(b_peer.to_string())).await, |v| v.as_f64());
        log(&format!("MEASURE js->rust ping rtt: {rtt:?} ms"));

        for size in [16, 1024 * 1024] {
            let result = drive(swarms, js_echo(b_peer.to_string(), size)).await;
            let times = js("echo", result, |v| {
                js_sys::Array::from(&v).iter().filter_map(|x| x.as_f64()).collect::<Vec<_>>()
            });
            let [close_ms, total_ms] = times[..] else { panic!("echo returned {times:?}") };
            log(&format!(
                "MEASURE js->rust echo of {size} B: close (FIN to FIN_ACK) {close_ms:.0} ms, total {total_ms:.0} ms"
            ));
            // js's close() first drains its send buffer, so for 1 MiB it includes the transfer;
            // a missing FIN_ACK would show as js's 10 s timeout.
            let limit = if size < 1024 { 2_000.0 } else { 8_000.0 };
            assert!(close_ms < limit, "we did not FIN_ACK js's FIN ({close_ms} ms)");
        }
        js("stop", js_stop().await, |_| ());
    })
    .await;
}
