#!/usr/bin/env bash
# Checks examples/axum_server.rs with third-party clients on loopback:
#   - npm ws (hybi-13, hybi-08, hybi-13 + permessage-deflate) and PyPI websockets (hybi-13,
#     with and without permessage-deflate), through conformance/peers/*_client.*: text and
#     binary echoes of 0 B to 1 MiB, a fragmented message, ping/pong, close 1000;
#   - headless Chromium through conformance/peers/chromium_client.mjs (with and without
#     permessage-deflate; its page is about:blank, whose origin is "null", so those servers
#     run with --allow-origin null), and on the server's own `/` page, whose origin is the
#     one the default allowlist admits;
#   - a raw socket (python3): the request with a frame and a close right behind it in one
#     write (nothing read ahead by hyper may be lost), the server's own Origin, the
#     subprotocol `chat`, Sec-WebSocket-Accept;
#   - curl: `/`, `/health`, a foreign Origin (403), a plain GET on /ws (426), a bad key (400),
#     a POST upgrade (400), an HTTP/1.0 upgrade (400), an unknown version (426), two Origin
#     headers with the allowed one first (400), two Sec-WebSocket-Version headers (400);
#   - a raw socket trickling a request head a byte at a time: closed by the header read
#     timeout (10 s) within 15 s.
# Installs the peers with conformance/peers/install.sh. Ends with `axum: N passed, M failed`;
# exits non-zero if anything failed. Every step is bounded by `timeout`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
PEERS=$PWD/conformance/peers
PY=$PEERS/.venv/bin/python

step "cargo build --example axum_server" cargo_build --example axum_server
step "conformance/peers/install.sh" install_peers

# start NAME [ARGS...]: a server on a free port for at most 5 minutes; sets URL (http://...).
start() {
    launch "$1" timeout -k 5 300 "$bin/axum_server" "127.0.0.1:$(free_port)" "${@:2}" && return 0
    fail "$1 did not print 'listening on' within 10 s" "$work/$1.err"
    finish
}

# client NAME LIMIT COMMAND...: passes when COMMAND exits 0 within LIMIT seconds.
client() {
    local name=$1 limit=$2 log="$work/client.$passed.$failed.log"
    shift 2
    if timeout -k 5 "$limit" "$@" >"$log" 2>&1; then
        pass "$name: $(grep -m1 -E 'OK|ok' "$log")"
    else
        fail "$name (exit $?)" "$log"
    fi
}

start main
main_url=$URL
ws_url="${main_url/http:/ws:}/ws"
start browser --allow-origin null
browser_ws="${URL/http:/ws:}/ws"
start browser_plain --allow-origin null --no-deflate
browser_plain_ws="${URL/http:/ws:}/ws"

client "npm ws hybi-13" 60 node "$PEERS/ws_client.js" "$ws_url" 13
client "npm ws hybi-08" 60 node "$PEERS/ws_client.js" "$ws_url" 8
client "npm ws hybi-13 permessage-deflate" 60 node "$PEERS/ws_client.js" "$ws_url" 13 --deflate
client "PyPI websockets hybi-13" 60 "$PY" "$PEERS/websockets_client.py" "$ws_url" 13
client "PyPI websockets hybi-13 permessage-deflate" 60 \
    "$PY" "$PEERS/websockets_client.py" "$ws_url" 13 --deflate
client "chromium permessage-deflate" 90 node "$PEERS/chromium_client.mjs" "$browser_ws" 13 --deflate
client "chromium --no-deflate" 90 node "$PEERS/chromium_client.mjs" "$browser_plain_ws" 13

# The server's own page in the browser: its Origin is the server's, which the default
# allowlist admits, and its script asks for the subprotocol `chat`.
cat >"$work/page.js" <<'EOF'
const { chromium } = require(process.argv[2] + "/node_modules/playwright-core");
const url = process.argv[3];
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => /closed \d+/.test(document.getElementById("log").textContent), null, { timeout: 20000 });
    const log = await page.textContent("#log");
    console.log(log.trim().replace(/\n/g, " | "));
    const ok = /open, protocol chat/.test(log) && /echo: hello/.test(log) && /closed 1000/.test(log);
    console.log(ok ? "ok" : "FAIL: unexpected page log");
    process.exitCode = ok ? 0 : 1;
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(String(e)); process.exitCode = 1; });
EOF
log="$work/page.log"
if timeout -k 5 60 node "$work/page.js" "$PEERS" "$main_url/" >"$log" 2>&1 && grep -qx ok "$log"; then
    pass "chromium on $main_url/ (default allowlist): $(head -n 1 "$log")"
else
    fail "chromium on $main_url/ (default allowlist)" "$log"
fi

# Raw socket: the request, a masked text frame and a masked close frame in one write, so
# that hyper reads the frames along with the head.
cat >"$work/raw.py" <<'EOF'
import base64, hashlib, os, socket, struct, sys
host, port = sys.argv[1].split(":")
key = base64.b64encode(os.urandom(16)).decode()
def frame(opcode, payload):
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
request = (
    "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: superchat, chat\r\n"
    "Origin: http://%s\r\n\r\n" % (sys.argv[1], key, sys.argv[1])
).encode()
text = "read ahead ☃".encode()
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(request + frame(1, text) + frame(8, struct.pack("!H", 1000) + b"bye"))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
lines = head.decode().split("\r\n")
headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
def check(cond, what):
    if not cond:
        print("FAIL: %s (head %r, rest %r)" % (what, head, rest[:64]))
        sys.exit(1)
check(lines[0].startswith("HTTP/1.1 101"), "status 101")
check(headers.get("sec-websocket-accept") == want, "Sec-WebSocket-Accept")
check(headers.get("sec-websocket-protocol") == "chat", "subprotocol chat")
check(rest[:2] == bytes([0x81, len(text)]) and rest[2:2 + len(text)] == text, "text echo")
close = rest[2 + len(text):]
check(close[:1] == b"\x88" and close[2:4] == struct.pack("!H", 1000), "close 1000")
print("ok (101, accept key, subprotocol chat, echo of a frame sent with the request, close 1000)")
EOF
client "raw socket: frames behind the request, own Origin" 20 python3 "$work/raw.py" "${main_url#http://}"

# http_check NAME WANT-STATUS WANT-BODY-REGEX CURL-ARGS...
http_check() {
    local name=$1 want=$2 body=$3 got
    shift 3
    got="$(timeout -k 5 15 curl -s -o "$work/body" -w '%{http_code}' --max-time 10 "$@")"
    if [ "$got" = "$want" ] && grep -qE "$body" "$work/body"; then
        pass "$name: $got $(head -c 60 "$work/body" | head -n 1)"
    else
        echo "status $got, body: $(head -c 200 "$work/body")" >"$work/why"
        fail "$name: want $want" "$work/why"
    fi
}
upgrade=(-H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13')
good_key=(-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
http_check "GET /" 200 'wsmachine' "$main_url/"
http_check "GET /health" 200 '^ok$' "$main_url/health"
http_check "foreign Origin on /ws" 403 'origin' "${upgrade[@]}" "${good_key[@]}" \
    -H 'Origin: http://evil.example' "$main_url/ws"
http_check "plain GET /ws" 426 'WebSocket' "$main_url/ws"
http_check "bad Sec-WebSocket-Key" 400 'Sec-WebSocket-Key' "${upgrade[@]}" \
    -H 'Sec-WebSocket-Key: c2hvcnQ=' "$main_url/ws"
http_check "POST upgrade" 400 'GET' -X POST "${upgrade[@]}" "${good_key[@]}" "$main_url/ws"
http_check "HTTP/1.0 upgrade" 400 'HTTP/1.1' --http1.0 "${upgrade[@]}" "${good_key[@]}" \
    "$main_url/ws"
http_check "Sec-WebSocket-Version: 99" 426 'Version' -H 'Upgrade: websocket' \
    -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 99' "${good_key[@]}" "$main_url/ws"
# Both repeated headers lead with a value that passes alone: only the repeat is refused.
http_check "two Origin headers, allowed first" 400 'Origin' "${upgrade[@]}" "${good_key[@]}" \
    -H "Origin: $main_url" -H 'Origin: http://evil.example' "$main_url/ws"
http_check "two Sec-WebSocket-Version headers" 400 'Version' -H 'Upgrade: websocket' \
    -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Version: 8' \
    "${good_key[@]}" "$main_url/ws"

# A request head sent one byte every half second, never finished: the server must hang up
# after its 10 s header read timeout, not wait for the rest.
cat >"$work/stall.py" <<'EOF'
import select, socket, sys, time
host, port = sys.argv[1].split(":")
head = b"GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nX-Padding: " % sys.argv[1].encode()
head += b"x" * 64
s = socket.create_connection((host, int(port)), timeout=5)
start = time.monotonic()
for i in range(30):
    if i < len(head):
        try:
            s.send(head[i:i + 1])
        except OSError:
            break
    readable, _, _ = select.select([s], [], [], 0.5)
    if readable:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data or data.startswith(b"HTTP/1.1 408"):
            break
else:
    print("FAIL: still open after %.1f s" % (time.monotonic() - start))
    sys.exit(1)
elapsed = time.monotonic() - start
if elapsed < 8:
    print("FAIL: closed after %.1f s, before the header read timeout" % elapsed)
    sys.exit(1)
print("ok (closed after %.1f s)" % elapsed)
EOF
client "raw socket: a stalled request head is closed" 25 python3 "$work/stall.py" "${main_url#http://}"

# Every server survived its clients.
[ "$(running)" = "${#pids[@]}" ] || fail "a server exited during the checks" "$work/main.err"
echo "# server log (main):"
sed 's/^/#   /' "$work/main.err"
finish
