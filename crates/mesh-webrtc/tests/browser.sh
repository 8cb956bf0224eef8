#!/usr/bin/env bash
# Browser tests of mesh-webrtc: two Rust swarms in one headless Chromium page connect over
# browser-to-browser /webrtc, signaling through a real relay (the bootstrap node); then a Rust
# swarm and a js-libp2p node (tests/js-interop, bundled with esbuild) connect both ways.
#
# Everything runs in a private network namespace whose only interface is loopback
# (`unshare -n`, needs root): Chromium then gathers 127.0.0.1 host candidates (with
# --allow-loopback-in-peer-connection and --use-fake-ui-for-media-stream, which grants the
# camera/microphone permission Chromium requires for them: see webdriver.json) and
# nothing can leave the machine. The relay listens on a fixed port inside the namespace and
# keeps its key in $CARGO_TARGET_DIR/mesh-webrtc-relay, so its address — handed to the test at
# compile time as MESH_WEBRTC_TEST_RELAY — is the same every run and a warm run recompiles
# nothing.
#
# The tests run in headless Chromium, then in headless Firefox (firefox-esr through
# geckodriver; webdriver.json's moz:firefoxOptions prefs let it gather loopback candidates):
# the same wasm, built once, in each browser. MESH_BROWSERS="chrome" (or "firefox") runs one.
#
# Needs: wasm32-unknown-unknown target, wasm-bindgen-test-runner (= the locked wasm-bindgen
# version), chromium + chromedriver and firefox-esr + geckodriver on PATH (scripts/setup.sh).
# Usage: crates/mesh-webrtc/tests/browser.sh [-- test args, e.g. --nocapture to see the log]
set -euo pipefail

crate_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(cd "$crate_dir/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mesh-target}
cd "$root"

if [[ "${1:-}" != --in-netns ]]; then
    for tool in wasm-bindgen-test-runner chromedriver geckodriver unshare ip; do
        command -v "$tool" >/dev/null || { echo "browser.sh: $tool not found on PATH" >&2; exit 2; }
    done
    # Downloads (if any) happen here; inside the namespace there is no network.
    cargo fetch --locked >/dev/null
    # The js-libp2p peer of the interop test, bundled once and again only when its sources change.
    js_dir="$crate_dir/tests/js-interop"
    if command -v npm >/dev/null; then
        if [[ ! -d "$js_dir/node_modules" || "$js_dir/package-lock.json" -nt "$js_dir/node_modules" ]]; then
            (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
        fi
        if [[ ! -f "$js_dir/dist/js-peer.js" || "$js_dir/peer.js" -nt "$js_dir/dist/js-peer.js" \
              || "$js_dir/package-lock.json" -nt "$js_dir/dist/js-peer.js" ]]; then
            (cd "$js_dir" && npm run --silent build)
        fi
    else
        echo "browser.sh: npm not found: skipping the js-libp2p interop test" >&2
    fi
    exec unshare -n "$0" --in-netns "$@"
fi
shift

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
loopback_only_network
private_tmpdir
trap 'rm -rf "$TMPDIR"' EXIT
relay_dir="$CARGO_TARGET_DIR/mesh-webrtc-relay"
mkdir -p "$relay_dir"
chmod 700 "$relay_dir"

cargo build --offline --locked -p bootstrap-node
log="$relay_dir/relay.log"
exec 3< <(exec "$CARGO_TARGET_DIR/debug/bootstrap-node" --data-dir "$relay_dir/data" \
    --listen /ip4/127.0.0.1/tcp/4992/ws --http-listen 127.0.0.1:8992 \
    --announce-listen-addrs --namespace mesh-webrtc-test 2>"$log")
relay_pid=$!
trap 'kill "$relay_pid" 2>/dev/null || true; rm -rf "$TMPDIR"' EXIT

relay_addr=
while IFS= read -r -t 120 -u 3 line; do
    if [[ "$line" == */ws/p2p/* ]]; then relay_addr=$line; break; fi
done
if [[ -z "$relay_addr" ]]; then
    echo "browser.sh: the relay printed no /ws address; its log:" >&2
    cat "$log" >&2
    exit 1
fi
echo "browser.sh: relay at $relay_addr"

cd "$crate_dir"
tests=(--test browser)
# MESH_WEBRTC_RELEASE=1 measures an optimised build (the debug build is several times slower).
if [[ -n "${MESH_WEBRTC_RELEASE:-}" ]]; then tests+=(--release); fi
if [[ -f tests/js-interop/dist/js-peer.js ]]; then
    tests+=(--features js-interop-test)
fi
# MESH_WEBRTC_TEST_LOG=mesh_webrtc=debug (a tracing filter) logs the code under test to the
# console, shown with --nocapture or on failure.
export MESH_WEBRTC_TEST_RELAY=$relay_addr
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}
for browser in ${MESH_BROWSERS:-chrome firefox}; do
    case $browser in
        chrome) driver=(CHROMEDRIVER="$(command -v chromedriver)") ;;
        firefox) driver=(GECKODRIVER="$(command -v geckodriver)") ;;
        *) echo "browser.sh: unknown browser $browser in MESH_BROWSERS" >&2; exit 2 ;;
    esac
    echo "browser.sh: tests in $browser"
    env -u CHROMEDRIVER -u GECKODRIVER "${driver[@]}" \
        cargo test --offline --locked -p mesh-webrtc --target wasm32-unknown-unknown "${tests[@]}" -- "$@"
done
