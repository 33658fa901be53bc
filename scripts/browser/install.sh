#!/usr/bin/env bash
# Installs what the browser test needs: Debian's chromium (no browser download by a test tool)
# and playwright-core, the driver library without browsers, into scripts/browser/node_modules.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --silent
    else
        npm install --no-audit --no-fund --silent
    fi
fi
chromium --version
node -e 'console.log("playwright-core " + require("playwright-core/package.json").version)'
