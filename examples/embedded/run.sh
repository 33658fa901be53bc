#!/usr/bin/env bash
# Builds and runs the bare-metal example (wsmachine over smoltcp, no std, no allocator) and
# checks that its last line reports success.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
CARGO_TARGET_DIR="$target" cargo build --release --manifest-path "$here/Cargo.toml"
status=0
out="$(timeout 60 "$target/release/wsmachine-embedded-example")" || status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
    echo "embedded example exited with $status" >&2
    exit 1
fi
last="$(printf '%s\n' "$out" | tail -n 1)"
case "$last" in
    "embedded: ok "*) ;;
    *) echo "embedded example failed: last line was: $last" >&2; exit 1 ;;
esac
