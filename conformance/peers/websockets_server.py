#!/usr/bin/env python3
"""Interop echo SERVER peer built on PyPI `websockets` (17.4): hybi-13 only.

    .venv/bin/python websockets_server.py PORT [SECONDS] [--deflate]

Listens on 127.0.0.1:PORT, echoes every text message as text and every binary
message as binary (up to 32 MiB), answers pings and closes (the library does
both). Prints "listening on ws://127.0.0.1:PORT" when ready; stops after
SECONDS (default 300) or on SIGTERM/SIGINT.

--deflate: accepts permessage-deflate (compression="deflate", websockets' defaults; it
compresses every message) and logs each connection's agreed extensions.
"""
import asyncio
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import WebSocketException


async def echo(ws):
    if DEFLATE:
        agreed = ws.response.headers.get_all("Sec-WebSocket-Extensions")
        print("%s: extensions: %s" % (ws.remote_address[1], ", ".join(agreed) or "(none)"), flush=True)
    try:
        async for msg in ws:
            await ws.send(msg)
    except WebSocketException:
        pass


async def main(port, seconds):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(echo, "127.0.0.1", port, compression="deflate" if DEFLATE else None,
                     max_size=2**25,
                     max_queue=None, ping_interval=None, close_timeout=5):
        print("listening on ws://127.0.0.1:%d (websockets)" % port, flush=True)
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass


DEFLATE = "--deflate" in sys.argv[1:]

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--deflate"]
    if len(args) not in (1, 2):
        sys.exit("usage: websockets_server.py PORT [SECONDS] [--deflate]")
    asyncio.run(main(int(args[0]), float(args[1]) if len(args) == 2 else 300))
