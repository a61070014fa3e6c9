// Files through the JS SDK, as an app uses it: headless Chromium pages on Parley's own origin
// (the REST API answers no other) import `/sdk/parley.js` and upload a file's bytes, read from
// --file, with `client.upload()` in small chunks while the network misbehaves. Prints one JSON
// line: what the pages saw and what went over the network.
//
//   node sdk_files.mjs --parley http://127.0.0.1:PORT --case CASE --token-a JWT --file PATH
//                      --name NAME --chunk BYTES [--channel ID --token-b JWT] [--seconds 60]
//
// Cases:
//   resume
//       A uploads for --channel. Of its PATCH requests, the 3rd is cut before it reaches the
//       server, the 5th reaches it but its answer is lost, the 7th is answered with a (made up)
//       `409 upload_offset_mismatch`, and the 9th is held while the app pauses the upload, then
//       cut; the app resumes it. A sends the file with a message; B receives it and downloads
//       the bytes.
//   reload
//       A's page reloads while its 3rd PATCH is held; the new page resumes the upload from the
//       URL it kept (`resumeFrom`). Then a second upload is aborted mid-way, and the server is
//       asked about it.

import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";

const args = parseArgs();
const deadline = Date.now() + Number(args.seconds || 60) * 1000;
const parley = args.parley;
const bytes = await readFile(args.file);
const page_url = `${parley}/test-sdk-files/`;

const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumFlags() });

/**
 * A page on Parley's origin, with the SDK imported and a client connected: `window.client`,
 * `window.app` (what the SDK told the app). Every tus request is logged in `net.log`; a PATCH
 * takes the action planned for its number (1, 2, ...) in `net.plan`: "cut" (reset before it
 * reaches the server), "lost" (it reaches the server, the answer is reset), "mismatch" (answered
 * `409 upload_offset_mismatch` without reaching the server) or "hold" (waits for
 * `net.release()`, then is cut).
 */
async function open(name, token) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`.slice(0, 300)));
  page.on("crash", () => logs.push("the page crashed"));
  await context.route(`${page_url}blob.bin`, (route) => route.fulfill({ body: bytes, contentType: "application/octet-stream" }));
  const net = { log: [], plan: {}, patches: 0, held: null };
  let release;
  net.released = new Promise((resolve) => (release = resolve));
  net.release = () => release();
  await context.route("**/v1/uploads**", async (route) => {
    const request = route.request();
    const method = request.method();
    const entry = { method, url: request.url() };
    if (method === "PATCH") {
      net.patches += 1;
      entry.offset = Number(request.headers()["upload-offset"]);
      entry.action = net.plan[net.patches] || "continue";
    }
    net.log.push(entry);
    try {
      switch (entry.action) {
        case "cut":
          return await route.abort("connectionreset");
        case "lost":
          entry.status = (await route.fetch()).status();
          return await route.abort("connectionreset");
        case "mismatch":
          return await route.fulfill({
            status: 409,
            contentType: "application/json",
            headers: { "tus-resumable": "1.0.0" },
            body: JSON.stringify({ error: { code: "upload_offset_mismatch", message: "made up by the test" } }),
          });
        case "hold":
          net.held = entry;
          await net.released;
          entry.ended = true;
          return await route.abort("connectionreset");
        default:
          return await route.continue();
      }
    } catch (err) {
      // The page went away (a reload) or cancelled the request meanwhile.
      entry.routeError = String(err).slice(0, 200);
    }
  });
  const who = { name, context, page, logs, net, token };
  await start(who);
  return who;
}

/**
 * Load the page and connect the SDK's client in it. The page is the server's own `404` for an
 * address it does not have: a document of Parley's origin, as an app behind the same host
 * would be (one made up here, by interception, would count as a public page, and Chromium
 * refuses those the loopback server). The file's bytes come from the same origin, made up here.
 */
async function start(who) {
  await who.page.goto(page_url);
  await who.page.evaluate(async ({ token }) => {
    const { ParleyClient } = await import("/sdk/parley.js");
    const client = new ParleyClient({ url: location.origin, token, minBackoffMs: 200, maxBackoffMs: 1000 });
    const app = { progress: [], messages: [], errors: [] };
    window.client = client;
    window.app = app;
    client.on("message", (e) => app.messages.push(e.message));
    client.on("error", (e) => app.errors.push(`${e.code}: ${e.message}`));
    await client.connect();
    window.blob = await (await fetch("blob.bin")).blob();
  }, { token: who.token });
}

/** Start an upload of the page's blob as `window.upload`; its progress goes to `app.progress`. */
function upload(who, options) {
  return who.page.evaluate((options) => {
    const onProgress = (p) => {
      window.app.progress.push(p.sent);
      localStorage.setItem("upload", p.url);
    };
    window.upload = window.client.upload(window.blob, { ...options, onProgress, minBackoffMs: 100, maxBackoffMs: 400 });
    window.upload.promise.then(
      (file) => (window.app.file = file),
      (e) => (window.app.failed = { code: e.code, message: e.message }),
    );
  }, options);
}

/** Wait until `check` (run in the page) gives something truthy; return it. */
async function until(who, what, check, arg) {
  while (Date.now() < deadline) {
    const value = await who.page.evaluate(check, arg).catch(() => null);
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${who.name}: timed out waiting for ${what}`);
}

/** Wait until `check` (run here) gives something truthy. */
async function poll(what, check) {
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The upload's end: the file, or why it failed. */
const settled = (who) => until(who, "the upload to settle", () => window.app.file || window.app.failed);

const cases = {
  async resume(report) {
    const a = await open("a", args["token-a"]);
    const b = await open("b", args["token-b"]);
    report.pages = [a, b];
    const channel = Number(args.channel);
    a.net.plan = { 3: "cut", 5: "lost", 7: "mismatch", 9: "hold" };
    await upload(a, { name: args.name, channel, chunkSize: Number(args.chunk) });
    await poll("the 9th PATCH, held", () => a.net.held);
    report.paused = await a.page.evaluate(() => {
      window.upload.pause();
      return { state: window.upload.state, sent: window.upload.sent };
    });
    a.net.release();
    // The cancelled request ends; the upload stays paused until the app resumes it.
    await poll("the held PATCH to end", () => a.net.held.ended);
    report.stateWhilePaused = await a.page.evaluate(() => window.upload.state);
    report.requestsWhilePaused = a.net.log.length - a.net.log.indexOf(a.net.held) - 1;
    await a.page.evaluate(() => window.upload.resume());
    const outcome = await settled(a);
    report.outcome = outcome;
    report.upload = await a.page.evaluate(() => ({ state: window.upload.state, sent: window.upload.sent, total: window.upload.total }));
    report.progress = await a.page.evaluate(() => window.app.progress);
    report.network = a.net.log;
    if (!outcome.id) throw new Error(`the upload failed: ${JSON.stringify(outcome)}`);

    report.sent = await a.page.evaluate(
      ({ channel, id }) => window.client.send(channel, "", { attachments: [id] }),
      { channel, id: outcome.id },
    );
    report.received = await until(b, "B receives the message", (id) => window.app.messages.find((m) => m.id === id), report.sent.message_id);
    report.download = await b.page.evaluate(async (id) => {
      const blob = await window.client.download(id);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
      return { size: blob.size, sha256: [...digest].map((x) => x.toString(16).padStart(2, "0")).join("") };
    }, report.received.attachments?.[0]?.id);
    report.errors = { a: await a.page.evaluate(() => window.app.errors), b: await b.page.evaluate(() => window.app.errors) };
  },

  async reload(report) {
    const a = await open("a", args["token-a"]);
    report.pages = [a];
    a.net.plan = { 3: "hold" };
    await upload(a, { name: args.name, chunkSize: Number(args.chunk) });
    await poll("the 3rd PATCH, held", () => a.net.held);
    report.before = await a.page.evaluate(() => ({ url: window.upload.url, sent: window.upload.sent, kept: localStorage.getItem("upload") }));
    const logged = a.net.log.length;
    await start(a);
    a.net.release();
    report.resumedFrom = await a.page.evaluate(() => localStorage.getItem("upload"));
    await upload(a, { name: args.name, chunkSize: Number(args.chunk), resumeFrom: report.resumedFrom });
    report.outcome = await settled(a);
    report.afterReload = a.net.log.slice(logged).filter((e) => e.routeError === undefined);
    report.progressAfterReload = await a.page.evaluate(() => window.app.progress);

    // A second upload of the same bytes, aborted while its 2nd PATCH is on its way.
    a.net.held = null;
    a.net.released = new Promise((resolve) => (a.net.release = resolve));
    a.net.plan = { [a.net.patches + 2]: "hold" };
    await upload(a, { name: `${args.name}.2`, chunkSize: Number(args.chunk) });
    await poll("the aborted upload's 2nd PATCH, held", () => a.net.held);
    const abortFrom = a.net.log.length;
    report.aborted = await a.page.evaluate(async () => {
      const url = window.upload.url;
      await window.upload.abort();
      const failed = await window.upload.promise.then(() => null, (e) => e.code);
      const token = await window.client.options.token;
      const head = await fetch(url, { method: "HEAD", headers: { authorization: `Bearer ${token}`, "tus-resumable": "1.0.0" } });
      return { url, state: window.upload.state, rejected: failed, headAfter: head.status };
    });
    a.net.release();
    report.abortRequests = a.net.log.slice(abortFrom).map((e) => e.method);
  },
};

let report = { ok: false };
try {
  const run = cases[args.case];
  if (!run) throw new Error(`no case ${args.case}`);
  await run(report);
  report.ok = true;
} catch (err) {
  report.ok = false;
  report.error = String(err && err.stack ? err.stack : err);
} finally {
  const pages = report.pages || [];
  delete report.pages;
  report.logs = Object.fromEntries(pages.map((p) => [p.name, p.logs.slice(-20)]));
  if (!report.network && pages[0]) report.network = pages[0].net.log;
  await browser.close().catch(() => {});
}
console.log(JSON.stringify(report));
