#!/usr/bin/env bash
# interop.sh - wsmachine against independent third-party WebSocket peers, every
# protocol version, both roles, on loopback.
#
#   conformance/interop.sh
#
# 1. conformance/peers/install.sh (npm ws + websocket-driver, PyPI websockets +
#    tornado 6.5, Debian ruby-websocket + libprotocol-websocket-perl)
# 2. cargo build --release --example echo_server --example interop_client
# 3. the matrix, one line per pairing:   PASS|FAIL  VERSION  ROLE  PEER
#    ROLE is wsmachine's role. "server": the peer CLIENT (conformance/peers/*_client.*)
#    runs against target/release/examples/echo_server; "client":
#    target/release/examples/interop_client runs against the peer SERVER
#    (conformance/peers/*_server.*). Each pairing gets a fresh server on a
#    free loopback port; the server must still be running when the client
#    is done. A failure prints the reason, indented, under its line.
# Ends with "interop: N passed, M failed"; exit 0 only if M is 0 (a failed
# install or build counts as a failure).
#
# Environment (for validating this script with third-party programs on both
# sides, or for running part of the matrix):
#   OUR_SERVER_CMD  default: target/release/examples/echo_server 127.0.0.1:{port}
#                   must print a line containing "listening on" when ready
#   OUR_CLIENT_CMD  default: target/release/examples/interop_client {url} --version {version}
#                   {port}, {url}, {version} are substituted; commands run with
#                   bash from the repository root. When both are set, no cargo build.
#   INTEROP_ONLY    extended regex; only pairings whose "VERSION ROLE PEER" matches run
#   INTEROP_LOGS    folder for per-pairing logs (default: a new /tmp/wsmachine-interop.*,
#                   removed again when everything passed)
# VERSION is one of hixie-75 hixie-76 hybi-07 hybi-08 hybi-13.
set -uo pipefail
{ # whole body in one block: bash parses it all before running any of it

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=$HERE/peers
cd "$ROOT" || exit 2
T0=$(date +%s)

DEFAULT_SERVER='target/release/examples/echo_server 127.0.0.1:{port}'
DEFAULT_CLIENT='target/release/examples/interop_client {url} --version {version}'
SERVER_CMD=${OUR_SERVER_CMD:-$DEFAULT_SERVER}
CLIENT_CMD=${OUR_CLIENT_CMD:-$DEFAULT_CLIENT}
ONLY=${INTEROP_ONLY:-}
LOGS=${INTEROP_LOGS:-$(mktemp -d /tmp/wsmachine-interop.XXXXXX)}
mkdir -p "$LOGS"
CLIENT_LIMIT=60   # seconds per client run (the peer clients stop themselves after 30)
SERVER_LIMIT=120  # seconds a server may live
READY_LIMIT=20    # seconds for a server to print its "listening on" line

PY=$PEERS/.venv/bin/python
# Peer programs. Clients take URL VERSION; servers take PORT [SECONDS].
declare -A PEER_CLIENT=(
  [ruby-websocket]="ruby $PEERS/ruby_client.rb {url} {version}"
  [perl-protocol-websocket]="perl $PEERS/perl_client.pl {url} {version}"
  [ws]="node $PEERS/ws_client.js {url} {version}"
  [websockets]="$PY $PEERS/websockets_client.py {url} {version}"
)
declare -A PEER_SERVER=(
  [websocket-driver]="node $PEERS/driver_server.js {port} $SERVER_LIMIT"
  [ruby-websocket]="ruby $PEERS/ruby_server.rb {port} $SERVER_LIMIT"
  [tornado]="$PY $PEERS/tornado_server.py {port} $SERVER_LIMIT"
  [ws]="node $PEERS/ws_server.js {port} $SERVER_LIMIT"
  [websockets]="$PY $PEERS/websockets_server.py {port} $SERVER_LIMIT"
)
# The matrix: VERSION ROLE PEER (ROLE = wsmachine's role).
MATRIX=(
  "hixie-75 server ruby-websocket"  "hixie-75 server perl-protocol-websocket"
  "hixie-76 server ruby-websocket"  "hixie-76 server perl-protocol-websocket"
  "hybi-07  server ruby-websocket"
  "hybi-08  server ruby-websocket"  "hybi-08  server perl-protocol-websocket"  "hybi-08  server ws"
  "hybi-13  server ruby-websocket"  "hybi-13  server perl-protocol-websocket"  "hybi-13  server ws"
  "hybi-13  server websockets"
  "hixie-75 client websocket-driver"  "hixie-75 client ruby-websocket"
  "hixie-76 client websocket-driver"  "hixie-76 client ruby-websocket"
  "hybi-07  client tornado"           "hybi-07  client ruby-websocket"
  "hybi-08  client tornado"           "hybi-08  client ws"  "hybi-08  client ruby-websocket"
  "hybi-13  client websocket-driver"  "hybi-13  client ws"  "hybi-13  client websockets"
  "hybi-13  client tornado"           "hybi-13  client ruby-websocket"
)

passed=0 failed=0
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  PIDS=()
}
trap cleanup EXIT
trap 'echo "interop.sh: interrupted" >&2; exit 130' INT
trap 'echo "interop.sh: terminated" >&2; exit 143' TERM

result() {  # result PASS|FAIL VERSION ROLE PEER [REASON-FILE]
  printf '%-4s  %-8s  %-6s  %s\n' "$1" "$2" "$3" "$4"
  if [ "$1" = PASS ]; then passed=$((passed + 1)); else
    failed=$((failed + 1))
    [ -n "${5:-}" ] && [ -s "$5" ] && tail -n 8 "$5" | sed 's/^/        /'
  fi
  return 0
}
finish() {
  if [ "$failed" = 0 ] && [ -z "${INTEROP_LOGS:-}" ]; then
    rm -rf "$LOGS"; echo "# took $(($(date +%s) - T0))s"
  else
    echo "# took $(($(date +%s) - T0))s; logs in $LOGS"
  fi
  echo "interop: $passed passed, $failed failed"
  [ "$failed" = 0 ] && exit 0
  exit 1
}
expand() {  # expand TEMPLATE PORT URL VERSION
  local s=$1
  s=${s//\{port\}/$2}; s=${s//\{url\}/$3}; s=${s//\{version\}/$4}
  printf '%s' "$s"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------- 1. peers
if ! timeout -k 10 1800 "$PEERS/install.sh" >"$LOGS/install.log" 2>&1; then
  result FAIL - - "peers/install.sh (third-party peers not installed)" "$LOGS/install.log"
  finish
fi
tail -n 1 "$LOGS/install.log" | sed 's/^/# /'

# ---------------------------------------------------------------- 2. build
if [ -z "${OUR_SERVER_CMD:-}" ] || [ -z "${OUR_CLIENT_CMD:-}" ]; then
  echo "# cargo build --release --example echo_server --example interop_client"
  if ! timeout -k 10 1800 cargo build --release --example echo_server --example interop_client \
       >"$LOGS/build.log" 2>&1; then
    result FAIL - - "cargo build (echo_server, interop_client)" "$LOGS/build.log"
    finish
  fi
fi
echo "# wsmachine server: $SERVER_CMD"
echo "# wsmachine client: $CLIENT_CMD"
echo "# ROLE is wsmachine's role; PEER is the third-party program on the other side"

# ---------------------------------------------------------------- 3. matrix
# run_pair NAME SERVER_TEMPLATE CLIENT_TEMPLATE VERSION -> 0 on success; reason in $LOGS/NAME.why
run_pair() {
  local name=$1 stpl=$2 ctpl=$3 version=$4
  local port url scmd ccmd spid i rc
  local slog=$LOGS/$name.server.log clog=$LOGS/$name.client.log why=$LOGS/$name.why
  : >"$why"
  port=$(free_port)
  url="ws://127.0.0.1:$port/interop"
  scmd=$(expand "$stpl" "$port" "$url" "$version")
  ccmd=$(expand "$ctpl" "$port" "$url" "$version")
  : >"$slog"  # exists before the background job opens it
  timeout -k 5 "$SERVER_LIMIT" bash -c "exec $scmd" >"$slog" 2>&1 &
  spid=$!
  PIDS+=("$spid")
  for ((i = 0; i < READY_LIMIT * 10; i++)); do
    grep -q 'listening on' "$slog" && break
    if ! kill -0 "$spid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! grep -q 'listening on' "$slog"; then
    { echo "server did not print 'listening on' within ${READY_LIMIT}s: $scmd"; tail -n 5 "$slog"; } >"$why"
    kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    return 1
  fi
  timeout -k 5 "$CLIENT_LIMIT" bash -c "exec $ccmd" >"$clog" 2>&1
  rc=$?
  if [ "$rc" != 0 ]; then
    { [ "$rc" = 124 ] && echo "client timed out after ${CLIENT_LIMIT}s: $ccmd" || echo "client exited $rc: $ccmd"
      tail -n 5 "$clog"; echo "-- server log:"; tail -n 3 "$slog"; } >"$why"
  elif ! kill -0 "$spid" 2>/dev/null; then
    { echo "server exited during the session: $scmd"; tail -n 5 "$slog"; } >"$why"
    rc=1
  fi
  kill -TERM "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  return "$rc"
}

ran=0
for row in "${MATRIX[@]}"; do
  read -r version role peer <<<"$row"
  if [ -n "$ONLY" ] && ! [[ "$version $role $peer" =~ $ONLY ]]; then continue; fi
  ran=$((ran + 1))
  name="$version-$role-$peer"
  if [ "$role" = server ]; then
    run_pair "$name" "$SERVER_CMD" "${PEER_CLIENT[$peer]}" "$version"
  else
    run_pair "$name" "${PEER_SERVER[$peer]}" "$CLIENT_CMD" "$version"
  fi
  if [ $? = 0 ]; then result PASS "$version" "$role" "$peer"
  else result FAIL "$version" "$role" "$peer" "$LOGS/$name.why"; fi
done
[ "$ran" -gt 0 ] || { echo "interop.sh: INTEROP_ONLY='$ONLY' matched no pairing" >&2; result FAIL - - "no pairing ran"; }
finish
}
