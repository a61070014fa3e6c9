// Two headless Chromium pages (fake camera and microphone) join one Parley meeting; the first
// also shares a canvas as its screen. Prints one JSON line: what each page decoded, sampled
// twice so the test can see the counters rising.
//
//   node meeting.mjs --rtc ws://127.0.0.1:PORT/v1/rtc --token-a JWT --token-b JWT
//                    [--seconds 20] [--hold 1] [--codec video/H264] [--restart-ice 1]
//
// With --restart-ice 1, page A restarts ICE on both its connections once both pages decode,
// before the hold.

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
  if (first && args["restart-ice"] === "1") {
    await a.page.evaluate(() => window.restartIce());
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
