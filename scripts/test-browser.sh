#!/usr/bin/env bash
# The browser node's tests in headless Chromium (wasm-pack test) against real servers
# (tests/browser/lib/with-servers.mjs), inside a private network namespace whose only interface is
# loopback: there every WebRTC ICE candidate is 127.0.0.1 and nothing leaves the machine
# (shared/NOTES.md). Extra arguments go to the test runner (e.g. a test name filter).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" != --in-netns ]; then
  for tool in node wasm-pack chromedriver unshare ip; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (run scripts/setup.sh)"
  done
  run cargo build --locked -p bootstrap-node -p mesh-cli -p mesh-origin
  # Inside the namespace there is no network: fetch whatever the wasm build needs first.
  run cargo fetch --locked >/dev/null
  exec unshare -n "$0" --in-netns "$@"
fi
shift
ip link set lo up
CARGO_NET_OFFLINE=true exec node tests/browser/lib/with-servers.mjs wasm-pack test --headless --chrome crates/mesh-wasm -- "$@"
