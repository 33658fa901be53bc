// The Bun peer of scripts/race.sh: an echo server on Bun.serve, whose WebSocket server is
// uWebSockets. Text is echoed as text and binary as binary; Bun answers close itself.
//
//   bun run scripts/race/bun_echo.js [ADDR]
//
// ADDR is HOST:PORT (default 127.0.0.1:9005; port 0 picks a free one). Prints
// `listening on ws://HOST:PORT` once it accepts connections. A plain HTTP request gets 426.

const addr = process.argv[2] ?? "127.0.0.1:9005";
const colon = addr.lastIndexOf(":");
if (colon < 0 || !/^\d+$/.test(addr.slice(colon + 1))) {
  console.error(`bun_echo: ADDR must be HOST:PORT, not ${addr}`);
  process.exit(2);
}

const server = Bun.serve({
  hostname: addr.slice(0, colon),
  port: Number(addr.slice(colon + 1)),
  fetch(request, server) {
    if (server.upgrade(request)) {
      return;
    }
    return new Response("upgrade required\n", { status: 426 });
  },
  websocket: {
    message(ws, message) {
      ws.send(message);
    },
    perMessageDeflate: false,
    // Above echo_load's largest message (65535 B).
    maxPayloadLength: 1024 * 1024,
  },
});

console.log(`listening on ws://${server.hostname}:${server.port}`);
