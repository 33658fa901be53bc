#!/usr/bin/env bash
# Checks wss:// for the std examples (echo_server --cert/--key, client --ca) with a throwaway
# CA and server certificate made at run time (test_cert example; no key is ever committed):
# PyPI websockets and headless Chromium against echo_server, client against a websockets
# TLS server and against echo_server (hixie-76, hybi-13), and client refusing the test
# certificate when it trusts only the platform's roots.
# Ends with `tls: N passed, M failed`; exits non-zero if anything failed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
PASS_WORD=PASS
peers="$PWD/conformance/peers"
here="$PWD/scripts/tls"

install_peers || { echo "tls_check: conformance/peers/install.sh failed"; exit 1; }
cargo_build --example echo_server --example client --example test_cert || exit 1
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

# Chromium pins the server certificate's public key (see chromium_tls_client.mjs).
spki="$(spki_of "$work/cert.pem")"
check "chromium -> echo_server (wss://localhost, pinned SPKI)" "chromium_tls_client: OK" \
    node "$here/chromium_tls_client.mjs" "wss://localhost:$port/chromium" "$spki"

input=$'hello over TLS\n\nwörld, ünïcödé\n'"$(head -c 100000 /dev/zero | tr '\0' x)"
# client_check NAME URL VERSION: our client echoes stdin through the server at URL. The end
# of stdin (the client's close) waits a second: websockets answers a close at once and drops
# the echoes it has not sent yet, as RFC 6455 lets it.
client_check() {
    local closed got rc
    case "$3" in hixie-*) closed=closed ;; *) closed="closed 1000" ;; esac
    got="$({ printf '%s\n' "$input"; sleep 1; } | timeout 30 "$bin/client" "$2" --version "$3" --ca "$work/ca.pem" 2>"$work/client.err")"
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
client_check "client -> websockets server (wss, hybi-13)" "$URL/client" hybi-13
for version in hixie-76 hybi-13; do
    client_check "client -> echo_server (wss, $version)" "$ours/client" "$version"
done
if grep -q ": hixie-76 /client$" "$work/echo_server.err"; then
    pass "echo_server logs TLS connections"
else
    fail "echo_server logs TLS connections"; head -5 "$work/echo_server.err"
fi

# Without --ca only the platform's roots are trusted: the test certificate must be refused.
got="$(echo hi | timeout 30 "$bin/client" "$ours/untrusted" 2>&1)"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qi "certificate" <<<"$got"; then
    pass "client without --ca refuses the test certificate (exit $rc: $got)"
else
    fail "client without --ca refuses the test certificate (exit $rc)"; echo "$got" | head -5
fi
# The server survives the refused handshake (and said so) and still serves.
if grep -q "TLS handshake failed" "$work/echo_server.err"; then
    pass "echo_server logs the refused TLS handshake"
else
    fail "echo_server logs the refused TLS handshake"; tail -5 "$work/echo_server.err"
fi
client_check "client -> echo_server after a failed handshake (wss, hybi-13)" "$ours/after" hybi-13

finish
