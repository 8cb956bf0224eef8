#!/usr/bin/env bash
# The end-to-end suite (tests/e2e, issue 7): the scenarios of the swarm with real processes —
# bootstrap node, origin (HTTPS with HTTP/2), native seeders — the real npm package and the
# demo page, in headless Chromium (one browser, a context per tab) driven by node --test and
# playwright-core, inside a private network namespace whose only interface is loopback (every
# WebRTC candidate is 127.0.0.1; nothing leaves the machine). cross-browser.test.mjs adds a
# Firefox tab (firefox-esr through geckodriver, over WebDriver) exchanging blocks with Chromium.
#
#   scripts/test-e2e.sh [node --test options, e.g. --test-name-pattern="origin down"]
#
# Idempotent: builds what is stale (debug binaries, the npm package, tests/browser's npm
# packages, the large demo file), a warm run spends its time in the tests (~2 min).
# MESH_E2E_PORT_BASE moves the ports (default 47900-47910); MESH_E2E_VERBOSE=1 prints the
# pages' consoles; logs and the dashboard screenshot go to $MESH_E2E_LOGS
# (default ${TMPDIR:-/tmp}/mesh-e2e-logs), the origin's self-signed certificate to its tls/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = --in-netns ]; then
  shift
  loopback_only_network
  exec node --test --test-concurrency=1 --test-reporter=spec "$@" tests/e2e/
fi
exec </dev/null

for tool in node npm unshare ip python3 geckodriver; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (run scripts/setup.sh)"
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || die "${CHROMIUM:-/usr/bin/chromium} not found (run scripts/setup.sh)"
[ -x "${FIREFOX:-/usr/bin/firefox-esr}" ] || die "${FIREFOX:-/usr/bin/firefox-esr} not found (run scripts/setup.sh)"

started=$(date +%s)
run cargo build --locked -p bootstrap-node -p mesh-cli -p mesh-origin
bash scripts/build-npm.sh >/dev/null
npm_ci_if_stale tests/browser
run python3 scripts/make-gallery.py --check
run python3 scripts/make-gallery.py --large www/demo/big/panorama.bmp

export MESH_PROFILE=debug
export MESH_E2E_LOGS=${MESH_E2E_LOGS:-${TMPDIR:-/tmp}/mesh-e2e-logs}
say "end-to-end suite (logs: $MESH_E2E_LOGS)"
set +e
unshare -n "$0" --in-netns "$@"
status=$?
set -e
if [ "$status" -ne 0 ] && [ -n "${CI:-}" ]; then
  find "$MESH_E2E_LOGS" -name '*.log' -print0 | sort -z | while IFS= read -r -d '' log; do
    printf '\n---- %s (last 30 lines)\n' "$log"
    tail -n 30 "$log"
  done
fi
say "end-to-end suite: $([ "$status" -eq 0 ] && echo passed || echo FAILED) in $(human_seconds $(($(date +%s) - started)))"
exit "$status"
