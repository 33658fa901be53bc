#!/usr/bin/env python3
"""Interop echo SERVER peer built on PyPI `websockets` (17.4): hybi-13 only.

    .venv/bin/python websockets_server.py PORT [SECONDS]

Listens on 127.0.0.1:PORT, echoes every text message as text and every binary
message as binary (up to 32 MiB), answers pings and closes (the library does
both). Prints "listening on ws://127.0.0.1:PORT" when ready; stops after
SECONDS (default 300) or on SIGTERM/SIGINT.
"""
import asyncio
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import WebSocketException


async def echo(ws):
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
    async with serve(echo, "127.0.0.1", port, compression=None, max_size=2**25,
                     max_queue=None, ping_interval=None, close_timeout=5):
        print("listening on ws://127.0.0.1:%d (websockets)" % port, flush=True)
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: websockets_server.py PORT [SECONDS]")
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) == 3 else 300))
