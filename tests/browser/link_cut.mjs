// A watcher's link is cut and restored: page A publishes its camera and microphone; page B, in
// its own network namespace, only watches. Once B decodes A's camera, B's end of the veth pair
// goes down for --cut seconds and comes back up. Reports, in ms after the link came back, when
// B received camera packets again and when it decoded frames again. One JSON line.
//
//   node link_cut.mjs --rtc ws://10.x.y.1:PORT/v1/rtc --token-a JWT --token-b JWT
//                     --netns NAME --ns-dev DEV [--cut 5]

import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";
import { execFileSync } from "node:child_process";
import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";

const args = parseArgs();
const here = path.dirname(fileURLToPath(import.meta.url));
const html = await readFile(path.join(here, "meeting.html"));
// The page (localhost) talks to the server on a private address: no Local Network Access
// prompt to answer.
const flags = chromiumFlags(["WebRtcHideLocalIpsWithMdns", "LocalNetworkAccessChecks"]);

// B's browser runs inside the namespace: a wrapper enters it and starts Chromium.
const scratch = await mkdtemp(path.join(os.tmpdir(), "parley-link-cut-"));
const wrapper = path.join(scratch, "chromium-in-netns");
await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${args.netns} ${chromiumPath} "$@"\n`, { mode: 0o755 });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const link = (state) => execFileSync("ip", ["-n", args.netns, "link", "set", args["ns-dev"], state], { stdio: "pipe" });

// The page is served by Playwright itself (no network needed, whichever namespace the browser
// is in); http://localhost is a secure origin, as getUserMedia requires.
async function open(browser, query) {
  const page = await (await browser.newContext()).newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  await page.route("http://localhost/**", (route) =>
    route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html }),
  );
  await page.goto(`http://localhost/meeting?${new URLSearchParams({ rtc: args.rtc, ...query })}`);
  return { page, logs };
}

let b;
async function camera() {
  const received = await b.page.evaluate(() => window.receivedStats());
  const c = received.find((s) => s.source === "camera") || {};
  return { packets: c.packetsReceived || 0, frames: c.framesDecoded || 0, keyFrames: c.keyFramesDecoded || 0 };
}

const result = { ok: false };
const browsers = [];
let cut = false;
try {
  const browserA = await chromium.launch({ executablePath: chromiumPath, headless: true, args: flags });
  browsers.push(browserA);
  const browserB = await chromium.launch({ executablePath: wrapper, headless: true, args: flags });
  browsers.push(browserB);
  const a = await open(browserA, { token: args["token-a"], codec: "video/VP8" });
  b = await open(browserB, { token: args["token-b"], publish: "0" });

  let before = null;
  for (const until = Date.now() + 30000; Date.now() < until; await sleep(250)) {
    const c = await camera();
    if (c.frames > 30) {
      before = c;
      break;
    }
  }
  if (!before) throw new Error("B never decoded A's camera");

  link("down");
  cut = true;
  await sleep(Number(args.cut || 5) * 1000);
  const during = await camera();
  link("up");
  cut = false;
  const back = Date.now();
  let packetsAt = null;
  let framesAt = null;
  while (Date.now() - back < 10000 && framesAt === null) {
    const c = await camera();
    if (packetsAt === null && c.packets > during.packets) packetsAt = Date.now() - back;
    if (c.frames > during.frames) framesAt = Date.now() - back;
    await sleep(20);
  }
  Object.assign(result, { ok: framesAt !== null, before, during, after: await camera(), packetsAt, framesAt });
  result.state = await b.page.evaluate(() => window.parley);
  result.logs = { a: a.logs.slice(-20), b: b.logs.slice(-20) };
} catch (err) {
  result.error = String(err && err.stack ? err.stack : err);
} finally {
  if (cut) link("up");
  for (const browser of browsers) await browser.close().catch(() => {});
  await rm(scratch, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + "\n");
