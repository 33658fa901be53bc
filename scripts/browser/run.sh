#!/usr/bin/env bash
# Builds the chat_server example and drives it with headless chromium (chat_test.mjs).
# Installs chromium and playwright-core first if they are missing (install.sh).
# Ends with `browser: N passed, M failed`; exits non-zero if anything failed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if ! command -v chromium >/dev/null || [ ! -d "$here/node_modules/playwright-core" ]; then
    bash "$here/install.sh"
fi
cargo build --release --quiet --example chat_server
CHAT_SERVER="$CARGO_TARGET_DIR/release/examples/chat_server" \
    timeout 180 node "$here/chat_test.mjs"
