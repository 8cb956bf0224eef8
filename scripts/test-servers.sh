#!/usr/bin/env bash
# Runs a command with the real servers the browser tests talk to, then stops them:
#
#   scripts/test-servers.sh <command> [args...]
#
# - mesh-origin serving a generated fixture site (Range, CORS, manifest at
#   /.well-known/mesh/manifest.json)            http://127.0.0.1:$((BASE+1))
# - bootstrap-node: TCP, WebSocket, WebRTC-direct, HTTP /addrs   http://127.0.0.1:$((BASE+3))
# - a native seeder (`mesh seed`, WebSocket) holding peer.bin and peer-small.txt
# - a stalled provider: a seeder of stalled.bin, frozen with SIGSTOP after it announced, so
#   its provider record stays but it never answers (the "dead peer" a fetch must not wait on)
#
# Ports are fixed (BASE = MESH_TEST_PORT_BASE, default 47810) so the wasm tests, which cannot
# read the environment at run time, are built once with them; the command gets
# MESH_TEST_ORIGIN, MESH_TEST_BOOTSTRAP_HTTP and MESH_TEST_FIXTURES in its environment too.
# Binaries must be built first (`cargo build -p bootstrap-node -p mesh-cli -p mesh-origin`).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -gt 0 ] || die "usage: scripts/test-servers.sh <command> [args...]"
BASE=${MESH_TEST_PORT_BASE:-47810}
BIN=$CARGO_TARGET_DIR/debug
for b in bootstrap-node mesh mesh-origin; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing: cargo build -p bootstrap-node -p mesh-cli -p mesh-origin"
done
for port in $((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 4)) $((BASE + 5)) $((BASE + 6)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use (set MESH_TEST_PORT_BASE to move the test servers)"
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-browser-test.XXXXXX")
PIDS=()
STOPPED=()
cleanup() {
  local pid
  for pid in "${STOPPED[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
  stop_pids
  rm -rf "$WORK"
}
trap cleanup EXIT

# The fixture site: deterministic bytes, so a failure reproduces.
SITE=$WORK/site
mkdir -p "$SITE"
python3 - "$SITE" <<'PY'
import random, sys, os
site = sys.argv[1]
def write(name, size, seed):
    rnd = random.Random(seed)
    with open(os.path.join(site, name), 'wb') as f:
        f.write(rnd.randbytes(size))
write('origin-only.txt', 1000, 1)          # nobody provides it
write('peer.bin', 1_300_000, 2)            # 5 leaves + root: held by the seeder
write('peer-small.txt', 5000, 3)           # one block, held by the seeder
write('stalled.bin', 70_000, 4)            # held by a frozen provider
for i in range(4):                         # cache-budget test: 4 x 600 KB, 1 MiB budget
    write(f'cache-{i}.bin', 600_000, 10 + i)
write('other.bin', 1000, 5)                # integrity test: served under another CID
write('upload.txt', 2000, 6)               # upload-budget test: held by a tab only
write('tab-to-tab.bin', 3 << 20, 7)       # tab-to-tab over /webrtc: origin, then a tab
write('seeder-leaves.bin', 3 << 20, 8)    # the seeding tab closes mid-transfer
write('warm.txt', 3000, 9)                 # warm connections: a tab holds it before it is asked
PY

say "origin on :$((BASE + 1))"
"$BIN/mesh-origin" --root "$SITE" --listen "127.0.0.1:$((BASE + 1))" >"$WORK/origin.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/origin.log" "listening" "mesh-origin"

say "bootstrap node on :$((BASE + 5)) (tcp), :$((BASE + 2)) (ws, webrtc-direct), :$((BASE + 3)) (http)"
"$BIN/bootstrap-node" --data-dir "$WORK/bootstrap" --announce-listen-addrs \
  --listen "/ip4/127.0.0.1/tcp/$((BASE + 5)),/ip4/127.0.0.1/tcp/$((BASE + 2))/ws,/ip4/127.0.0.1/udp/$((BASE + 2))/webrtc-direct" \
  --http-listen "127.0.0.1:$((BASE + 3))" >"$WORK/bootstrap.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/bootstrap.log" "/tcp/$((BASE + 5))/p2p/" "bootstrap-node"
BOOT_TCP=$(grep -o "/ip4/127.0.0.1/tcp/$((BASE + 5))/p2p/[A-Za-z0-9]*" "$WORK/bootstrap.log" | head -n 1)

say "seeder on :$((BASE + 4)) (ws)"
"$BIN/mesh" seed --bootstrap "$BOOT_TCP" --listen "/ip4/127.0.0.1/tcp/$((BASE + 4))/ws" \
  "$SITE/peer.bin" "$SITE/peer-small.txt" >"$WORK/seeder.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/seeder.log" "^listening" "the seeder"

say "stalled provider on :$((BASE + 6)) (ws), frozen once announced"
"$BIN/mesh" seed --bootstrap "$BOOT_TCP" --listen "/ip4/127.0.0.1/tcp/$((BASE + 6))/ws" \
  "$SITE/stalled.bin" >"$WORK/staller.log" 2>&1 &
STALLER=$!
PIDS+=("$STALLER")
wait_for_line "$WORK/staller.log" "^listening" "the stalled provider"
kill -STOP "$STALLER"
STOPPED+=("$STALLER")

export MESH_TEST_ORIGIN="http://127.0.0.1:$((BASE + 1))"
export MESH_TEST_BOOTSTRAP_HTTP="http://127.0.0.1:$((BASE + 3))"
export MESH_TEST_FIXTURES=$SITE
export MESH_TEST_LOGS=$WORK
say "running: $*"
set +e
"$@"
status=$?
set -e
if [ "$status" -ne 0 ] && [ -n "${CI:-}" ]; then
  for log in "$WORK"/*.log; do
    printf '\n---- %s (last 40 lines)\n' "$log"
    tail -n 40 "$log"
  done
fi
exit "$status"
