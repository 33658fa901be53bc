#!/usr/bin/env bash
# Builds and runs the #![no_std] proof binary (wsmachine without std and alloc) and checks
# that it ends with its success line. A std leak fails the build itself (duplicate
# `panic_impl` lang item); an allocation fails the link (no global allocator).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
CARGO_TARGET_DIR="$target" cargo build --release --manifest-path "$here/Cargo.toml"
status=0
out="$(timeout 60 "$target/release/wsmachine-no-std-check")" || status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
    echo "no_std check exited with $status" >&2
    exit 1
fi
last="$(printf '%s\n' "$out" | tail -n 1)"
case "$last" in
    "no_std: ok "*) ;;
    *) echo "no_std check failed: last line was: $last" >&2; exit 1 ;;
esac
