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
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$CARGO_TARGET_DIR/release/examples"
# interop.sh runs its commands from the repository root with its own substitutions.
server_cmd="$bin/tokio_echo_server 127.0.0.1:{port}"
client_cmd="$bin/tokio_client {url} --version {version} --interop {deflate}"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
summary() {
    echo "tokio: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

work="$(mktemp -d /tmp/wsmachine-tokio.XXXXXX)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "tokio_check: interrupted" >&2; exit 130' INT
trap 'echo "tokio_check: terminated" >&2; exit 143' TERM

echo "# cargo build --release (tokio_echo_server, tokio_client, echo_server, client, interop_client)"
if ! timeout -k 10 1800 cargo build --release --quiet \
    --example tokio_echo_server --example tokio_client \
    --example echo_server --example client --example interop_client; then
    fail "cargo build"
    summary
fi

# ---------------------------------------------------------------- 1. local
# start NAME BINARY: runs a server on a free port; sets URL.
start() {
    timeout -k 5 600 "$2" 127.0.0.1:0 >"$work/$1.out" 2>"$work/$1.err" &
    pids+=($!)
    URL=""
    for _ in $(seq 100); do
        URL="$(sed -n 's/^listening on //p' "$work/$1.out")"
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    return 1
}
if ! start tokio_server "$bin/tokio_echo_server"; then
    fail "tokio_echo_server did not start"; cat "$work/tokio_server.err"; summary
fi
tokio_url="$URL"
if ! start std_server "$bin/echo_server"; then
    fail "echo_server did not start"; cat "$work/std_server.err"; summary
fi
std_url="$URL"

input=$'hello\n\nwörld, ünïcödé\n'"$(head -c 3000 /dev/zero | tr '\0' x)"
# check CLIENT URL SERVER-NAME VERSION
check() {
    local closed expected got rc name="$1 -> $3 $4"
    case "$4" in hixie-*) closed=closed ;; *) closed="closed 1000" ;; esac
    expected="$input"$'\n'"$closed"
    got="$(printf '%s\n' "$input" | timeout 20 "$bin/$1" "$2/check" --version "$4" 2>"$work/client.err")"
    rc=$?
    if [ $rc -eq 0 ] && [ "$got" = "$expected" ]; then
        pass "$name"
    else
        fail "$name (exit $rc)"; diff <(echo "$expected") <(echo "$got") | head -5; cat "$work/client.err"
    fi
}
for version in hixie-75 hixie-76 hybi-07 hybi-08 hybi-13; do
    check tokio_client "$tokio_url" tokio_echo_server "$version"
    check tokio_client "$std_url" echo_server "$version"
    check client "$tokio_url" tokio_echo_server "$version"
done

if grep -q ": hybi-08 /check$" "$work/tokio_server.err" && grep -q ": hixie-75 /check$" "$work/tokio_server.err"; then
    pass "tokio_echo_server logs version and path"
else
    fail "tokio_echo_server logs version and path"; head -5 "$work/tokio_server.err"
fi

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
logs_root="${INTEROP_LOGS:-}"
# interop ROLE NAME [VAR=VALUE]...: runs interop.sh on ROLE's rows and counts its lines.
interop() {
    local role=$1 name=$2 log="$work/interop-$1.log"
    shift 2
    echo "# conformance/interop.sh, $name as wsmachine's $role"
    (
        export INTEROP_ONLY="^[^ ]+ $role "
        [ -n "$logs_root" ] && export INTEROP_LOGS="$logs_root/$role"
        export "$@"
        timeout -k 10 3600 bash conformance/interop.sh
    ) 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]} line p f
    line="$(grep -E '^interop: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
    if [ -z "$line" ]; then
        fail "interop.sh ($name as $role) exited $rc without a summary"
        return
    fi
    read -r p f <<<"$(sed -E 's/^interop: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$line")"
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        fail "interop.sh ($name as $role) exited $rc"
    fi
}
interop server tokio_echo_server "OUR_SERVER_CMD=$server_cmd"
interop client tokio_client "OUR_CLIENT_CMD=$client_cmd"

summary
