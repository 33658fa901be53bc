#!/usr/bin/env python3
"""TLS echo SERVER peer on PyPI `websockets`: hybi-13 over wss://.

    .venv/bin/python websockets_tls_server.py CERT_PEM KEY_PEM [SECONDS]

Listens on 127.0.0.1 on a free port, echoes text as text and binary as binary, answers
pings and closes. Prints "listening on wss://127.0.0.1:PORT" when ready; stops after
SECONDS (default 120) or on SIGTERM/SIGINT.
"""
import asyncio
import signal
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import WebSocketException


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except WebSocketException:
        pass


async def main(cert, key, seconds):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(echo, "127.0.0.1", 0, ssl=context, compression=None,
                     ping_interval=None, close_timeout=5) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on wss://127.0.0.1:%d" % port, flush=True)
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: websockets_tls_server.py CERT_PEM KEY_PEM [SECONDS]")
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else 120))
