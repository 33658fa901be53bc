#!/usr/bin/env node
// Interop CLIENT peer built on npm `ws` (8.23.0): hybi-08 and hybi-13 only
// (ws speaks Sec-WebSocket-Version 8 and 13, nothing older).
//
//   node ws_client.js URL VERSION [--deflate]     VERSION: hybi-08|8 or hybi-13|13
//
// Sends text messages of 0, 1, 125, 126, 127, 65535, 65536 and 1048576 bytes
// (multi-byte UTF-8 throughout) and binary messages of the same sizes, one at
// a time, and checks each echo byte for byte and for its type. Then one text
// message sent in three fragments (split inside a UTF-8 character), a ping
// whose pong must carry the same payload, and a close with code 1000 whose
// answer must be a close frame with code 1000. Exit 0 when all of that held,
// 1 on any mismatch, 2 on bad arguments, 3 when 30 s passed.
//
// --deflate: offers permessage-deflate (ws's default offer; threshold 0, though
// ws applies its threshold only without context takeover: every message goes
// compressed), fails unless the server agreed to it (ws.extensions, printed as
// "extensions: ..."), and also sends a 256 KiB text and a 1 MiB binary message
// in 4 and 16 compressed fragments.
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];
const UNIT = Buffer.from('héllo ☃ 𝄞 ', 'utf8'); // 16 bytes: 1-, 2-, 3- and 4-byte characters

// Text of exactly n bytes: whole copies of UNIT's characters, padded with '.'.
function textOf(n) {
  const chars = Array.from(UNIT.toString('utf8'));
  let out = '';
  let len = 0;
  for (let i = 0; ; i++) {
    const c = chars[i % chars.length];
    const l = Buffer.byteLength(c);
    if (len + l > n) break;
    out += c;
    len += l;
  }
  return out + '.'.repeat(n - len);
}
function binOf(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function fail(msg, code = 1) {
  console.error(`ws_client: FAIL: ${msg}`);
  process.exit(code);
}

const args = process.argv.slice(2);
const deflate = args.includes('--deflate');
const [url, versionArg] = args.filter((a) => a !== '--deflate');
if (!url || !versionArg) fail('usage: ws_client.js URL VERSION [--deflate]', 2);
const version = { 'hybi-08': 8, '8': 8, 'hybi-13': 13, '13': 13, rfc6455: 13 }[versionArg];
if (!version) fail(`ws speaks only hybi-08 and hybi-13, not '${versionArg}'`, 2);
setTimeout(() => fail('timed out after 30 s', 3), 30000).unref();

const ws = new WebSocket(url, {
  protocolVersion: version,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  maxPayload: 2 ** 25,
  handshakeTimeout: 10000,
});
ws.on('error', (e) => fail(`socket error: ${e.message}`));

// Messages arrive in order; each waiter takes the next one.
const inbox = [];
const waiters = [];
ws.on('message', (data, isBinary) => {
  const m = { data, isBinary };
  if (waiters.length) waiters.shift()(m); else inbox.push(m);
});
const nextMessage = () => new Promise((res) => (inbox.length ? res(inbox.shift()) : waiters.push(res)));

async function roundTrip(label, payload, binary) {
  ws.send(payload, { binary });
  const m = await nextMessage();
  const want = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  if (m.isBinary !== binary) fail(`${label}: echo came back as ${m.isBinary ? 'binary' : 'text'}`);
  if (!want.equals(m.data)) fail(`${label}: echo differs (sent ${want.length} bytes, got ${m.data.length})`);
}

// A message sent in `parts` fragments (compressed as one message when deflate is agreed).
async function fragmentedRoundTrip(label, payload, binary, parts) {
  const step = Math.ceil(payload.length / parts);
  for (let at = 0; at < payload.length; at += step) {
    const fin = at + step >= payload.length;
    ws.send(payload.subarray(at, at + step), { binary, fin });
  }
  const m = await nextMessage();
  if (m.isBinary !== binary) fail(`${label}: echo came back as ${m.isBinary ? 'binary' : 'text'}`);
  if (!payload.equals(m.data)) fail(`${label}: echo differs (sent ${payload.length} bytes, got ${m.data.length})`);
}

ws.on('open', async () => {
  if (deflate) {
    // ws.extensions is the server's Sec-WebSocket-Extensions as ws accepted it.
    if (!/^permessage-deflate\b/.test(ws.extensions)) {
      fail(`permessage-deflate offered but not agreed (extensions: ${JSON.stringify(ws.extensions)})`);
    }
    console.log(`extensions: ${ws.extensions}`);
  }
  for (const n of SIZES) await roundTrip(`text ${n}`, textOf(n), false);
  await roundTrip('text "héllo ☃ 𝄞"', 'héllo ☃ 𝄞', false);
  for (const n of SIZES) await roundTrip(`binary ${n}`, binOf(n), true);

  // One text message in three frames; the first split falls inside '☃'.
  const whole = Buffer.from('fragmented: héllo ☃ 𝄞', 'utf8');
  const cut = whole.indexOf(Buffer.from('☃', 'utf8')) + 1;
  ws.send(whole.subarray(0, cut), { binary: false, fin: false });
  ws.send(whole.subarray(cut, cut + 3), { binary: false, fin: false });
  ws.send(whole.subarray(cut + 3), { binary: false, fin: true });
  const f = await nextMessage();
  if (f.isBinary || !whole.equals(f.data)) fail('fragmented text: echo differs');
  if (deflate) {
    await fragmentedRoundTrip('text 262144 in 4 fragments', Buffer.from(textOf(1 << 18), 'utf8'), false, 4);
    await fragmentedRoundTrip('binary 1048576 in 16 fragments', binOf(1 << 20), true, 16);
  }

  const pingData = Buffer.from('ping ☃ 42', 'utf8');
  const pong = new Promise((res) => ws.once('pong', res));
  ws.ping(pingData);
  const got = await pong;
  if (!pingData.equals(got)) fail(`pong payload ${JSON.stringify(got.toString())} differs from the ping's`);

  ws.on('close', (code) => {
    if (code !== 1000) fail(`server's close frame carried code ${code}, expected 1000 (1005 = no code, 1006 = no close frame)`);
    const how = deflate ? `permessage-deflate, ${2 * SIZES.length + 1} echoes, 3 fragmented` : `${2 * SIZES.length + 1} echoes, fragmented`;
    console.log(`ws_client: OK (hybi-${String(version).padStart(2, '0')}, ${how}, ping/pong, close 1000)`);
    process.exit(0);
  });
  ws.close(1000, 'bye');
});
