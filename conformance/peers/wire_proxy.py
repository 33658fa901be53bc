#!/usr/bin/env python3
"""A loopback TCP proxy that watches WebSocket frames go by, for the permessage-deflate
pairings of ../interop.sh. Standard library only.

    python3 wire_proxy.py proxy LISTEN_PORT TARGET_PORT REPORT [SECONDS]
    python3 wire_proxy.py check REPORT OURS          OURS: server|client (wsmachine's role)

proxy: listens on 127.0.0.1:LISTEN_PORT, forwards every connection to
127.0.0.1:TARGET_PORT byte for byte in both directions, prints "listening on
ws://127.0.0.1:LISTEN_PORT (wire proxy)" when ready and stops after SECONDS (default 300)
or on SIGTERM. It reads each direction as it passes: the HTTP head (the request's and the
101's Sec-WebSocket-Extensions), then every frame header (FIN, RSV1-3, opcode, length,
mask). It unmasks client frames and inflates every compressed message itself (zlib, raw
deflate, the 00 00 FF FF tail restored, RFC 7692 7.2.2), so it knows, per direction: the
bytes on the wire, the frames, the data messages, how many had RSV1 set, the bytes those
messages carry once inflated, and any message that would not inflate. When a connection
ends it appends one JSON line to REPORT.

check: reads REPORT and fails (exit 1, the reasons on stderr) unless there is at least one
connection and, for every connection,
  - the 101 answered with a Sec-WebSocket-Extensions of permessage-deflate,
  - RSV1 was set on at least one message in EACH direction (both ends compressed),
  - no frame had RSV2 or RSV3, and every compressed message inflated,
  - wsmachine's side sent every whole (single-frame) message of 32 bytes or more
    compressed (DeflateConfig::new()'s threshold), 0 such message uncompressed.
Prints one summary line on success.
"""
import json
import os
import signal
import socket
import sys
import threading
import zlib

OUR_THRESHOLD = 32  # DeflateConfig::new(): messages of 32 bytes or more are compressed
TAIL = b"\x00\x00\xff\xff"


def unmask(payload, key):
    if not payload:
        return payload
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def header_values(head, name):
    """Values of every header field called name (case-insensitive) in an HTTP head."""
    out = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        field, sep, value = line.partition(":")
        if sep and field.strip().lower() == name.lower():
            out.append(value.strip())
    return out


class Direction:
    """One direction of one connection: its bytes, parsed as they pass."""

    def __init__(self, name):
        self.name = name
        self.buf = bytearray()
        self.head = None
        self.wire_bytes = 0          # every byte, handshake included
        self.frame_bytes = 0         # bytes after the HTTP head (frame headers and payloads)
        self.frames = 0
        self.control_frames = 0
        self.rsv1_frames = 0
        self.rsv23_frames = 0
        self.messages = 0
        self.fragmented_messages = 0
        self.compressed_messages = 0
        self.compressed_fragmented = 0
        self.whole_uncompressed_ge_threshold = 0  # single-frame, no RSV1, >= 32 bytes
        self.message_payload_bytes = 0  # data frame payloads as sent (compressed or not)
        self.message_bytes = 0          # the same messages' bytes once inflated
        self.inflate_errors = []
        self.protocol_errors = []
        self._msg = None   # [compressed, [parts], frames]
        self._inflater = None

    def feed(self, data):
        self.wire_bytes += len(data)
        self.buf += data
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.protocol_errors.append("no end of the HTTP head in 64 KiB")
                    self.head = bytes(self.buf)
                    self.buf = bytearray()
                return
            self.head = bytes(self.buf[:end + 4])
            del self.buf[:end + 4]
        self._frames()

    def _frames(self):
        buf = self.buf
        while not self.protocol_errors:
            if len(buf) < 2:
                return
            b0, b1 = buf[0], buf[1]
            n = b1 & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = int.from_bytes(buf[2:4], "big")
                at = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = int.from_bytes(buf[2:10], "big")
                at = 10
            key = None
            if b1 & 0x80:
                if len(buf) < at + 4:
                    return
                key = bytes(buf[at:at + 4])
                at += 4
            if len(buf) < at + n:
                return
            payload = bytes(buf[at:at + n])
            del buf[:at + n]
            if key is not None:
                payload = unmask(payload, key)
            self.frame_bytes += at + n
            self._frame(bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x30), b0 & 0x0F, payload)

    def _frame(self, fin, rsv1, rsv23, opcode, payload):
        self.frames += 1
        self.rsv1_frames += rsv1
        self.rsv23_frames += rsv23
        if opcode >= 8:
            self.control_frames += 1
            return
        if opcode in (1, 2):
            if self._msg is not None:
                self.protocol_errors.append("a new message inside a fragmented one")
            self._msg = [rsv1, [payload], 1]
        elif opcode == 0:
            if self._msg is None:
                self.protocol_errors.append("a continuation frame outside a message")
                return
            if rsv1:
                self.protocol_errors.append("RSV1 on a continuation frame")
            self._msg[1].append(payload)
            self._msg[2] += 1
        else:
            self.protocol_errors.append("reserved opcode %d" % opcode)
            return
        if fin:
            compressed, parts, frames = self._msg
            self._msg = None
            self._message(compressed, b"".join(parts), frames)

    def _message(self, compressed, data, frames):
        self.messages += 1
        self.message_payload_bytes += len(data)
        if frames > 1:
            self.fragmented_messages += 1
        if not compressed:
            self.message_bytes += len(data)
            if frames == 1 and len(data) >= OUR_THRESHOLD:
                self.whole_uncompressed_ge_threshold += 1
            return
        self.compressed_messages += 1
        if frames > 1:
            self.compressed_fragmented += 1
        # One inflater per direction keeps the window across messages (context takeover); it
        # also reads a compressor that resets between messages. A final block ends it: the
        # next message starts a new one.
        if self._inflater is None or self._inflater.eof:
            self._inflater = zlib.decompressobj(-15)
        try:
            out = self._inflater.decompress(data + TAIL)
            self.message_bytes += len(out)
        except zlib.error as e:
            self.inflate_errors.append("message %d (%d bytes): %s" % (self.messages, len(data), e))
            self._inflater = None

    def report(self):
        r = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in ("buf", "head")}
        r["pending_bytes"] = len(self.buf)
        return r


class Connection:
    def __init__(self, number, client, server):
        self.number = number
        self.client, self.server = client, server
        self.c2s, self.s2c = Direction("client->server"), Direction("server->client")
        self.lock = threading.Lock()
        self.done = 0

    def pump(self, src, dst, direction, report):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                direction.feed(data)  # parsed first: the 101 is read before the client sees it
                dst.sendall(data)
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except OSError:
            for s in (src, dst):  # a reset: end both directions
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        with self.lock:
            self.done += 1
            last = self.done == 2
        if last:
            for s in (self.client, self.server):
                s.close()
            self.write(report)

    def write(self, path):
        req = self.c2s.head or b""
        resp = self.s2c.head or b""
        line = {
            "connection": self.number,
            "request_line": req.split(b"\r\n", 1)[0].decode("latin-1"),
            "offered": header_values(req, "Sec-WebSocket-Extensions"),
            "status_line": resp.split(b"\r\n", 1)[0].decode("latin-1"),
            "agreed": header_values(resp, "Sec-WebSocket-Extensions"),
            "client_to_server": self.c2s.report(),
            "server_to_client": self.s2c.report(),
        }
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def proxy(listen_port, target_port, report, seconds):
    open(report, "w").close()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", listen_port))
    lsock.listen(16)
    # Whatever the connections are doing: the reports of ended ones are already written.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    timer = threading.Timer(seconds, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    print("listening on ws://127.0.0.1:%d (wire proxy to port %d)" % (listen_port, target_port), flush=True)
    number = 0
    while True:
        client, _ = lsock.accept()
        number += 1
        try:
            server = socket.create_connection(("127.0.0.1", target_port), timeout=10)
            server.settimeout(None)
        except OSError as e:
            print("connection %d: cannot reach port %d: %s" % (number, target_port, e), flush=True)
            client.close()
            continue
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(number, client, server)
        for src, dst, d in ((client, server, conn.c2s), (server, client, conn.s2c)):
            threading.Thread(target=conn.pump, args=(src, dst, d, report), daemon=True).start()


def kib(n):
    return "%d B" % n if n < 1024 else "%.1f KiB" % (n / 1024) if n < 1 << 20 else "%.2f MiB" % (n / (1 << 20))


def check(report, ours):
    try:
        with open(report) as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print("wire check: cannot read %s: %s" % (report, e), file=sys.stderr)
        return 1
    problems = []
    if not lines:
        problems.append("no connection went through the proxy (or none ended)")
    our_key = "server_to_client" if ours == "server" else "client_to_server"
    summary = []
    for c in lines:
        tag = "connection %d: " % c["connection"]
        agreed = ", ".join(c["agreed"])
        if " 101 " not in c["status_line"] + " ":
            problems.append(tag + "no 101: %r" % c["status_line"])
        if "permessage-deflate" not in agreed:
            problems.append(tag + "the 101 agreed no permessage-deflate (offered: %r, answered: %r)"
                            % (", ".join(c["offered"]), agreed))
        parts = []
        for key, arrow in (("client_to_server", "c->s"), ("server_to_client", "s->c")):
            d = c[key]
            side = "wsmachine" if key == our_key else "peer"
            for e in d["protocol_errors"]:
                problems.append(tag + "%s: %s" % (arrow, e))
            for e in d["inflate_errors"]:
                problems.append(tag + "%s: does not inflate: %s" % (arrow, e))
            if d["rsv23_frames"]:
                problems.append(tag + "%s: %d frames with RSV2/RSV3" % (arrow, d["rsv23_frames"]))
            if d["compressed_messages"] == 0:
                problems.append(tag + "%s (%s): no message had RSV1 set (%d messages)"
                                % (arrow, side, d["messages"]))
            if key == our_key and d["whole_uncompressed_ge_threshold"]:
                problems.append(tag + "%s (wsmachine): %d whole messages of >= %d bytes sent uncompressed"
                                % (arrow, d["whole_uncompressed_ge_threshold"], OUR_THRESHOLD))
            parts.append("%s %s: RSV1 on %d/%d msgs, %s on the wire for %s" % (
                arrow, side, d["compressed_messages"], d["messages"],
                kib(d["frame_bytes"]), kib(d["message_bytes"])))
        summary.append('"%s"; %s' % (agreed, "; ".join(parts)))
    if problems:
        for p in problems:
            print("wire check: " + p, file=sys.stderr)
        return 1
    print("wire: " + " | ".join(summary))
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) in (4, 5) and a[0] == "proxy":
        proxy(int(a[1]), int(a[2]), a[3], float(a[4]) if len(a) == 5 else 300)
    elif len(a) == 3 and a[0] == "check" and a[2] in ("server", "client"):
        sys.exit(check(a[1], a[2]))
    else:
        sys.exit(__doc__)
