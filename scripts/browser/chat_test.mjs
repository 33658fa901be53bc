// Drives Debian's chromium (headless) against the chat_server example: three pages join, chat,
// send a private message and see their round-trip times; plain HTTP requests check the page,
// the 404s, the 403s for bad origins and the subprotocol; SIGTERM must close every page with
// 1001. Starts the server itself (CHAT_SERVER is the binary's path) on a free port.
// Ends with `browser: N passed, M failed` and exits non-zero if anything failed.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const SERVER = process.env.CHAT_SERVER;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT = process.env.SCREENSHOT; // a path, to look at the page by eye
const WAIT = 5000;

if (!SERVER) {
  console.error("chat_test: set CHAT_SERVER to the chat_server binary");
  process.exit(2);
}

// The whole run is bounded, whatever hangs.
const deadline = setTimeout(() => {
  console.log("FAIL the test did not finish within 120 s");
  console.log(`browser: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 120_000);

let passed = 0;
let failed = 0;
async function check(name, body) {
  try {
    await body();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message.split("\n")[0]}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// The server, on a free port; resolves to its address once it prints it.
function startServer() {
  const server = spawn(SERVER, ["127.0.0.1:0", "--ping-interval", "0.5"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderrText = "";
  server.stderr.on("data", (d) => (server.stderrText += d));
  server.exited = new Promise((resolve) => server.on("exit", (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^listening on (http:\/\/\S+)$/m);
      if (m) resolve(m[1]);
    });
    server.exited.then(({ code }) => reject(new Error(`chat_server exited (${code}): ${server.stderrText}`)));
    setTimeout(() => reject(new Error("chat_server did not start in 10 s")), 10_000);
  });
  return { server, listening };
}

// A plain HTTP request; resolves to { status, headers, body } (101 answers included).
function request(base, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, base), { headers, timeout: WAIT }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers, body: "" });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to ${path} in ${WAIT} ms`)));
    req.on("error", reject);
  });
}

function upgradeHeaders(extra) {
  return {
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
    ...extra,
  };
}

// Waits until an element matching `selector` has exactly `text`.
async function shows(page, selector, text) {
  await page.waitForFunction(
    ([selector, text]) => [...document.querySelectorAll(selector)].some((e) => e.textContent === text),
    [selector, text],
    { timeout: WAIT },
  );
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

const { server, listening } = startServer();
let base;
try {
  base = await listening;
} catch (e) {
  console.log(`FAIL chat_server starts: ${e.message}`);
  console.log("browser: 0 passed, 1 failed");
  process.exit(1);
}
const origin = base; // the default allowlist: the server's own origin

await check("GET / serves the chat page as HTML", async () => {
  const r = await request(base, "/");
  assert(r.status === 200, `status ${r.status}`);
  assert(r.headers["content-type"]?.startsWith("text/html"), `content-type ${r.headers["content-type"]}`);
  assert(r.body.includes("<title>wsmachine chat</title>"), "no chat page in the body");
});
await check("GET of another path is a 404", async () => {
  const r = await request(base, "/nothing-here");
  assert(r.status === 404, `status ${r.status}`);
});
await check("an upgrade from a foreign origin is a 403", async () => {
  const r = await request(base, "/chat", upgradeHeaders({ Origin: "http://evil.example" }));
  assert(r.status === 403, `status ${r.status}`);
});
await check("an upgrade without an origin is a 403", async () => {
  const r = await request(base, "/chat", upgradeHeaders({}));
  assert(r.status === 403, `status ${r.status}`);
});
await check("an upgrade on another path is a 404", async () => {
  const r = await request(base, "/other", upgradeHeaders({ Origin: origin }));
  assert(r.status === 404, `status ${r.status}`);
});
await check("an upgrade offering chat gets 101 and the chat subprotocol", async () => {
  const r = await request(
    base,
    "/chat",
    upgradeHeaders({ Origin: origin, "Sec-WebSocket-Protocol": "superchat, chat" }),
  );
  assert(r.status === 101, `status ${r.status}`);
  assert(r.headers["sec-websocket-protocol"] === "chat", `protocol ${r.headers["sec-websocket-protocol"]}`);
});
await check("an upgrade offering no subprotocol gets 101 and none", async () => {
  const r = await request(base, "/chat", upgradeHeaders({ Origin: origin }));
  assert(r.status === 101, `status ${r.status}`);
  assert(!("sec-websocket-protocol" in r.headers), "a subprotocol was chosen");
});

const profile = mkdtempSync(join(tmpdir(), "chat-chromium-"));
let context;
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
  failed++;
  console.log(`FAIL chromium starts: ${e.message.split("\n")[0]}`);
}

if (context) {
  const pages = [];
  const ids = [];
  for (const name of ["A", "B", "C"]) {
    await check(`page ${name} loads and is given an id`, async () => {
      const page = await context.newPage();
      pages.push(page);
      await page.goto(base + "/", { timeout: WAIT });
      await page.waitForFunction(() => /^#\d+$/.test(document.getElementById("me").textContent), null, {
        timeout: WAIT,
      });
      ids.push((await page.textContent("#me")).slice(1));
    });
  }
  const [a, b, c] = pages;
  const [idA, idB, idC] = ids;

  if (pages.length === 3 && ids.length === 3) {
    await check("ids are distinct", async () => {
      assert(new Set(ids).size === 3, `ids ${ids}`);
    });
    await check("page A shows hybi-13 and the chat subprotocol", async () => {
      await shows(a, "#status", `connected as #${idA} over hybi-13 (subprotocol chat)`);
    });
    await check("page A sees B and C join, and a count of 3", async () => {
      await shows(a, "#log li", `#${idB} joined`);
      await shows(a, "#log li", `#${idC} joined`);
      await shows(a, "#count", "3");
    });
    await check("a message from A reaches every page", async () => {
      await say(a, "hello from A");
      for (const page of pages) await shows(page, "#log li.message", `#${idA}: hello from A`);
    });
    await check("a message from B reaches A as text, markup and all", async () => {
      const text = "héllo <b>not bold</b> \"quoted\" \\ 💬";
      await say(b, text);
      await shows(a, "#log li.message", `#${idB}: ${text}`);
      assert((await a.$$("#log b")).length === 0, "the message was rendered as HTML");
    });
    await check("a private message reaches B only, and A sees it sent", async () => {
      await say(a, `/msg ${idB} secret for B`);
      await shows(b, "#log li.private", `from #${idA} (private): secret for B`);
      await shows(a, "#log li.private", `to #${idB} (private): secret for B`);
      // C's messages arrive in order: once it has A's next broadcast, a leaked private would
      // be there already.
      await say(a, "after the secret");
      await shows(c, "#log li.message", `#${idA}: after the secret`);
      const leaked = await c.$$eval("#log li", (lis) => lis.filter((li) => li.textContent.includes("secret for B")).length);
      assert(leaked === 0, "page C shows the private message");
    });
    await check("a private message to a missing id is an error for its sender", async () => {
      await say(a, "/msg 999999 anyone?");
      await shows(a, "#log li.error", "no connection #999999");
    });
    await check("every page shows its ping round-trip time", async () => {
      for (const page of pages) {
        await page.waitForFunction(() => /^\d+\.\d{3} ms$/.test(document.getElementById("rtt").textContent), null, {
          timeout: WAIT,
        });
      }
    });
    await check("when C leaves, A sees it and a count of 2", async () => {
      await c.close();
      await shows(a, "#log li.leave", `#${idC} left`);
      await shows(a, "#count", "2");
      await shows(b, "#count", "2");
    });
    if (SCREENSHOT) await a.screenshot({ path: SCREENSHOT });
    await check("SIGTERM closes every page with 1001 and the server exits 0", async () => {
      server.kill("SIGTERM");
      await shows(a, "#status", "closed 1001 server shutting down");
      await shows(b, "#status", "closed 1001 server shutting down");
      const exit = await Promise.race([
        server.exited,
        new Promise((resolve) => setTimeout(() => resolve({ code: "none within 10 s" }), 10_000)),
      ]);
      assert(exit.code === 0, `exit code ${exit.code}, signal ${exit.signal}: ${server.stderrText.slice(-300)}`);
    });
  }
  await context.close();
}
rmSync(profile, { recursive: true, force: true });
if (server.exitCode === null) server.kill("SIGKILL");
clearTimeout(deadline);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
