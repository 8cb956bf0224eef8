#!/usr/bin/env bash
# The swarm demo (README command 1): browser tabs loading a site from each other.
#
#   scripts/demo.sh [--tabs N] [--serve] [--fallback-ms MS] [--waves 1,1,2,2,2] [--http1]
#                   [--no-ready] [--worker|--no-worker] [--log-level LEVEL] [--latency-ms MS] [--port-base P]
#                   [--verbose] [--out DIR]   (the flags of scripts/demo-swarm.mjs)
#
# 1. scripts/setup.sh (installs only what is missing);
# 2. builds the native binaries in release mode (bootstrap-node, mesh-origin, mesh) and the npm
#    package mesh-loader (scripts/build-npm.sh); generates the demo's large file and the site's
#    manifest www/mesh-manifest.json (both gitignored; the sample page www/index.html reads it);
# 3. inside a private network namespace whose only interface is loopback (so every WebRTC
#    candidate is 127.0.0.1 and nothing leaves the machine), starts the bootstrap node and the
#    origin (mesh-origin, 80 ms of added latency: a distant CDN edge; HTTPS with HTTP/2 like a
#    CDN, its self-signed certificate in demo-out/tls/, trusted by Chromium through its SPKI
#    hash) serving www/ with the package mounted at /pkg, opens N headless tabs (default 8) in
#    one Chromium, each in its own browser context (its own mesh node), loading www/demo/ in
#    waves of 1, 1, 2, 2, ...;
# 4. prints the offload report (per tab: bytes from peers and from the origin, bytes served,
#    TTFB p50 by source, fallbacks; overall offload against the cap 1 - 1/N, gross and net of
#    the loader's own download; the origin's protocol and TTFB) and writes it to
#    demo-out/report.json with screenshots demo-out/dashboard.png and demo-out/page.png, then
#    issue 14's goals from the same run.
#
# Each page waits (3 s at most) for `mesh.ready()`, its first warm connection, before it loads
# the gallery, as a page does for assets that can wait for peers; --no-ready loads at once.
# --worker runs each tab's node in a dedicated worker (`worker: true`), --no-worker on its main
# thread (`worker: false`); by default (`'auto'`) a worker from 4 logical processors on.
#
# --http1 serves the origin over plain HTTP/1.1 instead (the browser queues all but six requests
# per origin then: the comparison the HTTPS origin was made for).
#
# --serve instead keeps the servers up on 127.0.0.1 (no namespace) and prints the URL, to open
# the demo in your own browser's tabs; Ctrl-C stops them. MESH_DEMO_PORT_BASE moves the ports
# (default 8080: origin 8080, bootstrap 8081-8083).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = --in-netns ]; then
  shift
  ip link set lo up
  exec node scripts/demo-swarm.mjs "$@"
fi
exec </dev/null

serve=
for arg in "$@"; do
  case $arg in
    --serve) serve=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
  esac
done

bash scripts/setup.sh

say "building the native binaries (release): bootstrap-node, mesh-origin, mesh"
run cargo build --release --locked -p bootstrap-node -p mesh-origin -p mesh-cli
say "building the npm package mesh-loader (served to the tabs at /pkg)"
bash scripts/build-npm.sh
npm_ci_if_stale tests/browser
say "the demo's large file (generated, gitignored)"
run python3 scripts/make-gallery.py --large www/demo/big/panorama.bmp
# The sample page www/index.html lists the site's CIDs from this file (gitignored).
run "$CARGO_TARGET_DIR/release/mesh" manifest www -o www/mesh-manifest.json --no-progress

if [ -n "$serve" ]; then
  exec node scripts/demo-swarm.mjs "$@"
fi
for tool in unshare ip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (util-linux, iproute2)"
done
say "running the swarm in a loopback-only network namespace"
exec unshare -n "$0" --in-netns "$@"
