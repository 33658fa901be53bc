#!/usr/bin/env bash
# install.sh - install the third-party WebSocket peers used by ../interop.sh,
# from the package registries only, idempotently and non-interactively.
#
#   conformance/peers/install.sh           install what is missing (about 1 s when all is there)
#   conformance/peers/install.sh --check   install nothing; exit 1 if something is missing
#
# What goes where (pins are in package.json and requirements.txt):
#   npm     ws 8.23.0, websocket-driver 0.8.0,  -> conformance/peers/node_modules
#           playwright-core 1.64.1 (drives chromium; downloads no browser)
#   PyPI    websockets 17.4, tornado 6.5.10     -> conformance/peers/.venv
#           (tornado must stay below 6.6, which dropped hybi-07/08)
#   Debian  ruby, ruby-websocket (the `websocket` gem: drafts 75/76, hybi 7/8/13),
#           libprotocol-websocket-perl (Perl Protocol::WebSocket: 75/76, hybi 8/13),
#           chromium (headless browser client, as scripts/browser/ uses)
#
# Needs root for apt-get (this machine runs as root). Every registry call is
# bounded in time (INSTALL_TIMEOUT seconds each, default 600) and retried a
# little; when a registry cannot be reached the script says which one and
# exits 1. Exit 0 only when every peer is installed and importable.
set -euo pipefail
{ # whole body in one block: bash parses it all before running any of it

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T0=$(date +%s)
STEP_TIMEOUT=${INSTALL_TIMEOUT:-600}
CHECK_ONLY=0
[ "${1:-}" = "--check" ] && CHECK_ONLY=1

say() { echo "install.sh: $*" >&2; }
die() { echo "install.sh: ERROR: $*" >&2; exit 1; }
missing=()

# ---------------------------------------------------------------- npm
node_ok() {
  # every dependency of package.json installed at exactly the pinned version
  (cd "$HERE" && node -e '
    const deps = require("./package.json").dependencies;
    for (const [name, want] of Object.entries(deps)) {
      let got = null;
      try { got = require("./node_modules/" + name + "/package.json").version; } catch (e) {}
      if (got !== want) process.exit(1);
    }' 2>/dev/null)
}
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (Debian: apt-get install nodejs npm)"
if ! node_ok; then
  if [ "$CHECK_ONLY" = 1 ]; then missing+=("npm: ws/websocket-driver/playwright-core"); else
    say "npm install (ws, websocket-driver, playwright-core) into $HERE/node_modules"
    if ! (cd "$HERE" && timeout -k 10 "$STEP_TIMEOUT" npm install --no-audit --no-fund --no-package-lock \
            --loglevel=error --fetch-retries=1 --fetch-retry-mintimeout=2000 \
            --fetch-retry-maxtimeout=10000 --fetch-timeout=60000 >/dev/null); then
      die "npm install failed: is the npm registry ($(npm config get registry 2>/dev/null)) reachable?"
    fi
    node_ok || die "npm install finished but ws/websocket-driver/playwright-core are not at the pinned versions"
  fi
fi

# ---------------------------------------------------------------- PyPI
VENV=$HERE/.venv
py_ok() {
  # the venv was built from exactly this requirements.txt and both modules import
  [ -x "$VENV/bin/python" ] && cmp -s "$HERE/requirements.txt" "$VENV/.installed-requirements.txt" \
    && "$VENV/bin/python" -c 'import websockets, tornado.websocket' 2>/dev/null
}
if ! py_ok; then
  if [ "$CHECK_ONLY" = 1 ]; then missing+=("PyPI: websockets/tornado venv"); else
    say "pip install -r requirements.txt into $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "python3 -m venv failed"
    if ! timeout -k 10 "$STEP_TIMEOUT" "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
           --timeout 60 --retries 2 -r "$HERE/requirements.txt"; then
      die "pip install failed: is PyPI reachable?"
    fi
    cp "$HERE/requirements.txt" "$VENV/.installed-requirements.txt"
    py_ok || die "pip install finished but websockets/tornado do not import"
  fi
fi

# ---------------------------------------------------------------- Debian
DEBS=(ruby ruby-websocket libprotocol-websocket-perl chromium)
deb_ok() {
  local p
  for p in "${DEBS[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || return 1
  done
  ruby -e 'require "websocket"' 2>/dev/null && perl -MProtocol::WebSocket -e 1 2>/dev/null \
    && chromium --version >/dev/null 2>&1
}
if ! deb_ok; then
  if [ "$CHECK_ONLY" = 1 ]; then missing+=("Debian: ${DEBS[*]}"); else
    [ "$(id -u)" = 0 ] || die "apt-get needs root to install ${DEBS[*]}"
    say "apt-get install ${DEBS[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o Acquire::Retries=2 -o Acquire::http::Timeout=60 -o Acquire::https::Timeout=60)
    # try from the current package lists first; refresh them only if that fails
    if ! timeout -k 10 "$STEP_TIMEOUT" apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" "${DEBS[@]}" >/dev/null 2>&1; then
      timeout -k 10 "$STEP_TIMEOUT" apt-get update -qq "${apt_opts[@]}" \
        || die "apt-get update failed: are Debian's package mirrors reachable?"
      timeout -k 10 "$STEP_TIMEOUT" apt-get install -y -qq --no-install-recommends "${apt_opts[@]}" "${DEBS[@]}" >/dev/null \
        || die "apt-get install ${DEBS[*]} failed: are Debian's package mirrors reachable?"
    fi
    deb_ok || die "apt-get finished but ruby's websocket gem, Perl's Protocol::WebSocket or chromium does not load"
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  say "missing: ${missing[*]} (run $0 without --check)"
  exit 1
fi
say "peers ready ($(($(date +%s) - T0))s): npm ws $(node -p 'require(process.argv[1]).version' "$HERE/node_modules/ws/package.json"), websocket-driver $(node -p 'require(process.argv[1]).version' "$HERE/node_modules/websocket-driver/package.json"), playwright-core $(node -p 'require(process.argv[1]).version' "$HERE/node_modules/playwright-core/package.json"); PyPI $("$VENV/bin/python" -c 'import websockets, tornado; print("websockets", websockets.__version__ + ", tornado", tornado.version)'); Debian ruby-websocket $(dpkg-query -W -f='${Version}' ruby-websocket), libprotocol-websocket-perl $(dpkg-query -W -f='${Version}' libprotocol-websocket-perl), chromium $(dpkg-query -W -f='${Version}' chromium)"
exit 0
}
