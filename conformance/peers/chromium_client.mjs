#!/usr/bin/env node
// Interop CLIENT peer: headless Chromium (Debian's `chromium`, driven by npm
// playwright-core), hybi-13 only. Browsers always offer permessage-deflate
// ("permessage-deflate; client_max_window_bits") and compress what they send
// once it is agreed.
//
//   node chromium_client.mjs URL VERSION [--deflate]     VERSION: hybi-13|13
//
// Opens a small page (no server of its own: the page is given to the browser
// directly) whose script opens `new WebSocket(URL)`, sends text messages of 0, 1,
// 125, 126, 127, 65535, 65536 and 1048576 bytes (multi-byte UTF-8 throughout)
// and binary messages of the same sizes, whole (the browser API cannot send
// fragments or pings), one at a time, checks each echo byte for byte and for
// its type, then closes with 1000 and checks that the close was clean with
// 1000. Prints the page's `ws.extensions` as "extensions: ...". With --deflate
// it fails unless `ws.extensions` is permessage-deflate; without, unless it is
// empty. Exit 0 when all of that held, 1 on any mismatch, 2 on bad arguments,
// 3 after 45 s. CHROMIUM overrides the browser's path (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(join(here, "package.json"))("playwright-core");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];

let profile;
let context;
async function finish(code, message) {
  if (message) (code === 0 ? console.log : console.error)(message);
  try {
    if (context) await Promise.race([context.close(), new Promise((r) => setTimeout(r, 5000))]);
  } catch (e) {}
  if (profile) rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}
const fail = (message, code = 1) => finish(code, `chromium_client: FAIL: ${message}`);

const args = process.argv.slice(2);
const deflate = args.includes("--deflate");
const [url, version] = args.filter((a) => a !== "--deflate");
if (!url || !version) await fail("usage: chromium_client.mjs URL VERSION [--deflate]", 2);
if (!["hybi-13", "13", "rfc6455"].includes(version)) await fail(`browsers speak only hybi-13, not '${version}'`, 2);
setTimeout(() => fail("timed out after 45 s", 3), 45_000).unref();

// The page. Its script runs the whole session and leaves the outcome in window.result.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>wsmachine interop: chromium client</title>
<pre id="log"></pre>
<script>
const log = (line) => (document.getElementById("log").textContent += line + "\\n");
const UNIT = Array.from("héllo ☃ 𝄞 ");  // 1-, 2-, 3- and 4-byte characters
const enc = new TextEncoder();
function textOf(n) {  // text of exactly n UTF-8 bytes
  let out = "", len = 0;
  for (let i = 0; ; i++) {
    const c = UNIT[i % UNIT.length], l = enc.encode(c).length;
    if (len + l > n) break;
    out += c; len += l;
  }
  return out + ".".repeat(n - len);
}
function binOf(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
async function session(url, sizes) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox = [], waiters = [];
  ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : inbox.push(e.data));
  const next = () => new Promise((res) => (inbox.length ? res(inbox.shift()) : waiters.push(res)));
  const closed = new Promise((res) => (ws.onclose = (e) => res(e)));
  await new Promise((res, rej) => {
    ws.onopen = res;
    ws.onerror = () => rej(new Error("the WebSocket did not open"));
  });
  ws.onerror = () => log("error event");
  log("open, extensions: " + ws.extensions);
  let echoes = 0;
  for (const n of sizes) {
    const text = textOf(n);
    ws.send(text);
    const got = await next();
    if (typeof got !== "string") throw new Error("text " + n + ": echo came back as binary");
    if (got !== text) throw new Error("text " + n + ": echo differs (got " + enc.encode(got).length + " bytes)");
    echoes++;
  }
  for (const n of sizes) {
    const data = binOf(n);
    ws.send(data);
    const got = await next();
    if (typeof got === "string") throw new Error("binary " + n + ": echo came back as text");
    if (!sameBytes(new Uint8Array(got), data)) throw new Error("binary " + n + ": echo differs (got " + got.byteLength + " bytes)");
    echoes++;
  }
  log(echoes + " echoes checked");
  ws.close(1000, "bye");
  const e = await closed;
  if (e.code !== 1000 || !e.wasClean) throw new Error("close: code " + e.code + ", clean " + e.wasClean);
  return { extensions: ws.extensions, echoes, close: e.code };
}
window.runSession = (url, sizes) =>
  session(url, sizes).then((r) => ({ ok: true, ...r }), (e) => ({ ok: false, error: String(e.message || e) }));
</script>`;

profile = mkdtempSync(join(tmpdir(), "interop-chromium-"));
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
} catch (e) {
  await fail(`chromium does not start: ${e.message.split("\n")[0]}`);
}
const page = context.pages()[0] || (await context.newPage());
page.on("console", (m) => console.log(`page console: ${m.text()}`));
await page.setContent(PAGE);
const r = await page.evaluate(([u, sizes]) => window.runSession(u, sizes), [url, SIZES]);
const pageLog = await page.textContent("#log");
for (const line of pageLog.trim().split("\n")) console.log(`page: ${line}`);
if (!r.ok) await fail(r.error);
console.log(`extensions: ${r.extensions}`);
if (deflate && !/^permessage-deflate\b/.test(r.extensions)) {
  await fail(`permessage-deflate not agreed (ws.extensions: ${JSON.stringify(r.extensions)})`);
}
if (!deflate && r.extensions !== "") await fail(`an extension was agreed: ${JSON.stringify(r.extensions)}`);
const browser = ((await page.evaluate(() => navigator.userAgent)).match(/Chrome\/[\d.]+/) || ["Chromium"])[0];
await finish(0, `chromium_client: OK (hybi-13${deflate ? ", permessage-deflate" : ""}, ${r.echoes} echoes, close ${r.close}, ${browser})`);
