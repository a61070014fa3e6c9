// Subscriber renegotiation through Parley with headless Chromium pages (fake camera and
// microphone, each page publishing both unless told otherwise). Prints one JSON line.
//
//   node renegotiate.mjs --rtc ws://127.0.0.1:PORT/v1/rtc --tokens JWT,JWT[,JWT] --scenario NAME
//                        [--order bca]
//
// Scenarios (pages are a, b, c in the order of --tokens):
// - `leave`: three pages; once each decodes the other two cameras, they leave in --order, one
//   every few seconds. After each leave, every page still in the meeting is checked: not
//   removed, no errors, and still decoding the cameras of the others still there.
// - `resubscribe`: b drops every track of a, then subscribes to them again: b decodes a's
//   camera again on a new m-line.
// - `unpublish`: a unpublishes its microphone, whose m-line was the first b was offered: b
//   stays and keeps decoding a's camera.
// - `ice-refused`: b asks for an ICE restart of its subscriber connection and answers the
//   offer without ICE credentials; the server refuses that answer and sends a fresh offer,
//   with new credentials, whose answer brings a's camera back.

import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs, serveMeetingPage } from "./common.mjs";

const args = parseArgs();
const { origin, server } = await serveMeetingPage();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: chromiumFlags(undefined, ["--allow-loopback-in-peer-connection"]),
});

async function open(name, token) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  await page.goto(`${origin}/?${new URLSearchParams({ rtc: args.rtc, token, screen: "0" })}`);
  return { name, page, logs, left: false };
}

const stats = (p) => p.page.evaluate(() => window.receivedStats());
const state = (p) => p.page.evaluate(() => window.parley);
/** A page's participant sid, once the server answered its offer. */
async function sid(p) {
  for (let i = 0; i < 100; i++) {
    const published = (await state(p)).published;
    if (published.length > 0) return published[0].track.participant;
    await sleep(200);
  }
  return null;
}

/** Frames decoded per m-line of received video from `publishers` (participant sids). */
async function frames(p, publishers) {
  const out = {};
  for (const s of await stats(p)) {
    if (s.kind === "video" && publishers.includes(s.participant)) out[s.mid] = s.framesDecoded;
  }
  return out;
}

/**
 * Wait (up to `seconds`) until `p` decodes a camera of every one of `publishers` with more than
 * 10 frames more than `before` had on that m-line (a new m-line counts from 0).
 */
async function decoding(p, publishers, seconds, before = {}) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const now = await stats(p);
    const ok = publishers.every((who) =>
      now.some((s) => s.kind === "video" && s.participant === who && s.framesDecoded > (before[s.mid] || 0) + 10),
    );
    if (ok) return true;
    await sleep(200);
  }
  return false;
}

/** What a page looks like now: removed, errors, offers, and its received video. */
async function look(p) {
  const st = await state(p);
  return {
    removed: st.removed,
    errors: st.errors,
    offerUfrags: st.offerUfrags,
    video: (await stats(p)).filter((s) => s.kind === "video"),
    logs: p.logs.slice(-10),
  };
}

async function leave(pages) {
  const order = [...(args.order || "abc")];
  const ids = {};
  for (const p of pages) ids[p.name] = await sid(p);
  const others = (p) => pages.filter((o) => o !== p && !o.left).map((o) => ids[o.name]);
  for (const p of pages) {
    if (!(await decoding(p, others(p), 25))) return { ok: false, error: `${p.name} never decoded the others`, page: await look(p) };
  }
  const steps = [];
  for (const name of order.slice(0, -1)) {
    const leaver = pages.find((p) => p.name === name);
    await leaver.page.evaluate(() => window.leave());
    leaver.left = true;
    // Long enough for the offers that follow to be answered and for a transport the browser
    // replaced to be given up by the server.
    await sleep(3000);
    const step = { left: name, pages: {} };
    for (const p of pages.filter((o) => !o.left)) {
      const before = await frames(p, others(p));
      step.pages[p.name] = {
        flowing: await decoding(p, others(p), 5, before),
        ...(await look(p)),
      };
    }
    steps.push(step);
  }
  const ok = steps.every((s) => Object.values(s.pages).every((p) => p.flowing && !p.removed && p.errors.length === 0));
  return { ok, steps };
}

async function resubscribe([a, b]) {
  const aSid = await sid(a);
  if (!(await decoding(b, [aSid], 25))) return { ok: false, error: "b never decoded a", b: await look(b) };
  const dropped = await b.page.evaluate(() => ["microphone", "camera"].flatMap((s) => window.subscribeSource(s, false)));
  await sleep(2000);
  const afterDrop = await look(b);
  const before = await frames(b, [aSid]);
  await b.page.evaluate(() => ["microphone", "camera"].map((s) => window.subscribeSource(s, true)));
  const again = await decoding(b, [aSid], 10, before);
  const end = await look(b);
  const ok = dropped.length === 2 && again && !end.removed && end.errors.length === 0;
  return { ok, dropped, again, afterDrop, b: end };
}

async function unpublish([a, b]) {
  const aSid = await sid(a);
  if (!(await decoding(b, [aSid], 25))) return { ok: false, error: "b never decoded a", b: await look(b) };
  // a's microphone: the track of b's first m-line.
  const mic = (await state(a)).published.find((t) => t.track.source === "microphone").track.sid;
  await a.page.evaluate((track) => window.parleySend({ type: "unpublish", id: "unpublish", track }), mic);
  await sleep(3000);
  const before = await frames(b, [aSid]);
  const still = await decoding(b, [aSid], 5, before);
  const end = await look(b);
  const ok = still && !end.removed && end.errors.length === 0;
  return { ok, still, b: end, a: await look(a) };
}

async function iceRefused([a, b]) {
  const aSid = await sid(a);
  if (!(await decoding(b, [aSid], 25))) return { ok: false, error: "b never decoded a", b: await look(b) };
  const offersBefore = (await state(b)).offerUfrags.length;
  await b.page.evaluate(() => window.restartSubscriberIceBadly());
  // The refused answer's error, then a fresh offer answered.
  const until = Date.now() + 10000;
  let st = await state(b);
  while (Date.now() < until && st.offerUfrags.length < offersBefore + 2) {
    await sleep(200);
    st = await state(b);
  }
  const before = await frames(b, [aSid]);
  const flowing = await decoding(b, [aSid], 10, before);
  const end = await look(b);
  const refused = end.errors.filter((e) => e.code === "invalid_sdp" && e.id === "answer");
  const ufrags = end.offerUfrags;
  const fresh = ufrags.length >= offersBefore + 2 && ufrags[ufrags.length - 1] !== ufrags[offersBefore - 1];
  const ok = refused.length === 1 && end.errors.length === 1 && fresh && flowing && !end.removed;
  return { ok, refused, fresh, flowing, offersBefore, b: end };
}

let result = { ok: false };
try {
  const tokens = args.tokens.split(",");
  const pages = [];
  for (const [i, token] of tokens.entries()) pages.push(await open("abc"[i], token));
  const run = { leave, resubscribe, unpublish, "ice-refused": iceRefused }[args.scenario];
  result = await run(pages);
} catch (err) {
  result = { ok: false, error: String(err && err.stack ? err.stack : err) };
} finally {
  await browser.close();
  server.close();
}
process.stdout.write(JSON.stringify(result) + "\n");
