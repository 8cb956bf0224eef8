#!/usr/bin/env bash
# The full check, as CI runs it (.ci/run): setup, formatting, lints, every test, the wasm build,
# and the cross-checks against kubo and the committed sample image. Fails fast, announcing each
# step; needs no TTY and no stdin.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

STARTED=$SECONDS
STEP_COUNT=0
CURRENT_STEP=setup

# Prints the final line: what passed, or which step failed, and how long it took.
summary() {
  local status=$?
  local elapsed
  elapsed=$(human_seconds $((SECONDS - STARTED)))
  if [ "$status" -eq 0 ]; then
    printf '\n==> test.sh: all %d steps passed in %s\n' "$STEP_COUNT" "$elapsed"
  else
    printf '\n==> test.sh: FAILED at step "%s" (exit %d) after %s\n' \
      "$CURRENT_STEP" "$status" "$elapsed" >&2
  fi
}
trap summary EXIT

# step NAME COMMAND...: announces, runs, counts.
step() {
  CURRENT_STEP=$1
  shift
  STEP_COUNT=$((STEP_COUNT + 1))
  printf '\n==> [%d] %s\n' "$STEP_COUNT" "$CURRENT_STEP"
  run "$@"
}

step "setup" bash scripts/setup.sh
step "format" cargo fmt --all --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# --all-targets includes benches, built and run once each in test mode.
step "tests" cargo test --workspace --all-targets --locked
step "doc tests" cargo test --workspace --doc --locked
step "wasm build" cargo build -p mesh-core -p mesh-protocol --target wasm32-unknown-unknown --locked
step "wasm clippy" cargo clippy -p mesh-wasm -p mesh-webrtc --target wasm32-unknown-unknown --all-targets --locked -- -D warnings
# Browser-to-browser /webrtc: two Rust swarms and js-libp2p in headless Chromium, then Firefox,
# through the real bootstrap relay, in a loopback-only namespace.
step "webrtc browser tests" crates/mesh-webrtc/tests/browser.sh
# The browser node in headless Chromium, then Firefox, against real servers, in a loopback-only
# namespace.
step "browser node tests" scripts/test-browser.sh
# The npm package: build, pack, install into the examples as a user would, test its JS API.
step "npm package" bash scripts/test-npm.sh
# The whole system: tabs in Chromium (and one in Firefox), real bootstrap node, origin and
# seeders: the swarm scenarios, cross-browser exchange and the service-worker mode.
step "end-to-end suite" scripts/test-e2e.sh
# The example asserts every delivered byte and exits non-zero if the fetch does not finish.
# Every fuzz target (fuzz/) built and run briefly from its committed corpus; any crash fails.
step "fuzz smoke" bash scripts/fuzz-smoke.sh
step "planner example" cargo run --quiet --locked -p planner-trace

step "Dockerfile lint" hadolint crates/bootstrap-node/Dockerfile

if command -v python3 >/dev/null 2>&1; then
  step "sample image up to date" python3 scripts/make-large-image.py --check
  step "gallery images up to date" python3 scripts/make-gallery.py --check
else
  say "no python3: skipping the sample image check"
fi

if [ -f tests/kubo-vectors/gen.mjs ]; then
  step "kubo cross-check" node tests/kubo-vectors/gen.mjs --check
else
  say "tests/kubo-vectors/gen.mjs not in this checkout: skipping the kubo cross-check"
fi
