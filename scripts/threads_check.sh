#!/usr/bin/env bash
# The thread-per-connection servers (echo_server, chat_server) when no thread can be started:
# each runs with its address space limited (prlimit --as) so that only a few dozen threads
# fit, 150 clients open WebSockets at once, and the server must drop the connections it has
# no thread for, keep serving the ones it has, and accept again once they are gone, rather
# than end the whole process.
#
#   scripts/threads_check.sh
#
# The last line is `threads: N passed, M failed`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

echo "# cargo build --release (echo_server, chat_server)"
if ! cargo_build --example echo_server --example chat_server; then
    fail "cargo build"
    finish
fi

# Room for the process and some 30 thread stacks of 2 MiB each.
limit=$((200 * 1024 * 1024))

# crowd NAME URL PATH: 150 WebSockets at once on the server at URL, then one more after they
# closed; prints "open N dropped M after STATUS".
crowd() {
    timeout 60 python3 - "$2" "$3" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split("://", 1)[1].rstrip("/").rsplit(":", 1)
request = (
    f"GET {sys.argv[2]} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
    f"Connection: Upgrade\r\nOrigin: http://{host}:{port}\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()

def attempt():
    s = socket.create_connection((host, int(port)), timeout=3)
    s.sendall(request)
    try:
        return s, s.recv(200).startswith(b"HTTP/1.1 101")
    except (socket.timeout, ConnectionResetError):
        return s, False

results = [attempt() for _ in range(150)]
opened = sum(ok for _, ok in results)
for s, _ in results:
    s.close()
time.sleep(1)
_, ok = attempt()
print(f"open {opened} dropped {150 - opened} after {'101' if ok else 'nothing'}")
PY
}

# check NAME PATH ARGS...: NAME under the limit, crowded, still there and serving.
check() {
    local name=$1 path=$2 got
    shift 2
    if ! launch "$name" prlimit --as="$limit" "$bin/$name" 127.0.0.1:0 "$@"; then
        fail "$name did not start under the limit"; cat "$work/$name.err"; return
    fi
    got="$(crowd "$name" "$URL" "$path")"
    echo "# $name: $got"
    local opened dropped after
    read -r _ opened _ dropped _ after <<<"$got"
    if [ "${dropped:-0}" -gt 0 ] && [ "${opened:-0}" -gt 0 ] && [ "$after" = 101 ] &&
        kill -0 "$PID" 2>/dev/null; then
        pass "$name drops the connections it has no thread for, serves the rest, and accepts again"
    else
        fail "$name out of threads (${got:-no result})" "$work/$name.err"
    fi
    if grep -q "no thread for" "$work/$name.err"; then
        pass "$name says why it dropped them"
    else
        fail "$name says why it dropped them" "$work/$name.err"
    fi
}

check echo_server /
check chat_server /chat

finish
