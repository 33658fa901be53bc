#!/usr/bin/env bash
# Checks the tokio examples (tokio_echo_server, tokio_client) against each other, against their
# std counterparts, and against the third-party peers of conformance/interop.sh.
#
#   scripts/tokio_check.sh
#
# 1. Local: tokio_client against tokio_echo_server in every version, tokio_client against
#    echo_server, client against tokio_echo_server, the 426 answer to a plain HTTP request,
#    and tokio_echo_server's log of version and path.
# 2. conformance/interop.sh, twice, each run limited (INTEROP_ONLY) to the pairings where the
#    tokio program is wsmachine's side:
#    - OUR_SERVER_CMD=tokio_echo_server, the "server" rows: the peer clients (ruby, perl,
#      npm ws, PyPI websockets, headless Chromium; +deflate rows through the wire proxy) in
#      every version they speak;
#    - OUR_CLIENT_CMD="tokio_client --interop", the "client" rows: the peer servers
#      (websocket-driver, ruby, tornado, ws, websockets; +deflate rows) in every hybi
#      version and both hixie ones.
#    interop.sh would take both overrides in one run; two runs keep each role's summary apart,
#    and the filter keeps the default echo_server/interop_client out of both, so that every
#    pairing counted here has a tokio program on wsmachine's side.
# Each interop.sh line is counted: the last line is `tokio: N passed, M failed`, and the exit
# status is non-zero if anything failed (a failed build or peer install counts).
#
# Environment: INTEROP_LOGS as for interop.sh (per-pairing logs; each run gets a subfolder).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# interop.sh runs its commands from the repository root with its own substitutions.
server_cmd="$bin/tokio_echo_server 127.0.0.1:{port}"
client_cmd="$bin/tokio_client {url} --version {version} --interop {deflate}"

echo "# cargo build --release (tokio_echo_server, tokio_client, echo_server, client, interop_client)"
if ! cargo_build --example tokio_echo_server --example tokio_client \
    --example echo_server --example client --example interop_client; then
    fail "cargo build"
    finish
fi

# ---------------------------------------------------------------- 1. local
if ! launch tokio_server timeout -k 5 600 "$bin/tokio_echo_server" 127.0.0.1:0; then
    fail "tokio_echo_server did not start"; cat "$work/tokio_server.err"; finish
fi
tokio_url="$URL"
if ! launch std_server timeout -k 5 600 "$bin/echo_server" 127.0.0.1:0; then
    fail "echo_server did not start"; cat "$work/std_server.err"; finish
fi
std_url="$URL"

for version in hixie-75 hixie-76 hybi-07 hybi-08 hybi-13; do
    echo_check tokio_client "$tokio_url" tokio_echo_server "$version"
    echo_check tokio_client "$std_url" echo_server "$version"
    echo_check client "$tokio_url" tokio_echo_server "$version"
done

logs_check tokio_echo_server "$work/tokio_server.err"

status="$(timeout 10 python3 - "${tokio_url#ws://}" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
EOF
)"
if [[ "$status" == "HTTP/1.1 426"* ]]; then
    pass "tokio_echo_server answers a plain HTTP request with 426"
else
    fail "tokio_echo_server answers a plain HTTP request with 426 (got: $status)"
fi

# ---------------------------------------------------------------- 2. interop.sh
interop server tokio_echo_server "OUR_SERVER_CMD=$server_cmd"
interop client tokio_client "OUR_CLIENT_CMD=$client_cmd"

finish
