#!/usr/bin/env node
// Interop echo SERVER peer built on npm `websocket-driver` (0.8.0):
// hixie-75, hixie-76 and hybi-13 (with {allowDrafts: true}; its hybi driver
// refuses Sec-WebSocket-Version 7 and 8).
//
//   node driver_server.js PORT [SECONDS]
//
// Listens on 127.0.0.1:PORT (any path), echoes text as text and binary as
// binary (messages up to 32 MiB), answers pings and closes (the driver does
// both; on hixie-76 it answers 0xFF 0x00 with 0xFF 0x00). Prints
// "listening on ws://127.0.0.1:PORT" when ready; stops after SECONDS
// (default 300) or on SIGTERM/SIGINT.
'use strict';
const http = require('http');
const path = require('path');
const websocket = require(path.join(__dirname, 'node_modules', 'websocket-driver'));

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3] || 300);
if (!port) {
  console.error('usage: driver_server.js PORT [SECONDS]');
  process.exit(2);
}

const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
server.on('upgrade', (req, socket, head) => {
  if (!websocket.isWebSocket(req)) return socket.destroy();
  const driver = websocket.http(req, { allowDrafts: true, maxLength: 2 ** 25 });
  socket.on('error', () => {});
  // hixie-75 has no closing handshake: the peer just closes TCP.
  socket.on('end', () => { driver.close(); socket.end(); });
  driver.on('error', (e) => console.error(`driver error (${driver.version}): ${e.message}`));
  driver.on('close', () => socket.end());
  driver.on('message', (ev) => {
    if (typeof ev.data === 'string') driver.text(ev.data); else driver.binary(ev.data);
  });
  driver.io.write(head); // bytes after the request head (hixie-76's 8-byte key3, maybe frames)
  socket.pipe(driver.io).pipe(socket);
  driver.start();
});
server.listen(port, '127.0.0.1', () => console.log(`listening on ws://127.0.0.1:${port} (websocket-driver)`));
const stop = () => { server.close(); process.exit(0); };
setTimeout(stop, seconds * 1000).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
