#!/usr/bin/env bash
# Checks examples/event_loop_server.rs (io_uring, one thread) from outside.
#
#   scripts/event_loop_check.sh
#
# 1. Our client in every version (hixie-75, hixie-76, hybi-07, hybi-08, hybi-13), echoes and
#    the close.
# 2. scripts/event_loop/check.py with PyPI websockets and plain sockets, against the server with
#    --deflate and a second one with --max-connections 2 and without: a broadcast reaches every
#    connection exactly once, a peer that reads nothing is dropped once 1 MiB waits behind its
#    send, binary and 800 KB echoes, 426 for plain HTTP, a request sent a byte at a time,
#    protocol violations closed with 1002 and 1007, a full slot table holding a new connection
#    until a slot frees, 1009 for a broadcast over 64 KiB, deflate agreed only with --deflate,
#    a peer that takes no bytes of its send for 10 s dropped, 408 for a request unfinished
#    after 10 s.
# 3. conformance/interop.sh's server rows with the event-loop server as wsmachine's side: the
#    peer clients (ruby, perl, npm ws, PyPI websockets, headless Chromium; +deflate rows) in
#    every version they speak.
# The last line is `event_loop: N passed, M failed`; the exit status is non-zero if anything
# failed. Autobahn|Testsuite runs against the server from .ci/run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

echo "# cargo build --release (event_loop_server, client)"
if ! cargo_build --example event_loop_server --example client; then
    fail "cargo build"
    finish
fi
step "install the third-party peers" install_peers
python=conformance/peers/.venv/bin/python

if ! launch server timeout -k 5 600 "$bin/event_loop_server" 127.0.0.1:0 --deflate; then
    fail "event_loop_server did not start"; cat "$work/server.err"; finish
fi
url="$URL"
if ! launch small timeout -k 5 600 "$bin/event_loop_server" 127.0.0.1:0 --max-connections 2; then
    fail "event_loop_server --max-connections 2 did not start"; cat "$work/small.err"; finish
fi
small_url="$URL"

# ---------------------------------------------------------------- 1. every version
for version in hixie-75 hixie-76 hybi-07 hybi-08 hybi-13; do
    echo_check client "$url" event_loop_server "$version"
done

# ---------------------------------------------------------------- 2. check.py
timeout -k 5 120 "$python" scripts/event_loop/check.py "$url" "$small_url" >"$work/check.log" 2>&1
rc=$?
while read -r word rest; do
    case "$word" in
        ok) pass "$rest" ;;
        FAIL) fail "$rest" ;;
    esac
done <"$work/check.log"
if [ $rc -ne 0 ] && ! grep -q '^FAIL' "$work/check.log"; then
    fail "check.py exited $rc" "$work/check.log"
fi
# Its log holds one line per accepted WebSocket, and nothing else.
if grep -qv '^connection [0-9]*: ' "$work/server.err"; then
    grep -v '^connection [0-9]*: ' "$work/server.err" >"$work/errors"
    fail "event_loop_server logged errors" "$work/errors"
elif grep -q '^connection [0-9]*: hixie-75 /check$' "$work/server.err" &&
    grep -q '^connection [0-9]*: hybi-13 / extensions: permessage-deflate' "$work/server.err"; then
    pass "event_loop_server logs each WebSocket's version, path and extension"
else
    fail "event_loop_server logs each WebSocket's version, path and extension" "$work/server.err"
fi

# ---------------------------------------------------------------- 3. interop.sh
interop server event_loop_server "OUR_SERVER_CMD=$bin/event_loop_server 127.0.0.1:{port} --deflate"

finish
