#!/usr/bin/env bash
# Checks WebSocket over HTTP/2 (RFC 8441 extended CONNECT) with examples/h2_server.rs on
# loopback, against:
#   - headless Chromium (conformance/peers: Debian chromium driven by npm playwright-core):
#     it loads https://localhost:PORT/, whose script opens two WebSockets to /ws at once and
#     echoes text and binary on each. Passes only if the server logged both WebSockets on
#     streams of ONE HTTP/2 connection, i.e. Chromium used RFC 8441 rather than HTTP/1.1
#     upgrades. Chromium needs no switch for RFC 8441, only an HTTP/2 connection to the
#     origin whose SETTINGS allow it. The test certificate is trusted with
#     --ignore-certificate-errors-spki-list (the SHA-256 of the server key's
#     SubjectPublicKeyInfo, from openssl). The same page against a server started with
#     --no-connect-protocol must fall back to HTTP/1.1, which shows the check can tell;
#   - PyPI h2 (pinned below, installed into conformance/peers/.venv): a raw HTTP/2 client
#     that checks SETTINGS_ENABLE_CONNECT_PROTOCOL, sends an extended CONNECT and exchanges
#     hand-made masked frames (text echo, close 1000) on the stream; and, on another
#     connection, a burst of 1000 small messages, one per DATA frame, all to be echoed
#     without GOAWAY (h2 counts small DATA frames buffered unread against a budget);
#   - examples/h2_client.rs: three WebSockets over one connection;
#   - PyPI websockets over TLS with ALPN http/1.1: the RFC 6455 upgrade on the same port.
# Ends with `h2: N passed, M failed`; exits non-zero if anything failed. Every step is bounded
# by `timeout`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
PASS_WORD=PASS
FAIL_TAIL=8
PEERS=$PWD/conformance/peers
PY=$PEERS/.venv/bin/python
# The HTTP/2 library for the Python peer, and its own dependencies, pinned.
H2_PINS=(h2==4.2.0 hpack==4.2.0 hyperframe==6.1.0)

step "cargo build --example h2_server h2_client test_cert" \
    cargo_build --example h2_server --example h2_client --example test_cert
step "conformance/peers/install.sh" install_peers
step "pip install ${H2_PINS[*]}" \
    timeout -k 10 600 "$PY" -m pip install --quiet --disable-pip-version-check "${H2_PINS[@]}"
step test_cert timeout -k 5 60 "$bin/test_cert" "$work/tls"
ca=$work/tls/ca.pem

# start NAME [ARGS...]: an h2_server on a free port for at most 10 minutes, logging to
# $work/NAME.err; sets port and log.
start() {
    local name=$1
    shift
    port=$(free_port)
    log=$work/$name.err
    launch "$name" timeout -k 5 600 "$bin/h2_server" "127.0.0.1:$port" --cert "$work/tls/cert.pem" \
        --key "$work/tls/key.pem" "$@" && return 0
    fail "h2_server $name did not print 'listening on' within 10 s" "$log"
    finish
}
# A server without RFC 8441, to show that the Chromium check tells the two apart.
start plain --no-connect-protocol
plain_port=$port
plain_log=$log
start main
origin="https://localhost:$port"

# new_lines FROM [LOG]: the server log's lines after line FROM.
new_lines() { tail -n "+$(($1 + 1))" "${2:-$log}"; }

# ---------------------------------------------------------------- Chromium
spki=$(spki_of "$work/tls/cert.pem")
cat >"$work/page.js" <<'EOF'
const { chromium } = require(process.argv[2] + "/node_modules/playwright-core");
const [url, spki] = process.argv.slice(3);
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      `--ignore-certificate-errors-spki-list=${spki}`,
      // The server listens on 127.0.0.1 only: no attempt on ::1 first.
      "--host-resolver-rules=MAP localhost 127.0.0.1",
    ],
  });
  try {
    const page = await browser.newPage();
    const response = await page.goto(url);
    const protocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
    console.log(`page: ${response.status()} over ${protocol}`);
    await page.waitForFunction(() => /^done$/m.test(document.getElementById("log").textContent), null, { timeout: 20000 });
    const log = (await page.textContent("#log")).trim();
    console.log(log.replace(/\n/g, " | "));
    const lines = log.split("\n").filter((l) => l.startsWith("ws "));
    const ok = protocol === "h2" && lines.length >= 2 && lines.every((l) => /protocol chat, echoes ok, closed 1000 clean true/.test(l));
    console.log(ok ? "ok" : "FAIL: unexpected page log");
    process.exitCode = ok ? 0 : 1;
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(String(e)); process.exitCode = 1; });
EOF
# chromium NAME ORIGIN LOG: the page at ORIGIN in Chromium; on success the lines LOG gained
# meanwhile are in $work/NAME.server and $work/NAME.log has the browser's output.
chromium() {
    local before
    before=$(wc -l <"$3")
    timeout -k 5 60 node "$work/page.js" "$PEERS" "$2/" "$spki" >"$work/$1.log" 2>&1 &&
        grep -qx ok "$work/$1.log" || return 1
    new_lines "$before" "$3" >"$work/$1.server"
}
# The websockets a server log names: how many over HTTP/2, on which connections and streams,
# and how many over HTTP/1.1.
h2_count() { grep -c '^h2 connection [0-9]* stream [0-9]*: websocket /ws$' "$1"; }
h2_conns() { sed -n 's/^h2 connection \([0-9]*\) stream [0-9]*: websocket \/ws$/\1/p' "$1" | sort -u | tr '\n' ' '; }
h2_streams() { sed -n 's/^h2 connection [0-9]* stream \([0-9]*\): websocket \/ws$/\1/p' "$1" | tr '\n' ' '; }
h1_count() { grep -c '^http/1.1: websocket /ws$' "$1"; }

out=$work/chromium.log
if chromium chromium "$origin" "$log"; then
    got=$work/chromium.server
    conns=$(h2_conns "$got")
    if [ "$(h2_count "$got")" -ge 2 ] && [ "$(h1_count "$got")" = 0 ] && [ "$(wc -w <<<"$conns")" = 1 ]; then
        streams=$(h2_streams "$got")
        pass "chromium: $(grep -m1 '^page:' "$out"), $(h2_count "$got") websockets on streams ${streams% } of h2 connection ${conns% }"
    else
        echo "server saw: $(h2_count "$got") on h2 (connections: $conns), $(h1_count "$got") over http/1.1" >>"$out"
        cat "$got" >>"$out"
        fail "chromium: websockets not all on one HTTP/2 connection" "$out"
    fi
else
    fail "chromium on $origin/" "$out"
fi
# Without SETTINGS_ENABLE_CONNECT_PROTOCOL the same page must fall back to HTTP/1.1 upgrades,
# which the check above would have refused.
out=$work/chromium_plain.log
if chromium chromium_plain "https://localhost:$plain_port" "$plain_log"; then
    got=$work/chromium_plain.server
    if [ "$(h2_count "$got")" = 0 ] && [ "$(h1_count "$got")" -ge 2 ]; then
        pass "chromium, server without RFC 8441: $(h1_count "$got") websockets over http/1.1 instead"
    else
        cat "$got" >>"$out"
        fail "chromium, server without RFC 8441: unexpected transports" "$out"
    fi
else
    fail "chromium, server without RFC 8441" "$out"
fi

# ---------------------------------------------------------------- PyPI h2
cat >"$work/h2_peer.py" <<'EOF'
"""An RFC 8441 client made of PyPI h2 and hand-made WebSocket frames."""
import os, socket, ssl, struct, sys, time
import h2.config, h2.connection, h2.events, h2.settings

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 15

def fail(why):
    print("FAIL: " + why)
    sys.exit(1)

def frame(opcode, payload):
    # RFC 6455 §5.3: a client masks every frame, over HTTP/2 as over TCP.
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked

def parse(data):
    """Unmasked server frames in data: a list of (opcode, payload) and the rest."""
    frames = []
    while len(data) >= 2:
        if data[1] & 0x80:
            fail("the server masked a frame")
        n, at = data[1] & 0x7F, 2
        if n == 126:
            if len(data) < 4: break
            n, at = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            if len(data) < 10: break
            n, at = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < at + n: break
        frames.append((data[0] & 0x0F, data[at:at + n]))
        data = data[at + n:]
    return frames, data

tls = ssl.create_default_context(cafile=ca)
tls.set_alpn_protocols(["h2"])
sock = tls.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host)
if sock.selected_alpn_protocol() != "h2":
    fail("ALPN chose %r" % sock.selected_alpn_protocol())
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())

events = []
def pump():
    if time.monotonic() > deadline:
        fail("timed out")
    data = sock.recv(65536)
    if not data:
        fail("the server closed the connection")
    events.extend(conn.receive_data(data))
    out = conn.data_to_send()
    if out:
        sock.sendall(out)

while conn.remote_settings.enable_connect_protocol != 1:
    pump()

stream = conn.get_next_available_stream_id()
conn.send_headers(stream, [
    (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
    (":path", "/ws"), (":authority", "%s:%d" % (host, port)),
    ("sec-websocket-version", "13"), ("sec-websocket-protocol", "chat"),
])
sock.sendall(conn.data_to_send())

status, protocol, received, ended = None, None, b"", False
def handle():
    global status, protocol, received, ended
    while events:
        e = events.pop(0)
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream:
            headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in e.headers}
            status, protocol = headers.get(":status"), headers.get("sec-websocket-protocol")
            if "sec-websocket-accept" in headers:
                fail("a Sec-WebSocket-Accept over HTTP/2 (RFC 8441 §5 has none)")
        elif isinstance(e, h2.events.DataReceived) and e.stream_id == stream:
            received += e.data
            conn.acknowledge_received_data(e.flow_controlled_length, stream)
        elif isinstance(e, h2.events.StreamEnded) and e.stream_id == stream:
            ended = True
        elif isinstance(e, h2.events.StreamReset) and e.stream_id == stream:
            fail("stream reset: %r" % e.error_code)
    out = conn.data_to_send()
    if out:
        sock.sendall(out)

while status is None:
    pump(); handle()
if status != "200":
    fail("CONNECT answered %s" % status)
if protocol != "chat":
    fail("subprotocol %r" % protocol)

text = "hello from PyPI h2 ☃".encode()
conn.send_data(stream, frame(1, text))
sock.sendall(conn.data_to_send())
while not parse(received)[0]:
    pump(); handle()
frames, received = parse(received)
if frames[0] != (1, text):
    fail("text echo: got %r" % (frames[0],))

conn.send_data(stream, frame(8, struct.pack("!H", 1000) + b"bye"))
sock.sendall(conn.data_to_send())
while not parse(received)[0]:
    pump(); handle()
frames, received = parse(received)
if frames[0][0] != 8 or frames[0][1][:2] != struct.pack("!H", 1000):
    fail("close reply: got %r" % (frames[0],))
# The server ends the stream after its close reply, as it would close TCP over HTTP/1.1.
while not ended:
    pump(); handle()
conn.end_stream(stream)
conn.close_connection()
sock.sendall(conn.data_to_send())
sock.close()
print("ok (SETTINGS_ENABLE_CONNECT_PROTOCOL, stream %d: 200 with chat, text echo, close 1000, END_STREAM)" % stream)
EOF
before=$(wc -l <"$log")
out=$work/h2_peer.log
if timeout -k 5 30 "$PY" "$work/h2_peer.py" localhost "$port" "$ca" >"$out" 2>&1 && grep -q '^ok' "$out"; then
    if new_lines "$before" | grep -q '^h2 connection [0-9]* stream [0-9]*: websocket /ws$'; then
        pass "PyPI h2 ${H2_PINS[0]#h2==}: $(grep -m1 '^ok' "$out")"
    else
        new_lines "$before" >>"$out"
        fail "PyPI h2: the server logged no h2 websocket" "$out"
    fi
else
    fail "PyPI h2" "$out"
fi

# A burst of small WebSocket messages, one per DATA frame, on one stream: h2's budget for
# small DATA frames buffered unread must not end the connection (GOAWAY ENHANCE_YOUR_CALM).
cat >"$work/h2_burst.py" <<'EOF'
"""COUNT one-frame text messages on one RFC 8441 stream, sent at once, all echoed."""
import os, socket, ssl, sys, time
import h2.config, h2.connection, h2.events

host, port, ca, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + 15

def fail(why):
    print("FAIL: " + why)
    sys.exit(1)

def frame(payload):
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

tls = ssl.create_default_context(cafile=ca)
tls.set_alpn_protocols(["h2"])
sock = tls.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host)
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
status, received, limit = None, b"", None

def pump():
    global status, received, limit
    if time.monotonic() > deadline:
        fail("timed out with %d of %d echoes" % (len(received) // 9, count))
    data = sock.recv(65536)
    if not data:
        fail("the server closed the connection")
    for e in conn.receive_data(data):
        if isinstance(e, h2.events.RemoteSettingsChanged) and 3 in e.changed_settings:
            limit = e.changed_settings[3].new_value
        elif isinstance(e, h2.events.ResponseReceived):
            status = dict(e.headers).get(b":status")
        elif isinstance(e, h2.events.DataReceived):
            received += e.data
            conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, h2.events.ConnectionTerminated):
            fail("GOAWAY %r %r after %d echoes" % (e.error_code, e.additional_data, len(received) // 9))
        elif isinstance(e, h2.events.StreamReset):
            fail("stream reset: %r" % e.error_code)
    out = conn.data_to_send()
    if out:
        sock.sendall(out)

while conn.remote_settings.enable_connect_protocol != 1:
    pump()
stream = conn.get_next_available_stream_id()
conn.send_headers(stream, [
    (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
    (":path", "/ws"), (":authority", "%s:%d" % (host, port)), ("sec-websocket-version", "13"),
])
sock.sendall(conn.data_to_send())
while status is None:
    pump()
if status != b"200":
    fail("CONNECT answered %r" % status)
# Each message its own DATA frame, all written in one go.
messages = [b"msg%04d" % i for i in range(count)]
for m in messages:
    conn.send_data(stream, frame(m))
sock.sendall(conn.data_to_send())
# Every echo is an unmasked 2-byte header and the 7-byte text.
want = b"".join(b"\x81\x07" + m for m in messages)
while len(received) < len(want):
    pump()
if received[:len(want)] != want:
    fail("echoes out of order or altered")
conn.close_connection()
sock.sendall(conn.data_to_send())
sock.close()
print("ok (%d one-frame messages on one stream, all echoed in order, no GOAWAY; MAX_CONCURRENT_STREAMS %s)" % (count, limit))
EOF
out=$work/h2_burst.log
if timeout -k 5 30 "$PY" "$work/h2_burst.py" localhost "$port" "$ca" 1000 >"$out" 2>&1 && grep -q '^ok' "$out"; then
    pass "PyPI h2 burst: $(grep -m1 '^ok' "$out")"
else
    fail "PyPI h2 burst" "$out"
fi

# ---------------------------------------------------------------- h2_client
before=$(wc -l <"$log")
out=$work/h2_client.log
if timeout -k 5 40 "$bin/h2_client" "$origin/ws" --ca "$ca" --count 3 >"$out" 2>&1 &&
    grep -qx 'h2: 3 websockets over one connection ok' "$out"; then
    conns=$(new_lines "$before" | sed -n 's/^h2 connection \([0-9]*\) stream [0-9]*: websocket \/ws$/\1/p' | sort -u | wc -l)
    count=$(new_lines "$before" | grep -c '^h2 connection [0-9]* stream [0-9]*: websocket /ws$')
    if [ "$count" = 3 ] && [ "$conns" = 1 ]; then
        pass "h2_client: $(grep -m1 '^h2:' "$out") (server: 3 streams, 1 connection)"
    else
        new_lines "$before" >>"$out"
        fail "h2_client: server saw $count websockets on $conns connections" "$out"
    fi
else
    fail "h2_client" "$out"
fi

# ---------------------------------------------------------------- HTTP/1.1 upgrade
cat >"$work/h1_peer.py" <<'EOF'
import asyncio, ssl, sys
from websockets.asyncio.client import connect

async def main(url, ca):
    tls = ssl.create_default_context(cafile=ca)
    tls.set_alpn_protocols(["http/1.1"])
    async with connect(url, ssl=tls, subprotocols=["chat"], compression=None) as ws:
        assert ws.subprotocol == "chat", ws.subprotocol
        await ws.send("hello over HTTP/1.1 ☃")
        assert await ws.recv() == "hello over HTTP/1.1 ☃"
        await ws.send(bytes(range(256)) * 300)
        assert await ws.recv() == bytes(range(256)) * 300
        await ws.close(1000, "bye")
    assert ws.close_code == 1000, ws.close_code
    print("ok (upgrade with chat, text and binary echo, close 1000)")

asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 15))
EOF
before=$(wc -l <"$log")
out=$work/h1_peer.log
if timeout -k 5 30 "$PY" "$work/h1_peer.py" "wss://localhost:$port/ws" "$ca" >"$out" 2>&1 &&
    grep -q '^ok' "$out"; then
    if new_lines "$before" | grep -qx 'http/1.1: websocket /ws'; then
        pass "PyPI websockets over http/1.1: $(grep -m1 '^ok' "$out")"
    else
        new_lines "$before" >>"$out"
        fail "PyPI websockets: the server did not log an http/1.1 websocket" "$out"
    fi
else
    fail "PyPI websockets over http/1.1" "$out"
fi

[ "$(running)" = "${#pids[@]}" ] || fail "an h2_server exited during the checks" "$log"
echo "# server log:"
sed 's/^/#   /' "$log"
finish
