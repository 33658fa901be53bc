#!/usr/bin/env node
// Headless Chromium (Debian's `chromium`, driven by playwright-core from
// conformance/peers) as a wss:// client.
//
//   node chromium_tls_client.mjs URL SPKI_SHA256_BASE64
//
// Chromium has no switch to trust one extra CA without touching an NSS database, so the
// test server's key is pinned instead: --ignore-certificate-errors-spki-list accepts a
// chain only if one of its certificates has exactly this public key (base64 of the SHA-256
// of its DER SubjectPublicKeyInfo). Any other certificate is still refused.
// Sends a text and a binary message, checks each echo, closes with 1000 and checks the
// close was clean with 1000. Exit 0 on success, 1 on failure, 2 on bad arguments, 3
// after 45 s. CHROMIUM overrides the browser's path (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const peers = join(here, "..", "..", "conformance", "peers");
const { chromium } = createRequire(join(peers, "package.json"))("playwright-core");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

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
const fail = (message, code = 1) => finish(code, `chromium_tls_client: FAIL: ${message}`);

const [url, spki] = process.argv.slice(2);
if (!url || !spki) await fail("usage: chromium_tls_client.mjs URL SPKI_SHA256_BASE64", 2);
setTimeout(() => fail("timed out after 45 s", 3), 45_000).unref();

async function session(url) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox = [], waiters = [];
  ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : inbox.push(e.data));
  const next = () => new Promise((res) => (inbox.length ? res(inbox.shift()) : waiters.push(res)));
  const closed = new Promise((res) => (ws.onclose = (e) => res(e)));
  try {
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = () => rej(new Error("the WebSocket did not open"));
    });
    const text = "héllo ☃ 𝄞 over TLS";
    ws.send(text);
    const gotText = await next();
    if (gotText !== text) throw new Error("text echo differs: " + String(gotText));
    const data = new Uint8Array(70000).map((_, i) => (i * 31 + 7) & 0xff);
    ws.send(data);
    const got = await next();
    if (typeof got === "string") throw new Error("binary echo came back as text");
    const back = new Uint8Array(got);
    if (back.length !== data.length || back.some((b, i) => b !== data[i])) throw new Error("binary echo differs");
    ws.close(1000, "bye");
    const e = await closed;
    if (e.code !== 1000 || !e.wasClean) throw new Error("close: code " + e.code + ", clean " + e.wasClean);
    return { ok: true, extensions: ws.extensions };
  } catch (e) {
    return { ok: false, error: String(e.message || e) };
  }
}

profile = mkdtempSync(join(tmpdir(), "tls-chromium-"));
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
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
} catch (e) {
  await fail(`chromium does not start: ${e.message.split("\n")[0]}`);
}
const page = context.pages()[0] || (await context.newPage());
page.on("console", (m) => console.log(`page console: ${m.text()}`));
await page.setContent("<!doctype html><title>wsmachine tls check</title>");
const r = await page.evaluate(session, url);
if (!r.ok) await fail(r.error);
const browser = ((await page.evaluate(() => navigator.userAgent)).match(/Chrome\/[\d.]+/) || ["Chromium"])[0];
await finish(0, `chromium_tls_client: OK (wss, text + binary echo, close 1000, extensions "${r.extensions}", ${browser})`);
