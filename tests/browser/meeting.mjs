// Two headless Chromium pages (fake camera and microphone) join one Parley meeting; the first
// also shares a canvas as its screen. Prints one JSON line: what each page decoded, sampled
// twice so the test can see the counters rising.
//
//   node meeting.mjs --rtc ws://127.0.0.1:PORT/v1/rtc --token-a JWT --token-b JWT
//                    [--seconds 20] [--hold 1] [--codec video/H264] [--restart-ice 1]
//
// With --restart-ice 1, page A restarts ICE on both its connections once both pages decode,
// and the hold starts once media flows again on both pages (`resumed`, null if it never did).

import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs, serveMeetingPage } from "./common.mjs";

const args = parseArgs();
const deadline = Date.now() + Number(args.seconds || 20) * 1000;
const { origin, server } = await serveMeetingPage();

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: chromiumFlags(undefined, ["--allow-loopback-in-peer-connection"]),
});

async function open(token, screen) {
  const context = await browser.newContext();
  const p = await context.newPage();
  const logs = [];
  p.on("console", (m) => logs.push(m.text()));
  p.on("pageerror", (e) => logs.push(String(e)));
  const query = new URLSearchParams({
    rtc: args.rtc,
    token,
    screen: screen ? "1" : "0",
    codec: args.codec || "",
  });
  await p.goto(`${origin}/?${query}`);
  return { page: p, logs };
}

const sample = (p) => p.evaluate(() => window.receivedStats());
const state = (p) => p.evaluate(() => window.parley);

// Wait until both pages decode what they should (a: camera and audio; b: camera, screen,
// audio) or time runs out; then sample again `--hold` seconds (default 1) later.
function ready(stats, videos) {
  const decoding = stats.filter((s) => s.kind === "video" && s.framesDecoded > 10).length;
  const audio = stats.some((s) => s.kind === "audio" && s.totalSamplesReceived > 48000);
  return decoding >= videos && audio;
}

// Every video track decoded more than 10 new frames, and audio kept coming, since `before`.
function flowing(before, now) {
  const grew = (s, key, by) => {
    const old = before.find((o) => o.mid === s.mid);
    return (s[key] || 0) > ((old && old[key]) || 0) + by;
  };
  const videos = now.filter((s) => s.kind === "video");
  const audios = now.filter((s) => s.kind === "audio");
  return videos.every((s) => grew(s, "framesDecoded", 10)) && audios.some((s) => grew(s, "totalSamplesReceived", 0));
}

let result = { ok: false };
try {
  const a = await open(args["token-a"], true);
  const b = await open(args["token-b"], false);
  let first = null;
  while (Date.now() < deadline) {
    const [sa, sb] = [await sample(a.page), await sample(b.page)];
    if (ready(sa, 1) && ready(sb, 2)) {
      first = { a: sa, b: sb };
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // After an ICE restart, wait (up to 15 s) for media to flow again on both pages before the
  // hold: on a busy machine the new connectivity checks can take a few seconds.
  let resumed = null;
  if (first && args["restart-ice"] === "1") {
    await a.page.evaluate(() => window.restartIce());
    const at = { a: await sample(a.page), b: await sample(b.page) };
    const until = Date.now() + 15000;
    while (Date.now() < until) {
      const now = { a: await sample(a.page), b: await sample(b.page) };
      if (flowing(at.a, now.a) && flowing(at.b, now.b)) {
        resumed = { afterMs: 15000 - (until - Date.now()), ...now };
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // During the hold, sample once a second for a timeline.
  const timeline = [];
  const holdUntil = Date.now() + Number(args.hold || 1) * 1000;
  while (Date.now() < holdUntil) {
    await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, holdUntil - Date.now()))));
    timeline.push({ a: await sample(a.page), b: await sample(b.page) });
  }
  result = {
    ok: first !== null,
    first,
    resumed,
    second: { a: await sample(a.page), b: await sample(b.page) },
    timeline,
    state: { a: await state(a.page), b: await state(b.page) },
    logs: { a: a.logs.slice(-20), b: b.logs.slice(-20) },
  };
} catch (err) {
  result = { ok: false, error: String(err && err.stack ? err.stack : err) };
} finally {
  await browser.close();
  server.close();
}
process.stdout.write(JSON.stringify(result) + "\n");
