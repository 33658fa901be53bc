#!/usr/bin/env bash
# Checks wss:// for the std examples (echo_server --cert/--key, client --ca) and the tokio ones
# (tokio_echo_server --cert/--key, tokio_client --ca) with a throwaway CA and server
# certificate made at run time (test_cert example; no key is ever committed):
# PyPI websockets and headless Chromium against echo_server, PyPI websockets against
# tokio_echo_server, client and tokio_client against a websockets TLS server and against
# their own server (hixie-76, hybi-13; tokio_client --interop too), each client against the
# other's server, each client refusing the test certificate when it trusts only the
# platform's roots, and tokio_echo_server dropping a client that never starts TLS.
# Ends with `tls: N passed, M failed`; exits non-zero if anything failed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
PASS_WORD=PASS
peers="$PWD/conformance/peers"
here="$PWD/scripts/tls"

install_peers || { echo "tls_check: conformance/peers/install.sh failed"; exit 1; }
cargo_build --example echo_server --example client --example test_cert \
    --example tokio_echo_server --example tokio_client || exit 1
"$bin/test_cert" "$work" >/dev/null || { echo "tls_check: test_cert failed"; exit 1; }

# start NAME COMMAND...: runs a server that prints `listening on URL`; sets URL.
start() {
    launch "$@" && return 0
    echo "tls_check: $1 did not start"; cat "$work/$1.err"; exit 1
}

start echo_server "$bin/echo_server" 127.0.0.1:0 --cert "$work/cert.pem" --key "$work/key.pem"
ours="$URL"
case "$ours" in wss://127.0.0.1:*) ;; *) echo "tls_check: echo_server printed '$ours'"; exit 1 ;; esac
port="${ours##*:}"
start tokio_echo_server "$bin/tokio_echo_server" 127.0.0.1:0 --cert "$work/cert.pem" --key "$work/key.pem"
tokio="$URL"
case "$tokio" in wss://127.0.0.1:*) ;; *) echo "tls_check: tokio_echo_server printed '$tokio'"; exit 1 ;; esac
# A client that connects and never starts TLS, for tokio_echo_server's handshake timeout
# (checked at the end, 10 s on).
timeout 20 python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(15)' "${tokio##*:}" &
pids+=("$!")

# check NAME EXPECTED COMMAND...: passes when COMMAND exits 0 within 60 s and prints EXPECTED.
check() {
    local name=$1 expected=$2
    shift 2
    local out rc
    out="$(timeout 60 "$@" 2>&1)"
    rc=$?
    if [ $rc -eq 0 ] && grep -qF -- "$expected" <<<"$out"; then
        pass "$name"
    else
        fail "$name (exit $rc)"; tail -5 <<<"$out"
    fi
}

check "websockets client -> echo_server (wss, ca.pem)" "websockets_tls_client: OK" \
    "$peers/.venv/bin/python" "$here/websockets_tls_client.py" "$ours/py" "$work/ca.pem"
check "websockets client -> tokio_echo_server (wss, ca.pem)" "websockets_tls_client: OK" \
    "$peers/.venv/bin/python" "$here/websockets_tls_client.py" "$tokio/py" "$work/ca.pem"

# Chromium pins the server certificate's public key (see chromium_tls_client.mjs).
spki="$(spki_of "$work/cert.pem")"
check "chromium -> echo_server (wss://localhost, pinned SPKI)" "chromium_tls_client: OK" \
    node "$here/chromium_tls_client.mjs" "wss://localhost:$port/chromium" "$spki"

input=$'hello over TLS\n\nwörld, ünïcödé\n'"$(head -c 100000 /dev/zero | tr '\0' x)"
# client_check NAME URL VERSION [CLIENT]: our client (client unless CLIENT names another
# example) echoes stdin through the server at URL. The end of stdin (the client's close) waits
# a second: websockets answers a close at once and drops the echoes it has not sent yet, as
# RFC 6455 lets it.
client_check() {
    local closed got rc
    case "$3" in hixie-*) closed=closed ;; *) closed="closed 1000" ;; esac
    got="$({ printf '%s\n' "$input"; sleep 1; } | timeout 30 "$bin/${4:-client}" "$2" --version "$3" --ca "$work/ca.pem" 2>"$work/client.err")"
    rc=$?
    if [ $rc -eq 0 ] && [ "$got" = "$input"$'\n'"$closed" ]; then
        pass "$1"
    else
        fail "$1 (exit $rc)"; diff <(printf '%s\n' "$input" "$closed") <(echo "$got") | head -5 | cut -c1-200
        cat "$work/client.err"
    fi
}

start websockets_server "$peers/.venv/bin/python" "$here/websockets_tls_server.py" \
    "$work/cert.pem" "$work/key.pem" 120
websockets="$URL"
client_check "client -> websockets server (wss, hybi-13)" "$websockets/client" hybi-13
client_check "tokio_client -> websockets server (wss, hybi-13)" "$websockets/tokio" hybi-13 tokio_client
for version in hixie-76 hybi-13; do
    client_check "client -> echo_server (wss, $version)" "$ours/client" "$version"
    client_check "tokio_client -> tokio_echo_server (wss, $version)" "$tokio/tokio" "$version" tokio_client
done
client_check "client -> tokio_echo_server (wss, hybi-13)" "$tokio/client" hybi-13
client_check "tokio_client -> echo_server (wss, hybi-13)" "$ours/tokio" hybi-13 tokio_client
for server in "websockets server|$websockets" "tokio_echo_server|$tokio"; do
    check "tokio_client --interop -> ${server%%|*} (wss, hybi-13)" "tokio_client: hybi-13 ok:" \
        "$bin/tokio_client" "${server#*|}/interop" --interop --ca "$work/ca.pem"
done
for server in echo_server:client tokio_echo_server:tokio; do
    if grep -q ": hixie-76 /${server#*:}$" "$work/${server%:*}.err"; then
        pass "${server%:*} logs TLS connections"
    else
        fail "${server%:*} logs TLS connections"; head -5 "$work/${server%:*}.err"
    fi
done

# Without --ca only the platform's roots are trusted: the test certificate must be refused.
# untrusted_check CLIENT SERVER URL
untrusted_check() {
    local got rc
    got="$(echo hi | timeout 30 "$bin/$1" "$3/untrusted" 2>&1)"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qi "certificate" <<<"$got"; then
        pass "$1 without --ca refuses the test certificate (exit $rc: $got)"
    else
        fail "$1 without --ca refuses the test certificate (exit $rc)"; echo "$got" | head -5
    fi
    # The server survives the refused handshake (and said so) and still serves.
    if grep -q "TLS handshake failed" "$work/$2.err"; then
        pass "$2 logs the refused TLS handshake"
    else
        fail "$2 logs the refused TLS handshake"; tail -5 "$work/$2.err"
    fi
    client_check "$1 -> $2 after a failed handshake (wss, hybi-13)" "$3/after" hybi-13 "$1"
}
untrusted_check client echo_server "$ours"
untrusted_check tokio_client tokio_echo_server "$tokio"

if await_match "$work/tokio_echo_server.err" '/TLS handshake timed out$/p' >/dev/null; then
    pass "tokio_echo_server drops a client that never starts TLS"
else
    fail "tokio_echo_server drops a client that never starts TLS"; tail -5 "$work/tokio_echo_server.err"
fi

finish
