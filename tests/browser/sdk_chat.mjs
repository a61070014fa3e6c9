// Two headless Chromium pages, on an origin of their own, import the JS SDK from the Parley
// server (`/sdk/parley.js`) and chat in one channel as two users. Page B's network is cut while
// A sends five messages, then restored: B must end with every message once, in order. Prints
// one JSON line: what each page's app saw.
//
//   node sdk_chat.mjs --parley http://127.0.0.1:PORT --channel 1 --token-a JWT --token-b JWT
//                     [--seconds 30]

import http from "node:http";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const deadline = Date.now() + Number(args.seconds || 30) * 1000;

// The app's page, served from another origin than Parley's, so the import crosses origins.
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!doctype html><meta charset=utf-8><title>sdk chat</title>");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumFlags() });

/** A page whose `window.app` records what the SDK told the app. */
async function open(token) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  await page.goto(origin);
  await page.evaluate(
    async ({ parley, token }) => {
      const { ParleyClient } = await import(`${parley}/sdk/parley.js`);
      const client = new ParleyClient({ url: parley, token, minBackoffMs: 200, maxBackoffMs: 1000 });
      const app = { messages: [], connection: [], memberRead: [], errors: [], online: [] };
      window.client = client;
      window.app = app;
      window.addEventListener("offline", () => app.online.push(false));
      window.addEventListener("online", () => app.online.push(true));
      client.on("message", (e) => app.messages.push({ id: e.message.id, seq: e.seq, body: e.message.body }));
      client.on("connection", (e) => app.connection.push(e.state));
      client.on("member_read", (e) => app.memberRead.push({ user_id: e.user_id, read_seq: e.read_seq }));
      client.on("error", (e) => app.errors.push(`${e.code}: ${e.message}`));
      await client.connect();
    },
    { parley: args.parley, token },
  );
  return { context, page, logs };
}

/** Wait until `check` (run in the page) is true, or fail naming `what`. */
async function until(page, what, check, arg) {
  while (Date.now() < deadline) {
    if (await page.evaluate(check, arg)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const app = (p) => p.page.evaluate(() => window.app);
const send = (p, body) => p.page.evaluate(({ channel, body }) => window.client.send(channel, body), { channel, body });

let result = { ok: false };
let a, b;
try {
  a = await open(args["token-a"]);
  b = await open(args["token-b"]);

  // A says hello; B gets it once; B reads it and A is told.
  const first = await send(a, "hello from A");
  await until(b.page, "B receives the first message", () => window.app.messages.length >= 1);
  const marked = await b.page.evaluate(({ channel, seq }) => window.client.markRead(channel, seq), {
    channel,
    seq: first.seq,
  });
  await until(
    a.page,
    "A hears that B read it",
    (seq) => window.app.memberRead.some((r) => r.read_seq >= seq),
    first.seq,
  );
  const receipts = await a.page.evaluate(
    ({ channel, id }) => window.client.receipts(channel, id),
    { channel, id: first.message_id },
  );

  // B's network goes away. If Chromium leaves the open socket be, the SDK's `offline` listener
  // drops it; failing that, the test drops it, so the reconnect path runs either way.
  await b.context.setOffline(true);
  let droppedBy = "sdk";
  try {
    await until(b.page, "B notices", () => window.client.state !== "open");
  } catch {
    droppedBy = "test";
    await b.page.evaluate(() => window.client.dropConnection("test: offline"));
  }
  const offlineState = await b.page.evaluate(() => window.client.state);
  const sent = [];
  for (let i = 1; i <= 5; i++) sent.push(await send(a, `while B is away ${i}`));
  // A request B makes while away waits for the resume.
  const queued = b.page.evaluate(
    ({ channel, seq }) => window.client.markRead(channel, seq).then((r) => r, (e) => ({ error: e.code })),
    { channel, seq: first.seq },
  );
  await b.context.setOffline(false);
  const queuedReply = await queued;
  // A last message: once B has it, anything replayed twice would have arrived before it.
  const last = await send(a, "welcome back");
  const has = (seq) => window.app.messages.some((m) => m.seq === seq);
  await until(b.page, "B receives the last message", has, last.seq);
  await until(a.page, "A receives its own last message", has, last.seq);

  result = {
    ok: true,
    first,
    marked,
    receipts,
    sent,
    last,
    droppedBy,
    offlineState,
    queuedReply,
    a: await app(a),
    b: await app(b),
  };
} catch (err) {
  result = {
    ok: false,
    error: String(err && err.stack ? err.stack : err),
    a: a && (await app(a).catch(() => null)),
    b: b && (await app(b).catch(() => null)),
  };
} finally {
  if (a) result.logsA = a.logs;
  if (b) result.logsB = b.logs;
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result));
