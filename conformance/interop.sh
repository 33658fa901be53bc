#!/usr/bin/env bash
# interop.sh - wsmachine against independent third-party WebSocket peers, every
# protocol version, both roles, on loopback.
#
#   conformance/interop.sh
#
# 1. conformance/peers/install.sh (npm ws + websocket-driver + playwright-core,
#    PyPI websockets + tornado 6.5, Debian ruby-websocket +
#    libprotocol-websocket-perl + chromium)
# 2. cargo build --release --example echo_server --example interop_client
# 3. the matrix, one line per pairing:   PASS|FAIL  VERSION  ROLE  PEER
#    ROLE is wsmachine's role. "server": the peer CLIENT (conformance/peers/*_client.*)
#    runs against target/release/examples/echo_server; "client":
#    target/release/examples/interop_client runs against the peer SERVER
#    (conformance/peers/*_server.*). Each pairing gets a fresh server on a
#    free loopback port; the server must still be running when the client
#    is done. A failure prints the reason, indented, under its line.
#    PEER "NAME+deflate": permessage-deflate (RFC 7692) agreed and checked on the
#    wire. Both sides offer/accept it (wsmachine's client with --deflate, its
#    echo_server by default, the peer with --deflate), and the client connects
#    through conformance/peers/wire_proxy.py, which forwards every byte, parses
#    every frame, unmasks and inflates every compressed message itself. The
#    pairing passes only if, besides the echoes, both programs print
#    "extensions: permessage-deflate..." (what each side agreed), the proxy saw
#    a 101 with permessage-deflate, RSV1 messages in BOTH directions, no
#    RSV2/RSV3, every compressed message inflating, and wsmachine's side sending
#    every whole message of >= 32 bytes compressed. Its PASS line is followed by
#    the proxy's summary (messages with RSV1, bytes on the wire vs inflated).
# Ends with "interop: N passed, M failed"; exit 0 only if M is 0 (a failed
# install or build counts as a failure).
#
# Environment (for validating this script with third-party programs on both
# sides, or for running part of the matrix):
#   OUR_SERVER_CMD  default: target/release/examples/echo_server 127.0.0.1:{port}
#                   must print a line containing "listening on" when ready
#   OUR_CLIENT_CMD  default: target/release/examples/interop_client {url} --version {version} {deflate}
#                   {port}, {url}, {version} are substituted, and {deflate} by
#                   "--deflate" in the +deflate pairings ("" elsewhere); commands run
#                   with bash from the repository root. When both are set, no cargo
#                   build. In +deflate pairings both must print a line containing
#                   "extensions: permessage-deflate" (the server: per connection).
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
DEFAULT_CLIENT='target/release/examples/interop_client {url} --version {version} {deflate}'
SERVER_CMD=${OUR_SERVER_CMD:-$DEFAULT_SERVER}
CLIENT_CMD=${OUR_CLIENT_CMD:-$DEFAULT_CLIENT}
ONLY=${INTEROP_ONLY:-}
LOGS=${INTEROP_LOGS:-$(mktemp -d /tmp/wsmachine-interop.XXXXXX)}
mkdir -p "$LOGS"
CLIENT_LIMIT=60   # seconds per client run (the peer clients stop themselves after 30)
SERVER_LIMIT=120  # seconds a server may live
READY_LIMIT=20    # seconds for a server to print its "listening on" line
WIRE_LIMIT=10     # seconds for the proxy to see the connection end once the client is done

PY=$PEERS/.venv/bin/python
# Peer programs. Clients take URL VERSION; servers take PORT [SECONDS].
declare -A PEER_CLIENT=(
  [ruby-websocket]="ruby $PEERS/ruby_client.rb {url} {version}"
  [perl-protocol-websocket]="perl $PEERS/perl_client.pl {url} {version}"
  [ws]="node $PEERS/ws_client.js {url} {version}"
  [websockets]="$PY $PEERS/websockets_client.py {url} {version}"
  [ws+deflate]="node $PEERS/ws_client.js {url} {version} --deflate"
  [websockets+deflate]="$PY $PEERS/websockets_client.py {url} {version} --deflate"
  [chromium+deflate]="node $PEERS/chromium_client.mjs {url} {version} --deflate"
)
declare -A PEER_SERVER=(
  [websocket-driver]="node $PEERS/driver_server.js {port} $SERVER_LIMIT"
  [ruby-websocket]="ruby $PEERS/ruby_server.rb {port} $SERVER_LIMIT"
  [tornado]="$PY $PEERS/tornado_server.py {port} $SERVER_LIMIT"
  [ws]="node $PEERS/ws_server.js {port} $SERVER_LIMIT"
  [websockets]="$PY $PEERS/websockets_server.py {port} $SERVER_LIMIT"
  [ws+deflate]="node $PEERS/ws_server.js {port} $SERVER_LIMIT --deflate"
  [websockets+deflate]="$PY $PEERS/websockets_server.py {port} $SERVER_LIMIT --deflate"
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
  # permessage-deflate, checked on the wire (see above)
  "hybi-08  server ws+deflate"
  "hybi-13  server ws+deflate"  "hybi-13  server websockets+deflate"  "hybi-13  server chromium+deflate"
  "hybi-08  client ws+deflate"
  "hybi-13  client ws+deflate"  "hybi-13  client websockets+deflate"
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

result() {  # result PASS|FAIL VERSION ROLE PEER [REASON-FILE | NOTE-FILE]
  printf '%-4s  %-8s  %-6s  %s\n' "$1" "$2" "$3" "$4"
  if [ "$1" = PASS ]; then
    passed=$((passed + 1))
    [ -n "${5:-}" ] && [ -s "$5" ] && sed 's/^/        /' "$5"
  else
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
expand() {  # expand TEMPLATE PORT URL VERSION [DEFLATE-FLAG]
  local s=$1
  s=${s//\{port\}/$2}; s=${s//\{url\}/$3}; s=${s//\{version\}/$4}; s=${s//\{deflate\}/${5:-}}
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
# wait_ready LOG PID WHAT -> 0 once LOG has a "listening on" line (PID still alive)
wait_ready() {
  local i
  for ((i = 0; i < READY_LIMIT * 10; i++)); do
    grep -q 'listening on' "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'listening on' "$1"
}
# run_pair NAME SERVER_TEMPLATE CLIENT_TEMPLATE VERSION DEFLATE(0|1) OURS(server|client)
#   -> 0 on success; reason in $LOGS/NAME.why; with DEFLATE, the proxy's summary in $LOGS/NAME.note
run_pair() {
  local name=$1 stpl=$2 ctpl=$3 version=$4 deflate=$5 ours=$6
  local port url scmd ccmd spid ppid= pport flag= i rc
  local slog=$LOGS/$name.server.log clog=$LOGS/$name.client.log why=$LOGS/$name.why
  local plog=$LOGS/$name.proxy.log report=$LOGS/$name.wire.jsonl note=$LOGS/$name.note
  : >"$why"; : >"$note"
  port=$(free_port)
  url="ws://127.0.0.1:$port/interop"
  [ "$deflate" = 1 ] && flag=--deflate
  scmd=$(expand "$stpl" "$port" "$url" "$version" "$flag")
  : >"$slog"  # exists before the background job opens it
  timeout -k 5 "$SERVER_LIMIT" bash -c "exec $scmd" >"$slog" 2>&1 &
  spid=$!
  PIDS+=("$spid")
  if ! wait_ready "$slog" "$spid"; then
    { echo "server did not print 'listening on' within ${READY_LIMIT}s: $scmd"; tail -n 5 "$slog"; } >"$why"
    kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    return 1
  fi
  if [ "$deflate" = 1 ]; then
    # the client goes through the wire proxy
    pport=$(free_port)
    : >"$plog"
    timeout -k 5 "$SERVER_LIMIT" python3 "$PEERS/wire_proxy.py" proxy "$pport" "$port" "$report" "$SERVER_LIMIT" >"$plog" 2>&1 &
    ppid=$!
    PIDS+=("$ppid")
    if ! wait_ready "$plog" "$ppid"; then
      { echo "wire proxy did not start within ${READY_LIMIT}s"; tail -n 5 "$plog"; } >"$why"
      kill -TERM "$spid" "$ppid" 2>/dev/null; wait "$spid" "$ppid" 2>/dev/null
      return 1
    fi
    url="ws://127.0.0.1:$pport/interop"
  fi
  ccmd=$(expand "$ctpl" "$port" "$url" "$version" "$flag")
  timeout -k 5 "$CLIENT_LIMIT" bash -c "exec $ccmd" >"$clog" 2>&1
  rc=$?
  if [ "$rc" != 0 ]; then
    { [ "$rc" = 124 ] && echo "client timed out after ${CLIENT_LIMIT}s: $ccmd" || echo "client exited $rc: $ccmd"
      tail -n 5 "$clog"; echo "-- server log:"; tail -n 3 "$slog"; } >"$why"
  elif ! kill -0 "$spid" 2>/dev/null; then
    { echo "server exited during the session: $scmd"; tail -n 5 "$slog"; } >"$why"
    rc=1
  elif [ "$deflate" = 1 ]; then
    # what each side says it agreed, then what went over the wire
    for ((i = 0; i < WIRE_LIMIT * 10; i++)); do
      [ -s "$report" ] && break
      sleep 0.1
    done
    if ! grep -q 'extensions: permessage-deflate' "$slog"; then
      { echo "the server printed no 'extensions: permessage-deflate': $scmd"; tail -n 3 "$slog"; } >"$why"; rc=1
    elif ! grep -q 'extensions: permessage-deflate' "$clog"; then
      { echo "the client printed no 'extensions: permessage-deflate': $ccmd"; tail -n 3 "$clog"; } >"$why"; rc=1
    elif [ ! -s "$report" ]; then
      { echo "the wire proxy saw no connection end within ${WIRE_LIMIT}s"; tail -n 3 "$plog"; } >"$why"; rc=1
    elif ! python3 "$PEERS/wire_proxy.py" check "$report" "$ours" >"$note" 2>"$why"; then
      rc=1
    else
      { grep -h -m1 'extensions: permessage-deflate' "$slog" | sed 's/^/server: /'
        grep -h -m1 'extensions: permessage-deflate' "$clog" | sed 's/^/client: /'; } >>"$note"
    fi
  fi
  kill -TERM "$spid" $ppid 2>/dev/null
  wait "$spid" $ppid 2>/dev/null
  return "$rc"
}

ran=0
for row in "${MATRIX[@]}"; do
  read -r version role peer <<<"$row"
  if [ -n "$ONLY" ] && ! [[ "$version $role $peer" =~ $ONLY ]]; then continue; fi
  ran=$((ran + 1))
  name="$version-$role-$peer"
  deflate=0
  [[ "$peer" == *+deflate ]] && deflate=1
  if [ "$role" = server ]; then
    run_pair "$name" "$SERVER_CMD" "${PEER_CLIENT[$peer]}" "$version" "$deflate" server
  else
    run_pair "$name" "${PEER_SERVER[$peer]}" "$CLIENT_CMD" "$version" "$deflate" client
  fi
  if [ $? = 0 ]; then result PASS "$version" "$role" "$peer" "$LOGS/$name.note"
  else result FAIL "$version" "$role" "$peer" "$LOGS/$name.why"; fi
done
[ "$ran" -gt 0 ] || { echo "interop.sh: INTEROP_ONLY='$ONLY' matched no pairing" >&2; result FAIL - - "no pairing ran"; }
finish
}
