#!/usr/bin/env bash
# The browser node's tests in headless Chromium, then in headless Firefox (wasm-pack test; Firefox
# is firefox-esr through geckodriver, with crates/mesh-wasm/webdriver.json's prefs), each against
# a fresh set of real servers (tests/browser/lib/with-servers.mjs), inside a private network
# namespace whose only interface is loopback: there every WebRTC ICE candidate is 127.0.0.1 and
# nothing leaves the machine (shared/NOTES.md). MESH_BROWSERS="chrome" (or "firefox") runs one.
# Extra arguments go to the test runner (e.g. a test name filter).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" != --in-netns ]; then
  for tool in node wasm-pack chromedriver geckodriver unshare ip; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (run scripts/setup.sh)"
  done
  run cargo build --locked -p bootstrap-node -p mesh-cli -p mesh-origin
  # Inside the namespace there is no network: fetch whatever the wasm build needs first.
  run cargo fetch --locked >/dev/null
  exec unshare -n "$0" --in-netns "$@"
fi
shift
loopback_only_network
private_tmpdir
trap 'rm -rf "$TMPDIR"' EXIT
export CARGO_NET_OFFLINE=true
# The runner's default (20 s for the whole suite) is about what a warm run takes on 2 cores.
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}
for browser in ${MESH_BROWSERS:-chrome firefox}; do
  say "browser node tests in $browser"
  node tests/browser/lib/with-servers.mjs wasm-pack test --headless "--$browser" crates/mesh-wasm -- "$@"
done
