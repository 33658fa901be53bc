#!/usr/bin/env bash
# Installs what the fuzz targets need: the nightly toolchain's cargo and a pinned cargo-fuzz.
# Safe to run again: it does nothing when the pinned version is already installed.
set -euo pipefail

CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.1}"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi

installed="$(cargo fuzz --version 2>/dev/null || true)"
if [[ "$installed" == *"$CARGO_FUZZ_VERSION"* ]]; then
    echo "cargo-fuzz $CARGO_FUZZ_VERSION already installed"
    exit 0
fi
cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
cargo fuzz --version
