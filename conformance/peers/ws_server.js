#!/usr/bin/env node
// Interop echo SERVER peer built on npm `ws` (8.23.0): hybi-08 and hybi-13.
//
//   node ws_server.js PORT [SECONDS] [--deflate]
//
// Listens on 127.0.0.1:PORT, echoes text as text and binary as binary
// (messages up to 32 MiB), answers pings and closes (the library does both).
// Prints "listening on ws://127.0.0.1:PORT" when ready; stops after SECONDS
// (default 300) or on SIGTERM/SIGINT.
// --deflate: accepts permessage-deflate (ws's defaults, threshold 0: every
// message goes compressed) and logs each connection's agreed extensions
// ("PORT: extensions: ...").
'use strict';
const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, 'node_modules', 'ws'));

const args = process.argv.slice(2);
const deflate = args.includes('--deflate');
const [portArg, secondsArg] = args.filter((a) => a !== '--deflate');
const port = Number(portArg);
const seconds = Number(secondsArg || 300);
if (!port) {
  console.error('usage: ws_server.js PORT [SECONDS] [--deflate]');
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  maxPayload: 2 ** 25,
});
wss.on('connection', (ws, req) => {
  if (deflate) console.log(`${req.socket.remotePort}: extensions: ${ws.extensions || '(none)'}`);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${port} (ws)`));
const stop = () => { wss.close(); process.exit(0); };
setTimeout(stop, seconds * 1000).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
