#!/usr/bin/env bash
# The npm package end to end, as a user gets it:
#
#   1. scripts/build-npm.sh: the package in crates/mesh-wasm/pkg/ and its `npm pack` tarball;
#   2. the examples (examples/plain-html, examples/vite-app) install that tarball with `npm ci`
#      (from npm's cache when it can: --prefer-offline) and build into their dist/; tsc checks
#      the package's types from the Vite app;
#   3. tests/browser/package.test.mjs drives them in headless Chromium (playwright-core) against
#      the real servers of tests/browser/lib/with-servers.mjs, inside a private network namespace whose
#      only interface is loopback (as scripts/test-browser.sh): tabs may try WebRTC with each
#      other, and nothing may leave the machine; beside them tests/browser/rtc-bridge.test.mjs,
#      the WebRTC bridge of a node in a worker with scripted WebRTC objects (Node alone).
#
# Idempotent; a warm run skips the package build and the installs and takes ~1 min (mostly the
# test). Extra arguments go to `node --test` (e.g. --test-name-pattern=degraded).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

if [ "${1:-}" = --in-netns ]; then
  shift
  ip link set lo up
  exec node tests/browser/lib/with-servers.mjs node --test --test-reporter=spec "$@" \
    tests/browser/package.test.mjs tests/browser/rtc-bridge.test.mjs
fi
for tool in unshare ip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done

PKG=crates/mesh-wasm/pkg
EXAMPLES=(examples/plain-html examples/vite-app)

bash scripts/build-npm.sh
npm_ci_if_stale tests/browser

# Whether DIR's installed mesh-loader is exactly the package just built.
installed_is_current() {
  diff -rq --exclude=.build-key --exclude='*.tgz' "$PKG" "$1/node_modules/mesh-loader" >/dev/null 2>&1
}

for dir in "${EXAMPLES[@]}"; do
  if installed_is_current "$dir" && [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "$dir/node_modules: up to date"
  else
    run npm ci --prefix "$dir" --prefer-offline --no-audit --no-fund
    # A lockfile `integrity` for the tarball would make npm install its cached older copy.
    installed_is_current "$dir" ||
      die "$dir/node_modules/mesh-loader differs from $PKG after npm ci: remove the \"integrity\" line of node_modules/mesh-loader from $dir/package-lock.json"
  fi
  run npm run --prefix "$dir" --silent build
done
# The package's hand-written types, checked as a user's TypeScript resolves them (exports).
run npm run --prefix examples/vite-app --silent typecheck

say "cargo build -p bootstrap-node -p mesh-cli -p mesh-origin (the test servers)"
cargo build --locked -p bootstrap-node -p mesh-cli -p mesh-origin

# Everything that needs the network is done: the rest runs without it.
exec unshare -n "$0" --in-netns "$@"
