#!/usr/bin/env bash
# Checks the smol examples: smol_client against smol_echo_server for every version, each
# against its std counterpart, a refused handshake, and the 1,000-connection load test.
# Ends with `smol: N passed, M failed`; exits non-zero if anything failed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
CONNECTIONS="${SMOL_LOAD_CONNECTIONS:-1000}"
MESSAGES="${SMOL_LOAD_MESSAGES:-100}"

cargo_build --example smol_echo_server --example smol_client --example smol_load \
    --example echo_server --example client || exit 1

# Each server and the load client hold one descriptor per connection, plus a few.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNECTIONS + 256)) ]; then
    ulimit -n $((CONNECTIONS + 256)) || { echo "smol_check: cannot raise ulimit -n"; exit 1; }
fi

# start NAME BINARY: runs a server on a port of its choosing; sets URL and PID.
start() {
    launch "$1" "$2" 127.0.0.1:0 && return 0
    echo "smol_check: $1 did not start"; cat "$work/$1.err"; exit 1
}

start smol_server "$bin/smol_echo_server"; smol_url="$URL"; smol_pid="$PID"
start std_server "$bin/echo_server"; std_url="$URL"

for client in smol_client client; do
    for url in "$smol_url" "$std_url"; do
        [ "$client" = client ] && [ "$url" = "$std_url" ] && continue
        server="$([ "$url" = "$smol_url" ] && echo smol_echo_server || echo echo_server)"
        for version in hixie-75 hixie-76 hybi-07 hybi-08 hybi-13; do
            echo_check "$client" "$url" "$server" "$version"
        done
    done
done

# The server logs each connection's version and path, as echo_server does.
logs_check smol_echo_server "$work/smol_server.err"

# A handshake the server refuses (a plain HTTP server answers 404) fails the client.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work" >"$work/http.out" 2>&1 &
pids+=($!)
http_port="$(await_match "$work/http.out" 's/.*port \([0-9]*\).*/\1/p')"
if echo hi | timeout 10 "$bin/smol_client" "ws://127.0.0.1:$http_port/missing" >"$work/refused.out" 2>"$work/refused.err"; then
    fail "smol_client exits non-zero on a refused handshake"
elif grep -q "404" "$work/refused.err" && [ ! -s "$work/refused.out" ]; then
    pass "smol_client exits non-zero on a refused handshake"
else
    fail "smol_client exits non-zero on a refused handshake (stderr: $(cat "$work/refused.err"))"
fi

echo "load: $CONNECTIONS connections x $MESSAGES messages against smol_echo_server"
if timeout 90 "$bin/smol_load" "$smol_url/load" --connections "$CONNECTIONS" --messages "$MESSAGES" \
    --timeout 60 --server-pid "$smol_pid"; then
    pass "load test"
else
    fail "load test"
fi
opened="$(grep -c ': hybi-13 /load$' "$work/smol_server.err")"
closed="$(grep -c ': closed 1000 $' "$work/smol_server.err")"
if [ "$opened" -eq "$CONNECTIONS" ] && [ "$closed" -ge "$CONNECTIONS" ]; then
    pass "server saw $opened load connections open and close with 1000"
else
    fail "server saw $opened load connections open, $closed closes with 1000"
fi

finish
