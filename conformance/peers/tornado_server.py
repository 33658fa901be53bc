#!/usr/bin/env python3
"""Interop echo SERVER peer built on PyPI `tornado` (6.5.x): hybi-07, hybi-08, hybi-13.

    .venv/bin/python tornado_server.py PORT [SECONDS]

tornado 6.5 accepts Sec-WebSocket-Version 7, 8 and 13 (6.6 dropped 7 and 8).
Listens on 127.0.0.1:PORT (any path), echoes text as text and binary as binary
(messages up to 32 MiB), answers pings and echoes the close code (the library
does both). Prints "listening on ws://127.0.0.1:PORT" when ready; stops after
SECONDS (default 300) or on SIGTERM/SIGINT.
"""
import asyncio
import signal
import sys

import tornado.web
import tornado.websocket


class Echo(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        # Test clients send whatever Origin / Sec-WebSocket-Origin they like.
        return True

    def on_message(self, message):
        # str for text frames, bytes for binary ones
        self.write_message(message, binary=isinstance(message, bytes))


async def main(port, seconds):
    app = tornado.web.Application(
        [(r"/.*", Echo)],
        websocket_max_message_size=2**25,
        websocket_ping_interval=None,
    )
    server = app.listen(port, address="127.0.0.1")
    print("listening on ws://127.0.0.1:%d (tornado %s)" % (port, tornado.version), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
    server.stop()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: tornado_server.py PORT [SECONDS]")
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) == 3 else 300))
