#!/usr/bin/env bash
# The tab-to-tab /webrtc benchmark of issue 6 (docs/BENCHMARKS-WEBRTC.md): one headless
# Chromium, one browser context per tab, a real origin (mesh-origin) and bootstrap node, all
# inside a private network namespace whose only interface is loopback (needs root), so every
# ICE candidate is 127.0.0.1 and fixed ports cannot clash with anything outside.
#
#   scripts/bench-webrtc.sh            build what is missing, run, print the table
#
# Environment: MESH_BENCH_RUNS (default 3), MESH_BENCH_SMALL (100 KiB requests of (2) to the peer
# and to the origin, default 40; with MESH_BENCH_DIALS=0, up to ~90 stay within tab A's have-summary
# of 100 roots), MESH_BENCH_DIALS (default 55: the relay's per-IP rate limit allows ~60 new tabs per
# bootstrap process on loopback, see bench-webrtc.mjs), MESH_BENCH_DIAL_SECONDS (default 300),
# MESH_BENCH_DIAL_PERSIST=1 (the dialling nodes restore tab B's persistent cache first, as a
# returning visitor's does), MESH_BENCH_BOOTSTRAP_ARGS (extra bootstrap-node flags), MESH_BENCH_BIN
# (directory of bootstrap-node and mesh-origin; default $CARGO_TARGET_DIR/release, built if
# missing), MESH_BENCH_JSON (also write the raw numbers there), MESH_BENCH_PROFILE (a directory:
# also record and summarise CPU profiles of both tabs' main threads; with MESH_NPM_NAMES=1 the
# package keeps its wasm function names). Idempotent: the npm package is rebuilt only when it
# changed (scripts/build-npm.sh), fixtures are regenerated deterministically in a temporary
# directory.
# Not part of scripts/test.sh: it measures, it does not pass or fail on the numbers.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=${MESH_BENCH_BIN:-$CARGO_TARGET_DIR/release}

if [[ "${1:-}" != --in-netns ]]; then
  for tool in node npm unshare ip python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
  done
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || die "chromium is missing (scripts/setup.sh installs it)"
  # Everything that may touch the network (cargo, npm) happens before the namespace.
  scripts/build-npm.sh
  if [ ! -x "$BIN/bootstrap-node" ] || [ ! -x "$BIN/mesh-origin" ]; then
    [ -z "${MESH_BENCH_BIN:-}" ] || die "MESH_BENCH_BIN=$BIN has no bootstrap-node / mesh-origin"
    say "cargo build --release -p bootstrap-node -p mesh-origin"
    cargo build --locked --release -p bootstrap-node -p mesh-origin
  fi
  say "entering a loopback-only network namespace"
  MESH_BENCH_BIN=$BIN exec unshare -n "$0" --in-netns "$@"
fi
shift
ip link set lo up

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-bench-webrtc.XXXXXX")
PIDS=()
cleanup() {
  stop_pids
  rm -rf "$WORK"
}
trap cleanup EXIT

# Fixtures: deterministic bytes. big-N: 16 MiB per run of (1); asset100k-*: 100 KiB assets,
# one block each, every one fetched once (no cache can help); dial-*: 1 KiB, one per dial; warm*: untimed warm-up.
SITE=$WORK/site
mkdir -p "$SITE"
python3 - "$SITE" "${MESH_BENCH_RUNS:-3}" "${MESH_BENCH_DIALS:-55}" "${MESH_BENCH_PROFILE:-}" "${MESH_BENCH_SMALL:-40}" <<'PY'
import os, random, sys
site, runs, dials, profile, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def write(name, size, seed):
    with open(os.path.join(site, name), 'wb') as f:
        f.write(random.Random(seed).randbytes(size))
for i in range(runs):
    write(f'big-{i:02}.bin', 16 << 20, 1000 + i)
for i in range(small):
    write(f'asset100k-peer-{i:03}.bin', 100 << 10, 2000 + i)
    write(f'asset100k-origin-{i:03}.bin', 100 << 10, 3000 + i)
for i in range(dials):
    write(f'dial-{i:04}.bin', 1024, 10000 + i)
write('warm.bin', 1024, 7)
if profile:
    for i in range(20):
        write(f'prof100k-peer-{i:03}.bin', 100 << 10, 4000 + i)
        write(f'prof100k-origin-{i:03}.bin', 100 << 10, 5000 + i)
    write('prof-big.bin', 16 << 20, 6000)
write('warm-big.bin', 4 << 20, 8)
with open(os.path.join(site, 'bench.html'), 'w') as f:
    f.write('<!doctype html><meta charset="utf-8"><title>mesh bench</title>\n')
PY

ORIGIN_PORT=48801 WS_PORT=48802 HTTP_PORT=48803
say "origin on :$ORIGIN_PORT (package at /pkg)"
"$BIN/mesh-origin" --root "$SITE" --mount "/pkg=$MESH_ROOT/crates/mesh-wasm/pkg" \
  --cache-control no-store --listen "127.0.0.1:$ORIGIN_PORT" >"$WORK/origin.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/origin.log" "listening" "mesh-origin"

say "bootstrap node on :$WS_PORT (ws, relay), :$HTTP_PORT (http)"
"$BIN/bootstrap-node" --data-dir "$WORK/bootstrap" --announce-listen-addrs \
  --listen "/ip4/127.0.0.1/tcp/$WS_PORT/ws" --http-listen "127.0.0.1:$HTTP_PORT" \
  --relay-max-reservations 4096 --relay-max-circuits 4096 \
  --max-provider-records-per-peer 100000 ${MESH_BENCH_BOOTSTRAP_ARGS:-} >"$WORK/bootstrap.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/bootstrap.log" "/tcp/$WS_PORT/ws/p2p/" "bootstrap-node"

say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "chromium: $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null || echo unknown)"
MESH_BENCH_ORIGIN="http://127.0.0.1:$ORIGIN_PORT" \
MESH_BENCH_BOOTSTRAP="http://127.0.0.1:$HTTP_PORT/addrs" \
MESH_BENCH_FIXTURES=$SITE \
  node tests/browser/bench-webrtc.mjs
