#!/usr/bin/env bash
# Builds every cargo-fuzz target (fuzz/) and runs each one briefly from its committed corpus
# (fuzz/corpus/<target>/), failing on any crash, panic, failed assertion, timeout or
# out-of-memory. A smoke test that the targets build and the corpora still pass, not a
# substitute for the long runs (docs/SECURITY.md, "Fuzzing").
#
# Usage: scripts/fuzz-smoke.sh [TARGET...]   (default: every target)
# FUZZ_SMOKE_SECONDS sets the time per target (default 15).
#
# New inputs go to a scratch directory, so the committed corpora stay as they are; a crashing
# input is saved under fuzz/artifacts/<target>/ and reproduced with
# `cargo +nightly fuzz run <target> <file> --sanitizer none --debug-assertions`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

SECONDS_PER_TARGET=${FUZZ_SMOKE_SECONDS:-15}
# No sanitizer: the crates forbid unsafe code, and without ASan a run executes about twice the
# inputs. Debug assertions turn integer overflow into a crash. The long runs use the same flags,
# so one build serves both.
FUZZ_FLAGS=(--sanitizer none --debug-assertions)

command -v cargo-fuzz >/dev/null 2>&1 || die "cargo-fuzz is missing: run scripts/setup.sh"

run cargo +nightly fuzz build "${FUZZ_FLAGS[@]}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus" "$scratch/$target"
  say "fuzz $target for ${SECONDS_PER_TARGET}s from $corpus ($(find "$corpus" -type f | wc -l) inputs)"
  # -timeout: an input taking 10 s is a hang and fails the run like a crash.
  if ! cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$target" "$scratch/$target" "$corpus" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
    >"$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log" >&2
    die "fuzz target $target failed (input saved under fuzz/artifacts/$target/)"
  fi
  # libFuzzer's last status line: executions, coverage (cov), features (ft), corpus size.
  grep -E '^#[0-9]+' "$scratch/$target.log" | tail -n 1 || true
done
say "fuzz smoke: ${#targets[@]} targets, no crash"
