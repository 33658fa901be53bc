#!/usr/bin/env python3
"""Interop CLIENT peer built on PyPI `websockets` (17.4): hybi-13 (RFC 6455) only.

    .venv/bin/python websockets_client.py URL VERSION [--deflate]     VERSION: hybi-13|13

Sends text messages of 0, 1, 125, 126, 127, 65535, 65536 and 1048576 bytes
(multi-byte UTF-8 throughout) and binary messages of the same sizes, one at a
time, and checks each echo byte for byte and for its type; then a text message
in three frames (split inside a UTF-8 character), a ping whose pong must carry
the same payload, and a close with code 1000 that must be answered by a close
frame with code 1000. Exit 0 on success, 1 on any mismatch, 2 on bad
arguments, 3 after 30 s.

--deflate: offers permessage-deflate (compression="deflate", websockets' default offer;
it compresses every message), fails unless the server agreed to it (the 101's
Sec-WebSocket-Extensions and ws.protocol.extensions, printed as "extensions: ..."), and
also sends a 256 KiB text and a 1 MiB binary message in 4 and 16 compressed fragments.
"""
import asyncio
import sys

from websockets.asyncio.client import connect

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]
UNIT = "héllo ☃ 𝄞 "  # 16 bytes of UTF-8: 1-, 2-, 3- and 4-byte characters


def text_of(n):
    """Text of exactly n UTF-8 bytes: UNIT's characters in turn, padded with '.'."""
    out, size, i = [], 0, 0
    while True:
        c = UNIT[i % len(UNIT)]
        width = len(c.encode())
        if size + width > n:
            break
        out.append(c)
        size += width
        i += 1
    return "".join(out) + "." * (n - size)


def bin_of(n):
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


def fail(msg, code=1):
    print("websockets_client: FAIL: %s" % msg, file=sys.stderr)
    sys.exit(code)


async def round_trip(ws, label, payload):
    await ws.send(payload)
    got = await ws.recv()
    if type(got) is not type(payload):
        fail("%s: echo came back as %s" % (label, "text" if isinstance(got, str) else "binary"))
    if got != payload:
        fail("%s: echo differs (sent %d, got %d)" % (label, len(payload), len(got)))


async def fragmented_round_trip(ws, label, payload, parts):
    step = -(-len(payload) // parts)
    pieces = [payload[i:i + step] for i in range(0, len(payload), step)]
    if isinstance(payload, str):
        pieces = [p.encode() for p in pieces]
        await ws.send(pieces, text=True)
    else:
        await ws.send(pieces)
    got = await ws.recv()
    if type(got) is not type(payload) or got != payload:
        fail("%s: echo differs (sent %d, got %d %s)" % (label, len(payload), len(got), type(got).__name__))


async def main(url, deflate):
    async with connect(url, compression="deflate" if deflate else None, max_size=2**25,
                       max_queue=None, ping_interval=None, open_timeout=10, close_timeout=10,
                       proxy=None) as ws:
        if deflate:
            agreed = ws.response.headers.get_all("Sec-WebSocket-Extensions")
            names = [e.name for e in ws.protocol.extensions]
            if names != ["permessage-deflate"]:
                fail("permessage-deflate offered but not agreed (response: %r, extensions: %r)"
                     % (agreed, names))
            print("extensions: %s" % ", ".join(agreed), flush=True)
        for n in SIZES:
            await round_trip(ws, "text %d" % n, text_of(n))
        await round_trip(ws, 'text "héllo ☃ 𝄞"', "héllo ☃ 𝄞")
        for n in SIZES:
            await round_trip(ws, "binary %d" % n, bin_of(n))

        # One text message in three frames; the first cut falls inside '☃'.
        whole = "fragmented: héllo ☃ 𝄞".encode()
        cut = whole.index("☃".encode()) + 1
        await ws.send([whole[:cut], whole[cut:cut + 3], whole[cut + 3:]], text=True)
        got = await ws.recv()
        if got != whole.decode():
            fail("fragmented text: echo differs: %r" % (got,))
        if deflate:
            await fragmented_round_trip(ws, "text 262144 in 4 fragments", text_of(1 << 18), 4)
            await fragmented_round_trip(ws, "binary 1048576 in 16 fragments", bin_of(1 << 20), 16)

        # websockets completes the waiter only for a pong with this exact payload.
        pong = await ws.ping("ping ☃ 42".encode())
        await asyncio.wait_for(pong, 10)

        await ws.close(1000, "bye")
        rcvd = ws.protocol.close_rcvd
        if rcvd is None:
            fail("no close frame from the server (connection just ended)")
        if rcvd.code != 1000:
            fail("server's close frame carried code %d, expected 1000" % rcvd.code)
    how = ("permessage-deflate, %d echoes, 3 fragmented" if deflate else "%d echoes, fragmented") % (2 * len(SIZES) + 1)
    print("websockets_client: OK (hybi-13, %s, ping/pong, close 1000)" % how)


if __name__ == "__main__":
    deflate = "--deflate" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "--deflate"]
    if len(args) != 2:
        fail("usage: websockets_client.py URL VERSION [--deflate]", 2)
    if args[1] not in ("hybi-13", "13", "rfc6455"):
        fail("websockets speaks only hybi-13, not %r" % args[1], 2)
    try:
        asyncio.run(asyncio.wait_for(main(args[0], deflate), 30))
    except asyncio.TimeoutError:
        fail("timed out after 30 s", 3)
    except Exception as e:  # handshake refused, connection lost, ...
        fail("%s: %s" % (type(e).__name__, e))
