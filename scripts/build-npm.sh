#!/usr/bin/env bash
# Builds the npm package `mesh-loader` (the browser node and its JS shim) into
# crates/mesh-wasm/pkg/, prints its size, and packs it:
#
#   crates/mesh-wasm/pkg/                 the package (gitignored)
#     index.js, bundler.js, mesh.js       entry points and the shim (from crates/mesh-wasm/js/;
#                                         the default entry's files minified, with source maps)
#     worker-node.js, rtc-host.js         the window's half of a node in a worker
#     node-worker.js, rtc-proxy.js        the worker (the node, and its WebRTC stand-ins)
#     index.d.ts, package.json, README.md (from crates/mesh-wasm/js/)
#     sw.js, sw.d.ts, sw-worker.js        the service-worker mode (`mesh-loader/sw`, its worker)
#     web/      wasm-pack --target web      (default entry: browsers, Vite, Rollup, esbuild)
#     bundler/  wasm-pack --target bundler  (`mesh-loader/bundler`: webpack asyncWebAssembly)
#   crates/mesh-wasm/pkg/mesh-loader-<version>.tgz   `npm pack` of it, what the examples install
#
# The wasm is built with the `wasm-release` cargo profile (size over speed) and shrunk by
# wasm-opt from npm's binaryen (tests/browser's devDependencies; Debian's wasm-opt is too old).
# Idempotent: wasm-pack runs only when the compiled wasm changed (the cargo build before it is a
# no-op when nothing did), the tarball is repacked only when the package's content changed; a
# warm run takes seconds. MESH_NPM_FORCE=1 rebuilds anyway.
#
# MESH_NPM_NAMES=1 builds the same package with its wasm function names kept (cargo profile
# `wasm-names`, wasm-opt with -g), for CPU profiles (MESH_BENCH_PROFILE in bench-webrtc.sh) and
# twiggy; its size is not what ships. The next build without it restores the shipped package.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

CRATE=crates/mesh-wasm
PKG=$CRATE/pkg
JS=$CRATE/js
TOOLS=tests/browser
PROFILE=wasm-release
NAMES=${MESH_NPM_NAMES:-}
[ -z "$NAMES" ] || PROFILE=wasm-names
# One staging directory per checkout: git worktrees share CARGO_TARGET_DIR, and two builds
# staging into one directory delete each other's files.
STAGE=$CARGO_TARGET_DIR/npm-stage/$(pwd -P | sha256sum | cut -c1-12)
RAW_WASM=$CARGO_TARGET_DIR/wasm32-unknown-unknown/$PROFILE/mesh_wasm.wasm
# The issue's budget for what a page downloads: the wasm plus the JS, gzipped.
GOAL_KIB=300
# The JS a page using the default entry may download (the window's files and its node worker's):
# minified, and counted against the budget with the wasm.
DEFAULT_ENTRY_JS=(web/mesh_wasm.js index.js mesh.js worker-node.js rtc-host.js node-worker.js rtc-proxy.js)

for tool in node npm wasm-pack wasm-bindgen gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh installs it)"
done
# wasm-bindgen's CLI must be the version of the wasm-bindgen crate in Cargo.lock.
locked_bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have_bindgen=$(wasm-bindgen --version | awk '{print $2}')
[ "$locked_bindgen" = "$have_bindgen" ] ||
  die "wasm-bindgen $have_bindgen is installed, Cargo.lock has $locked_bindgen: cargo install wasm-bindgen-cli --version $locked_bindgen --locked"

npm_ci_if_stale "$TOOLS"
export PATH="$MESH_ROOT/$TOOLS/node_modules/.bin:$PATH"
opt_version=$(wasm-opt --version | grep -o '[0-9]\+' | head -n 1)
[ "${opt_version:-0}" -ge 120 ] || die "wasm-opt $opt_version is too old (need >= 120): npm ci --prefix $TOOLS"
command -v esbuild >/dev/null 2>&1 || die "esbuild is missing: npm ci --prefix $TOOLS"

version=$(node -p "require('./$JS/package.json').version")
crate_version=$(cargo metadata --no-deps --format-version 1 --locked |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).packages.find(p=>p.name==="mesh-wasm").version))')
[ "$version" = "$crate_version" ] ||
  die "$JS/package.json has version $version but the mesh-wasm crate is $crate_version: make them equal"
TARBALL=$PKG/mesh-loader-$version.tgz

# What wasm-pack would build first; a no-op when nothing changed, and its output tells whether
# the rest must run.
say "cargo build -p mesh-wasm --profile $PROFILE --target wasm32-unknown-unknown"
cargo build --locked --lib -p mesh-wasm --profile "$PROFILE" --target wasm32-unknown-unknown
[ -f "$RAW_WASM" ] || die "cargo did not produce $RAW_WASM"

# The wasm-pack builds (with wasm-opt, the slow part) depend on the compiled wasm only; the
# package is then assembled from them and js/, and packed only when its content changed.
wasm_key=$(
  {
    sha256sum "$RAW_WASM" "$CRATE/Cargo.toml" "${BASH_SOURCE[0]}" scripts/npm/fix-bundler-exports.mjs | awk '{print $1}'
    echo "profile $PROFILE"
    echo "wasm-bindgen $have_bindgen, wasm-opt $opt_version, wasm-pack $(wasm-pack --version)"
  } | sha256sum | awk '{print $1}'
)
if [ -z "${MESH_NPM_FORCE:-}" ] && [ "$(cat "$STAGE/.wasm-key" 2>/dev/null)" = "$wasm_key" ]; then
  say "wasm-pack builds: up to date"
else
  rm -rf "$STAGE"
  for target in web bundler; do
    say "wasm-pack build --target $target (then wasm-opt)"
    # --mode no-install: use the tools on PATH, never try to download any.
    if [ -z "$NAMES" ]; then
      run wasm-pack --log-level warn build "$CRATE" --profile "$PROFILE" --target "$target" \
        --mode no-install --out-name mesh_wasm --out-dir "$STAGE/$target" --no-pack --no-gitignore
    else
      # wasm-pack's wasm-opt (the crate's metadata) drops the name section: run it here with
      # the same flags and -g.
      run wasm-pack --log-level warn build "$CRATE" --profile "$PROFILE" --target "$target" \
        --mode no-install --out-name mesh_wasm --out-dir "$STAGE/$target" --no-pack --no-gitignore --no-opt
      read_wasm_opt_flags
      run wasm-opt "${WASM_OPT_FLAGS[@]}" -g "$STAGE/$target/mesh_wasm_bg.wasm" -o "$STAGE/$target/mesh_wasm_bg.wasm"
    fi
  done
  [ ! -d "$STAGE/web/snippets" ] && [ ! -d "$STAGE/bundler/snippets" ] ||
    die "wasm-bindgen wrote snippets/: add them to $JS/package.json's files and to this script"
  run node scripts/npm/fix-bundler-exports.mjs "$STAGE/bundler"
  echo "$wasm_key" >"$STAGE/.wasm-key"
fi

NEW=$STAGE/pkg.new
rm -rf "$NEW"
mkdir -p "$NEW/web" "$NEW/bundler"
cp "$JS"/index.js "$JS"/bundler.js "$JS"/mesh.js "$JS"/index.d.ts "$JS"/package.json "$JS"/README.md \
  "$JS"/worker-node.js "$JS"/rtc-host.js "$JS"/node-worker.js "$JS"/rtc-proxy.js \
  "$JS"/sw.js "$JS"/sw.d.ts "$JS"/sw-worker.js "$NEW/"
cp "$STAGE"/web/mesh_wasm.js "$STAGE"/web/mesh_wasm.d.ts "$STAGE"/web/mesh_wasm_bg.wasm \
  "$STAGE"/web/mesh_wasm_bg.wasm.d.ts "$NEW/web/"
cp "$STAGE"/bundler/mesh_wasm.js "$STAGE"/bundler/mesh_wasm.d.ts "$STAGE"/bundler/mesh_wasm_bg.js \
  "$STAGE"/bundler/mesh_wasm_bg.wasm "$STAGE"/bundler/mesh_wasm_bg.wasm.d.ts "$NEW/bundler/"
# What a page with the default entry downloads of our JS is minified (esbuild, tests/browser's
# devDependencies): 21.5 -> 13.5 KB gzipped for the window's three files, 9.7 -> 5.6 KB for the
# worker's; each keeps a source map carrying its original source, which a browser fetches only
# with its developer tools open. Names stay readable where they matter: MeshError sets its
# `name`, and globals (the WebRTC classes rtc-proxy.js stands in for) are never renamed. The
# bundler entry's glue is left to the site's bundler, the service-worker files as written.
# MESH_NPM_NAMES builds (for CPU profiles) are not minified.
if [ -z "$NAMES" ]; then
  say "minify the default entry's JS (esbuild $(esbuild --version))"
  for f in "${DEFAULT_ENTRY_JS[@]}"; do
    # --source-root: the map names the original `source/<file>`, so developer tools list it
    # apart from the minified file it was served as (the original's text is in the map).
    esbuild "$NEW/$f" --minify --format=esm --sourcemap --sources-content=true --source-root=source/ \
      --log-level=warning --allow-overwrite --outfile="$NEW/$f"
  done
fi
pkg_key=$(cd "$NEW" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | awk '{print $1}')
if [ -z "${MESH_NPM_FORCE:-}" ] && [ -f "$TARBALL" ] && [ "$(cat "$PKG/.build-key" 2>/dev/null)" = "$pkg_key" ]; then
  rm -rf "$NEW"
  say "$PKG: up to date"
else
  rm -rf "$PKG"
  mv "$NEW" "$PKG"
  say "npm pack"
  (cd "$PKG" && npm pack --silent --pack-destination . >/dev/null)
  [ -f "$TARBALL" ] || die "npm pack did not write $TARBALL"
  echo "$pkg_key" >"$PKG/.build-key"
fi

# What a page using the default entry downloads: the wasm and the JS files (the window's and
# its node worker's; the wasm-bindgen glue is fetched by both, from the HTTP cache the second time). Brotli (quality 11,
# what a CDN serves to browsers that accept it) for information; the goal is on gzip -9.
say "size of mesh-loader $version, goal: wasm + JS <= $GOAL_KIB KiB gzipped"
[ -z "$NAMES" ] || say "(MESH_NPM_NAMES: function names kept, larger than what ships)"
total_raw=0
total_gz=0
total_br=0
printf '  %-26s %10s %10s %10s\n' file bytes gzip-9 brotli-11
for f in web/mesh_wasm_bg.wasm "${DEFAULT_ENTRY_JS[@]}"; do
  read -r raw gz br <<<"$(compressed_sizes "$PKG/$f")"
  total_raw=$((total_raw + raw))
  total_gz=$((total_gz + gz))
  total_br=$((total_br + br))
  printf '  %-26s %10d %10d %10d\n' "$f" "$raw" "$gz" "$br"
done
printf '  %-26s %10d %10d %10d  (%d KiB gzipped: %s)\n' total "$total_raw" "$total_gz" "$total_br" \
  $(((total_gz + 1023) / 1024)) \
  "$([ "$total_gz" -le $((GOAL_KIB * 1024)) ] && echo "within the goal" || echo "OVER the $GOAL_KIB KiB goal")"
printf '  %-26s %10d\n' "$(basename "$TARBALL")" "$(stat -c %s "$TARBALL")"
say "package: $PKG, tarball: $TARBALL"
