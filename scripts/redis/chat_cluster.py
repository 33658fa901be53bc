"""Third-party WebSocket clients (PyPI websockets) against chat_server nodes that share Redis.

    chat_cluster.py cluster URL URL...          ids, broadcast and /msg across the nodes
    chat_cluster.py outage GO_FILE URL URL...   clients connect and print `connected`; once
                                                GO_FILE exists (Redis stopped), local chat is
                                                checked on every node
    chat_cluster.py slow URL PID                a client that reads nothing while another
                                                floods broadcasts is dropped, the others go
                                                on, and the server PID stays small

URL is a node's `http://127.0.0.1:PORT` as it prints it. One line per check, `PASS ...` or
`FAIL ...`; exits 1 if any failed. Every wait is bounded.
"""

import asyncio
import json
import os
import re
import secrets
import socket
import sys
import time

from websockets.asyncio.client import connect

WAIT = 5.0  # for what must arrive
GRACE = 0.5  # for a duplicate, or for what must not arrive
GO_WAIT = 30.0  # for the outage to begin
FLOODS = 2000  # broadcasts of FLOOD_SIZE characters in the slow-reader check
FLOOD_SIZE = 60_000
FLOOD = "flood "  # starts every flood message's text
IN_FLIGHT = 8  # flood messages sent ahead of what the reading clients have received
RSS_LIMIT_MB = 64  # the server's VmRSS, at most, while it floods a client that reads nothing

failures = 0


def check(ok, what, detail=""):
    global failures
    if ok:
        print(f"PASS {what}", flush=True)
    else:
        failures += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)


def node_name(index):
    return "ABCDEFGH"[index] if index < 8 else f"N{index}"


class Client:
    def __init__(self, node, url):
        self.node = node
        self.url = url
        self.inbox = []
        self.id = None
        self.floods = 0

    async def open(self):
        ws_url = "ws://" + self.url.removeprefix("http://") + "/chat"
        self.ws = await connect(
            ws_url,
            origin=self.url,
            subprotocols=["chat"],
            open_timeout=WAIT,
            close_timeout=1,
            ping_interval=None,
        )
        self.reader = asyncio.create_task(self.read())
        welcome = await self.first(lambda m: m.get("type") == "welcome")
        if welcome is None:
            raise RuntimeError(f"no welcome from node {node_name(self.node)}")
        self.id = welcome["id"]
        return self

    async def read(self):
        try:
            async for raw in self.ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    message = {"type": "unparsed", "raw": raw}
                if message.get("type") == "message" and str(message.get("text")).startswith(FLOOD):
                    # Counted, not kept: thousands of them would take more memory than the server.
                    self.floods += 1
                    continue
                self.inbox.append(message if isinstance(message, dict) else {"raw": message})
        except Exception:  # the connection ended; what came is in the inbox
            pass

    async def first(self, matches, timeout=WAIT, start=0):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for message in self.inbox[start:]:
                if matches(message):
                    return message
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.02)

    def count(self, matches):
        return sum(1 for m in self.inbox if matches(m))

    def last_count(self):
        counts = [m["count"] for m in self.inbox if "count" in m]
        return counts[-1] if counts else None

    async def send(self, text):
        await self.ws.send(text)

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except Exception:
            pass
        self.reader.cancel()


async def until(condition, timeout=WAIT):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def open_clients(urls, per_node):
    nodes = []
    for index, url in enumerate(urls):
        clients = []
        for _ in range(per_node):
            clients.append(await Client(index, url).open())
        nodes.append(clients)
    return nodes


def every(nodes):
    return [c for clients in nodes for c in clients]


def tag():
    return secrets.token_hex(6)


async def exactly_once(nodes, matches, expected, what):
    """Waits until every client in `expected` got one message that `matches`, then GRACE for
    duplicates; checks that those got it once and every other client never."""
    await until(lambda: all(c.count(matches) >= 1 for c in expected))
    await asyncio.sleep(GRACE)
    wrong = [
        f"#{c.id} on {node_name(c.node)} got it {c.count(matches)} times"
        for c in every(nodes)
        if c.count(matches) != (1 if c in expected else 0)
    ]
    check(not wrong, what, "; ".join(wrong))


async def broadcast_checks(nodes, sender, others_reached):
    text = f"broadcast {tag()}"
    await sender.send(text)

    def matches(m):
        return m.get("type") == "message" and m.get("text") == text and m.get("from") == sender.id

    expected = every(nodes) if others_reached else nodes[sender.node]
    where = "every node" if others_reached else f"only node {node_name(sender.node)}"
    await exactly_once(
        nodes, matches, expected,
        f"a broadcast from #{sender.id} on node {node_name(sender.node)} reaches {len(expected)} "
        f"clients on {where} exactly once",
    )


async def private_check(nodes, sender, target):
    text = f"private {tag()}"
    await sender.send(f"/msg {target.id} {text}")

    def matches(m):
        return (
            m.get("type") == "private" and m.get("text") == text
            and m.get("from") == sender.id and m.get("to") == target.id
        )

    await exactly_once(
        nodes, matches, [sender, target],
        f"/msg from #{sender.id} on node {node_name(sender.node)} to #{target.id} on node "
        f"{node_name(target.node)} arrives once, comes back to its sender once, reaches nobody else",
    )


async def private_error_check(nodes, sender, to, what, reason):
    text = f"nobody {tag()}"
    before = len(sender.inbox)
    await sender.send(f"/msg {to} {text}")

    def about_to(m):
        return (
            m.get("type") == "error"
            and re.search(rf"#{to}(?!\d)", str(m.get("text", ""))) is not None
        )

    error = await sender.first(about_to, start=before)
    await asyncio.sleep(GRACE)
    delivered = sum(c.count(lambda m: m.get("text") == text) for c in every(nodes))
    errors = sum(1 for m in sender.inbox[before:] if about_to(m))
    ok = error is not None and reason in error.get("text", "") and delivered == 0 and errors == 1
    check(ok, what, f"error {error}, {errors} errors, delivered {delivered} times")


async def cluster(urls):
    per_node = 3
    nodes = await open_clients(urls, per_node)
    try:
        ids = [c.id for c in every(nodes)]
        check(
            len(set(ids)) == len(ids),
            f"{len(ids)} ids from {len(urls)} nodes are all different",
            f"ids {ids}",
        )
        numbers = [{c.id // 1_000_000 for c in clients} for clients in nodes]
        check(
            all(len(n) == 1 for n in numbers) and len(set.union(*numbers)) == len(urls),
            "each node numbers its ids under a node number of its own",
            f"node numbers {numbers}",
        )
        total = len(ids)
        converged = await until(lambda: all(c.last_count() == total for c in every(nodes)))
        check(
            converged,
            f"every client's count reaches {total}, the clients of all nodes",
            f"last counts {[c.last_count() for c in every(nodes)]}",
        )

        for clients in nodes:
            await broadcast_checks(nodes, clients[0], others_reached=True)

        last = len(nodes) - 1
        await private_check(nodes, nodes[0][1], nodes[last][2])
        await private_check(nodes, nodes[1][0], nodes[0][0])
        await private_check(nodes, nodes[0][0], nodes[0][2])

        missing = (nodes[last][0].id // 1_000_000) * 1_000_000 + 999_999
        await private_error_check(
            nodes, nodes[0][0], missing,
            f"/msg to an id node {node_name(last)} does not hold is answered with an error",
            f"no connection #{missing}",
        )
        await private_error_check(
            nodes, nodes[0][0], 999,
            "/msg to an id no node could hold is answered with an error", "no connection #999",
        )
    finally:
        for c in every(nodes):
            await c.close()


async def outage(go_file, urls):
    nodes = await open_clients(urls, 2)
    try:
        print("connected", flush=True)
        began = await until(lambda: os.path.exists(go_file), GO_WAIT)
        check(began, f"the outage began within {GO_WAIT:.0f} s")
        if not began:
            return

        told = await until(
            lambda: all(c.count(lambda m: m.get("type") == "notice") >= 1 for c in every(nodes))
        )
        check(
            told,
            "every client is sent a notice that the other servers cannot be reached",
            f"notices {[c.count(lambda m: m.get('type') == 'notice') for c in every(nodes)]}",
        )

        for clients in nodes:
            await broadcast_checks(nodes, clients[0], others_reached=False)
            await private_check(nodes, clients[0], clients[1])

        sender, target = nodes[0][0], nodes[1][0]
        await private_error_check(
            nodes, sender, target.id,
            f"/msg from node {node_name(sender.node)} to #{target.id} on node "
            f"{node_name(target.node)} is answered with an error while Redis is unavailable",
            "Redis is unavailable",
        )

        ids = {c.id for c in every(nodes)}
        fresh = []
        for index, url in enumerate(urls):
            fresh.append(await Client(index, url).open())
        new_ids = [c.id for c in fresh]
        check(
            len(set(new_ids)) == len(new_ids) and not ids & set(new_ids),
            "new connections get new ids on every node while Redis is unavailable",
            f"new ids {new_ids}, ids before {sorted(ids)}",
        )
        for c in fresh:
            await c.close()
    finally:
        for c in every(nodes):
            await c.close()


def open_reading_nothing(url):
    """A WebSocket that reads the 101 and never another byte, with a 4 KB receive buffer."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(WAIT)
    s.connect((host, int(port)))
    s.sendall(
        f"GET /chat HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nOrigin: {url}\r\nSec-WebSocket-Protocol: chat\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        byte = s.recv(1)
        if not byte:
            break
        head += byte
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"the client that reads nothing was answered {head[:40]!r}")
    return s


def ended_by_peer(s, timeout):
    """Reads what is left until the end of stream (or a reset); False if none comes within
    `timeout`, however much arrives meanwhile."""
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            if not s.recv(1 << 16):
                return True
    except ConnectionResetError:
        return True
    except OSError:
        pass
    return False


def vm_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def slow(url, pid):
    normal = await Client(0, url).open()
    stuck = await asyncio.to_thread(open_reading_nothing, url)
    flooder = None
    try:
        joined = await normal.first(lambda m: m.get("type") == "join")
        if joined is None:
            raise RuntimeError("the client that reads nothing did not join")
        stuck_id = joined["id"]
        flooder = await Client(0, url).open()
        peak = vm_rss_mb(pid)

        async def watch():
            nonlocal peak
            while True:
                peak = max(peak, vm_rss_mb(pid))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        text = FLOOD + "x" * (FLOOD_SIZE - len(FLOOD))
        kept_up = True
        for i in range(FLOODS):
            if i >= IN_FLIGHT:
                kept_up = await until(
                    lambda: min(normal.floods, flooder.floods) >= i - IN_FLIGHT, WAIT
                )
                if not kept_up:
                    break
            await flooder.send(text)
        received = await until(lambda: min(normal.floods, flooder.floods) >= FLOODS, WAIT)
        watcher.cancel()
        peak = max(peak, vm_rss_mb(pid))
        check(
            kept_up and received and normal.floods == flooder.floods == FLOODS,
            f"{FLOODS} broadcasts of {FLOOD_SIZE} bytes reach the flooding client and a reading "
            "client once each while another client reads nothing",
            f"sent {i + 1}, received {flooder.floods} and {normal.floods}",
        )
        check(
            peak < RSS_LIMIT_MB,
            f"the server's VmRSS stays under {RSS_LIMIT_MB} MB during the flood "
            f"(peak {peak:.1f} MB)",
        )
        left = await normal.first(lambda m: m.get("type") == "leave" and m.get("id") == stuck_id)
        check(
            left is not None,
            f"the client that reads nothing (#{stuck_id}) is dropped: the others are told it left",
        )
        ended = await asyncio.to_thread(ended_by_peer, stuck, WAIT)
        check(ended, "the connection of the client that reads nothing is ended by the server")
        await broadcast_checks([[normal, flooder]], normal, others_reached=True)
        await broadcast_checks([[normal, flooder]], flooder, others_reached=True)
    finally:
        stuck.close()
        for c in (normal, flooder):
            if c is not None:
                await c.close()


def main():
    args = sys.argv[1:]
    try:
        if len(args) >= 3 and args[0] == "cluster":
            asyncio.run(asyncio.wait_for(cluster(args[1:]), 60))
        elif len(args) >= 4 and args[0] == "outage":
            asyncio.run(asyncio.wait_for(outage(args[1], args[2:]), 90))
        elif len(args) == 3 and args[0] == "slow":
            asyncio.run(asyncio.wait_for(slow(args[1], int(args[2])), 90))
        else:
            print(__doc__.strip(), file=sys.stderr)
            sys.exit(2)
    except Exception as e:  # a client that could not connect, or a run that took too long
        check(False, f"{args[0]} run", f"{type(e).__name__}: {e}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
