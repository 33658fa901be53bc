"""Checks of examples/event_loop_server.rs from PyPI websockets and plain sockets.

    check.py ws://HOST:PORT ws://HOST:PORT2

The first server runs with --deflate, the second with --max-connections 2 and no deflate. Prints
one `ok NAME` or `FAIL NAME: why` line per check; exits 1 if any failed. Every wait is bounded.
"""

import asyncio
import socket
import struct
import sys
import time

import websockets

URL, SMALL_URL = sys.argv[1], sys.argv[2]
failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"ok   {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")


def host_port(url):
    host, port = url[len("ws://"):].rstrip("/").rsplit(":", 1)
    return host, int(port)


REQUEST = (
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def raw_open(url, timeout=5):
    """A socket past the handshake, the 101 read."""
    s = socket.create_connection(host_port(url), timeout=timeout)
    s.sendall(REQUEST)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1000)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def masked(opcode, payload, fin=True):
    first = (0x80 if fin else 0) | opcode
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | len(payload)]) + mask + body


def read_to_end(s, timeout):
    """Reads s until the server ends it (or `timeout` seconds pass without a byte): the bytes
    read, and whether it ended."""
    s.settimeout(timeout)
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                return got, True
            got += len(chunk)
    except ConnectionResetError:
        return got, True
    except socket.timeout:
        return got, False


def close_code_after(s, frame, timeout=5):
    """Sends frame, reads until the server's close frame; returns its code, or None."""
    s.settimeout(timeout)
    s.sendall(frame)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(1000)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        while len(data) >= 2:
            length = data[1] & 0x7F
            if len(data) < 2 + length:
                break
            opcode, payload = data[0] & 0x0F, data[2 : 2 + length]
            data = data[2 + length :]
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    return None


async def broadcast_reaches_everyone_once():
    clients = [await websockets.connect(URL) for _ in range(3)]
    await clients[1].send("/all to everyone")
    got = []
    for c in clients:
        got.append(await asyncio.wait_for(c.recv(), 5))
    extra = []
    for c in clients:
        try:
            extra.append(await asyncio.wait_for(c.recv(), 0.3))
        except asyncio.TimeoutError:
            pass
    await clients[0].send(b"\x00\xffbinary")
    echo = await asyncio.wait_for(clients[0].recv(), 5)
    for c in clients:
        await c.close()
    codes = [c.close_code for c in clients]
    report(
        "a broadcast reaches all three connections exactly once, the sender's included",
        got == ["to everyone"] * 3 and not extra,
        f"got {got}, then {extra}",
    )
    report("a binary message is echoed", echo == b"\x00\xffbinary", repr(echo))
    report("each close is answered with 1000", codes == [1000] * 3, repr(codes))


async def large_message_is_echoed():
    async with websockets.connect(URL, max_size=None) as c:
        big = "é" * 400_000
        await c.send(big)
        back = await asyncio.wait_for(c.recv(), 10)
    report("an 800 KB text message, many receive buffers long, is echoed", back == big)


def plain_http_gets_426():
    s = socket.create_connection(host_port(URL), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status = s.recv(200).split(b"\r\n")[0]
    report("a plain HTTP request is answered 426", status.startswith(b"HTTP/1.1 426"), status)


def request_byte_by_byte():
    s = socket.create_connection(host_port(URL), timeout=5)
    for b in REQUEST:
        s.sendall(bytes([b]))
    head = s.recv(1000)
    report("a request sent a byte at a time is accepted", head.startswith(b"HTTP/1.1 101"), head[:40])
    code = close_code_after(s, masked(1, b"one") + masked(8, struct.pack("!H", 1000)))
    report("then a text and a close get the close reply", code == 1000, repr(code))


def violations_close_with_their_codes():
    cases = [
        ("an unmasked frame", b"\x81\x02hi", 1002),
        ("a reserved opcode", masked(3, b""), 1002),
        ("invalid UTF-8 in a text message", masked(1, b"\xff\xfe"), 1007),
        ("a continuation with nothing to continue", masked(0, b"x"), 1002),
        ("a fragmented ping", masked(9, b"", fin=False), 1002),
    ]
    for name, frame, expected in cases:
        s = raw_open(URL)
        code = close_code_after(s, frame)
        report(f"{name} is closed with {expected}", code == expected, f"got {code}")


def stalled_handshake_gets_408():
    s = socket.create_connection(host_port(URL), timeout=15)
    s.sendall(REQUEST[:20])
    started = time.monotonic()
    try:
        answer = s.recv(200)
    except socket.timeout:
        answer = b""
    waited = time.monotonic() - started
    report(
        "a request unfinished after 10 s is answered 408",
        answer.startswith(b"HTTP/1.1 408") and 9 <= waited <= 14,
        f"after {waited:.1f} s: {answer[:40]!r}",
    )


async def full_table_waits_for_a_free_slot():
    a = await websockets.connect(SMALL_URL)
    b = await websockets.connect(SMALL_URL)
    third = asyncio.ensure_future(websockets.connect(SMALL_URL, open_timeout=10))
    await asyncio.sleep(1.0)
    waiting = not third.done()
    await a.close()
    try:
        c = await asyncio.wait_for(third, 5)
        await c.send("after")
        back = await asyncio.wait_for(c.recv(), 5)
        await c.close()
    except Exception as e:  # noqa: BLE001 - reported below
        back = f"{type(e).__name__}: {e}"
    await b.close()
    report(
        "with every slot taken a new connection waits, and is served once one frees",
        waiting and back == "after",
        f"waiting={waiting}, then {back!r}",
    )


async def a_peer_that_does_not_read_is_dropped():
    """Broadcasts pile up behind a connection that reads nothing: past 1 MiB waiting it is
    dropped, and the others go on."""
    idle = raw_open(URL)
    text = "y" * 60_000
    rounds = 700  # 42 MB: more than the socket buffers between them can hold
    async with websockets.connect(URL, max_size=None) as sender:
        async def drain():
            for _ in range(rounds):
                await sender.recv()

        reader = asyncio.ensure_future(drain())
        for _ in range(rounds):
            await sender.send("/all " + text)
        await asyncio.wait_for(reader, 60)
        await sender.send("still here")
        back = await asyncio.wait_for(sender.recv(), 5)
    # What reached the idle connection before the server gave up on it, then the end.
    got, ended = read_to_end(idle, 10)
    report(
        "a connection that reads nothing is dropped once 1 MiB waits behind its send",
        ended and got < rounds * len(text) and back == "still here",
        f"ended={ended}, {got} of {rounds * len(text)} bytes, then {back!r}",
    )


async def a_long_broadcast_closes_its_sender_with_1009():
    async with websockets.connect(URL, max_size=None) as c:
        await c.send("/all " + "z" * (64 * 1024 + 1))
        try:
            await asyncio.wait_for(c.recv(), 5)
            code = None
        except websockets.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
    report("a broadcast over 64 KiB closes its sender with 1009", code == 1009, f"got {code}")


async def deflate_only_when_asked():
    async with websockets.connect(URL) as c:
        on = c.response.headers.get("Sec-WebSocket-Extensions")
    async with websockets.connect(SMALL_URL) as c:
        off = c.response.headers.get("Sec-WebSocket-Extensions")
    report(
        "permessage-deflate is agreed with --deflate and declined without",
        on is not None and on.startswith("permessage-deflate") and off is None,
        f"with: {on!r}, without: {off!r}",
    )


def a_send_that_stalls_drops_its_peer():
    """One 8 MiB echo to a peer that reads nothing: more than the sockets between them hold,
    so the send stalls with nothing waiting behind it; 10 s later the peer is dropped."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(host_port(SMALL_URL))
    s.sendall(REQUEST)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    payload = bytes(8 << 20)
    s.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", len(payload)) + b"\0\0\0\0" + payload)
    stalled = time.monotonic()
    time.sleep(12)
    got, ended = read_to_end(s, 30)
    waited = time.monotonic() - stalled
    report(
        "a peer that takes no bytes of its send for 10 s is dropped",
        ended and got < len(payload),
        f"ended={ended} after {waited:.1f} s, {got} of {len(payload)} bytes",
    )


async def main():
    await broadcast_reaches_everyone_once()
    await a_peer_that_does_not_read_is_dropped()
    await large_message_is_echoed()
    plain_http_gets_426()
    request_byte_by_byte()
    violations_close_with_their_codes()
    await full_table_waits_for_a_free_slot()
    await a_long_broadcast_closes_its_sender_with_1009()
    await deflate_only_when_asked()
    a_send_that_stalls_drops_its_peer()
    stalled_handshake_gets_408()


asyncio.run(main())
sys.exit(1 if failures else 0)
