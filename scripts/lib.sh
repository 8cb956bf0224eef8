# Shared helpers for the scripts in this directory. Source it; do not run it.
#
# Sets MESH_ROOT (the repository root, also made the working directory) and exports
# CARGO_TARGET_DIR: by default a stable directory outside the clone, so every clone and CI run
# on the same machine shares one warm build cache (and, with CI=true, CARGO_INCREMENTAL=0).

MESH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$MESH_ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mesh-target}"
# CI builds keep no incremental-compilation data. Cargo names a workspace crate's artifacts after
# the checkout's path, so every fresh clone adds its own incremental directories to the shared
# target dir and never reuses another clone's: on this machine kind they reached 16 GB in a day
# of runs and filled the disk twice. Dependencies are never built incrementally, so the cache
# stays as warm for them.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

# Prints a progress message.
say() {
  printf '==> %s\n' "$*"
}

# Prints a command, then runs it.
run() {
  printf '+ %s\n' "$*"
  "$@"
}

# Prints an error and exits.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    run "$@"
  elif command -v sudo >/dev/null 2>&1; then
    run sudo "$@"
  else
    die "need root to run: $* (no sudo available)"
  fi
}

# Seconds as "1m05s" / "42s".
human_seconds() {
  local s=$1
  if [ "$s" -ge 60 ]; then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

# npm_ci_if_stale DIR: runs `npm ci` in DIR when its node_modules is missing or older than its
# package.json or package-lock.json (npm records what it installed in
# node_modules/.package-lock.json), so a warm run costs nothing and works offline.
npm_ci_if_stale() {
  local dir=$1
  local installed=$dir/node_modules/.package-lock.json
  if [ -f "$installed" ] && [ ! "$dir/package.json" -nt "$installed" ] &&
    [ ! "$dir/package-lock.json" -nt "$installed" ]; then
    say "$dir/node_modules: up to date"
  else
    run npm ci --prefix "$dir" --no-audit --no-fund
  fi
}

# Waits (up to 30 s) until FILE has a line matching PATTERN — how the servers say they are
# ready — or prints FILE and exits naming WHAT.
wait_for_line() {
  local file=$1 pattern=$2 what=$3 i
  for i in $(seq 1 300); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$file" >&2 || true
  die "$what did not start (see above)"
}

# Stops the background processes whose pids are in the array PIDS and waits for them.
stop_pids() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# Inside a fresh network namespace (`unshare -n`): brings loopback up and routes everything to
# it, so the namespace's only network is 127.0.0.1. The default route is for Firefox: without
# camera permission it gathers ICE candidates only on the interface of the default route
# (RFC 8828's default-address mode), and with none it gathers nothing; `src 127.0.0.1` makes
# that address 127.0.0.1. Nothing can leave the machine either way.
loopback_only_network() {
  ip link set lo up
  ip route add default dev lo src 127.0.0.1
}

# Points TMPDIR at a fresh directory of its own and prints its path; the caller removes it on
# exit. Chromium keeps its profile (~100 MB) in TMPDIR and removes it when it quits, but the
# WebDriver runs (wasm-bindgen-test-runner through chromedriver) end it with a kill, so each
# run used to leave two profiles behind in /tmp: a machine that runs the suite often filled
# its disk with them.
private_tmpdir() {
  TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/mesh-browsers.XXXXXX")
  export TMPDIR
}

# Sets WASM_OPT_FLAGS to the wasm-opt flags mesh-wasm's Cargo.toml gives wasm-pack, so builds
# that run wasm-opt themselves (names kept, the libp2p floor) optimise exactly as the package does.
read_wasm_opt_flags() {
  read -r -a WASM_OPT_FLAGS <<<"$(sed -n 's/^wasm-opt = \[\(.*\)\]$/\1/p' crates/mesh-wasm/Cargo.toml | tr -d '",')"
  [ "${#WASM_OPT_FLAGS[@]}" -gt 0 ] || die "no wasm-opt flags found in crates/mesh-wasm/Cargo.toml"
}

# Prints a file's size raw, gzip -9 and brotli-11 (what a CDN serves to browsers that accept
# it), space-separated: how the package's size is measured against its goal.
compressed_sizes() {
  local gz br
  gz=$(gzip -9c "$1" | wc -c)
  br=$(node -e 'const z = require("zlib"); const q = z.constants.BROTLI_PARAM_QUALITY;
    console.log(z.brotliCompressSync(require("fs").readFileSync(process.argv[1]), { params: { [q]: 11 } }).length)' "$1")
  echo "$(stat -c %s "$1") $gz $br"
}
