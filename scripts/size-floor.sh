#!/usr/bin/env bash
# How small can a rust-libp2p browser node be? Builds examples/libp2p-floor (the browser node's
# libp2p transports and behaviours, with none of mesh's code) the way scripts/build-npm.sh
# builds the npm package (cargo profile wasm-release, wasm-bindgen --target web, wasm-opt with
# mesh-wasm's flags, the glue minified by esbuild) and prints its size beside the package's.
#
# Two builds: the stack the browser node has (WebSocket and WebRTC-direct to bootstrap nodes,
# the relay client, Noise, Yamux, identify, ping, request-response), and the least a tab needs
# to reach another through a relay and ask it something (WebSocket, relay client, Noise, Yamux,
# request-response). docs/BENCHMARKS-WEBRTC.md, "Package size", has the figures.
#
# Not part of the test suite: the floor's libp2p feature set differs from the package's, so
# the first run compiles libp2p again for wasm (~2 min here); later runs take seconds.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

TOOLS=tests/browser
OUT=$CARGO_TARGET_DIR/libp2p-floor
GOAL_KIB=300

for tool in node npm wasm-bindgen gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh installs it)"
done
npm_ci_if_stale "$TOOLS"
export PATH="$MESH_ROOT/$TOOLS/node_modules/.bin:$PATH"
read_wasm_opt_flags

rows=()
for variant in full least; do
  features=()
  [ "$variant" = full ] || features=(--no-default-features)
  say "cargo build -p libp2p-floor ${features[*]} (wasm-release)"
  cargo build --locked --lib -p libp2p-floor "${features[@]}" --profile wasm-release --target wasm32-unknown-unknown
  dir=$OUT/$variant
  rm -rf "$dir"
  run wasm-bindgen --target web --out-dir "$dir" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/libp2p_floor.wasm"
  run wasm-opt "${WASM_OPT_FLAGS[@]}" "$dir/libp2p_floor_bg.wasm" -o "$dir/libp2p_floor_bg.wasm"
  esbuild "$dir/libp2p_floor.js" --minify --format=esm --log-level=warning --allow-overwrite --outfile="$dir/libp2p_floor.js"
  read -r wasm_raw wasm_gz wasm_br <<<"$(compressed_sizes "$dir/libp2p_floor_bg.wasm")"
  read -r _ js_gz js_br <<<"$(compressed_sizes "$dir/libp2p_floor.js")"
  rows+=("$variant $wasm_raw $wasm_gz $wasm_br $js_gz $js_br")
done

say "size of a rust-libp2p browser node without mesh (the package's goal: wasm + JS <= $GOAL_KIB KiB gzipped)"
printf '  %-52s %10s %10s %10s %10s\n' build "wasm raw" "wasm gz" "+ JS gz" "+ JS br"
for row in "${rows[@]}"; do
  read -r variant wasm_raw wasm_gz wasm_br js_gz js_br <<<"$row"
  case $variant in
  full) label="libp2p as the browser node runs it" ;;
  least) label="WebSocket + relay client + Noise/Yamux + req-resp" ;;
  esac
  total_gz=$((wasm_gz + js_gz))
  printf '  %-52s %10d %10d %10d %10d  (%d KiB)\n' "$label" "$wasm_raw" "$wasm_gz" "$total_gz" \
    $((wasm_br + js_br)) $(((total_gz + 1023) / 1024))
done
wasm=crates/mesh-wasm/pkg/web/mesh_wasm_bg.wasm
if [ -f "$wasm" ]; then
  read -r wasm_raw wasm_gz wasm_br <<<"$(compressed_sizes "$wasm")"
  printf '  %-52s %10d %10d %10s %10s  (scripts/build-npm.sh prints the whole package)\n' \
    "the npm package's wasm (crates/mesh-wasm/pkg)" "$wasm_raw" "$wasm_gz" - -
fi
