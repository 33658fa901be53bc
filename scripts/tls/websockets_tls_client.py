#!/usr/bin/env python3
"""TLS CLIENT peer on PyPI `websockets`: hybi-13 over wss://, trusting one CA.

    .venv/bin/python websockets_tls_client.py URL CA_PEM

Sends a text and a binary message, checks each echo for type and content, then closes
with 1000 and checks the server's close frame carried 1000. Exit 0 on success, 1 on
failure (certificate errors included), 2 on bad arguments; gives up after 20 s.
"""
import asyncio
import ssl
import sys

from websockets.asyncio.client import connect


def fail(msg, code=1):
    print("websockets_tls_client: FAIL: %s" % msg, file=sys.stderr)
    sys.exit(code)


async def main(url, ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca)
    async with connect(url, ssl=context, compression=None, ping_interval=None,
                       open_timeout=10, close_timeout=5, proxy=None) as ws:
        for payload in ("héllo ☃ over TLS", bytes(range(256)) * 300):
            await ws.send(payload)
            got = await ws.recv()
            if type(got) is not type(payload) or got != payload:
                fail("echo of %d-byte %s differs" % (len(payload), type(payload).__name__))
        await ws.close(1000, "bye")
        rcvd = ws.protocol.close_rcvd
        if rcvd is None or rcvd.code != 1000:
            fail("server's close: %r, expected code 1000" % (rcvd,))
    print("websockets_tls_client: OK (wss, %s, text + binary echo, close 1000)"
          % ws.transport.get_extra_info("ssl_object").version())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail("usage: websockets_tls_client.py URL CA_PEM", 2)
    try:
        asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 20))
    except asyncio.TimeoutError:
        fail("timed out after 20 s")
    except Exception as e:  # certificate refused, handshake refused, connection lost, ...
        fail("%s: %s" % (type(e).__name__, e))
