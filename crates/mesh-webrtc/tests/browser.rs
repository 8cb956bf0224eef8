//! The browser tests, in one test binary (one page load, one bindgen run): run them with
//! `tests/browser.sh`, which starts the relay in a loopback-only network namespace and passes
//! its WebSocket address at compile time in `MESH_WEBRTC_TEST_RELAY`.
#![cfg(target_arch = "wasm32")]

mod common;

#[path = "browser/rust_to_rust.rs"]
mod rust_to_rust;

#[path = "browser/negative.rs"]
mod negative;

#[path = "browser/dial_bench.rs"]
mod dial_bench;

#[path = "browser/limits.rs"]
mod limits;

// Needs the js-libp2p bundle, which browser.sh builds before turning the feature on.
#[cfg(feature = "js-interop-test")]
#[path = "browser/interop.rs"]
mod interop;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
