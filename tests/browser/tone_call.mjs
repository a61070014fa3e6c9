// One side of a call: a headless Chromium page (inside a network namespace with --netns)
// imports the SDK from the Parley server, joins, publishes a tone of --freq Hz and waits to hear
// the other side's tone on the track it receives. It stays --hold seconds after that, so the
// other side hears it too, and reports what it heard and which kind of ICE candidate each media
// connection uses (`relay/udp` through TURN, `host/tcp` over ICE-TCP). One JSON line.
//
//   node tone_call.mjs --parley http://10.x.y.1:PORT --token JWT --freq 440 [--netns NAME]
//                      [--hold 6]

import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const args = parseArgs();
const report = { ok: false };
const logs = [];
let scratch = null;
let browser = null;
try {
  let executablePath = chromiumPath;
  if (args.netns) {
    // The browser runs inside the namespace: a wrapper enters it and starts Chromium.
    scratch = await mkdtemp(path.join(os.tmpdir(), "parley-tone-"));
    executablePath = path.join(scratch, "chromium-in-netns");
    await writeFile(executablePath, `#!/bin/sh\nexec ip netns exec ${args.netns} ${chromiumPath} "$@"\n`, { mode: 0o755 });
  }
  // The page (localhost) talks to the server on a private address: no Local Network Access
  // prompt to answer. Sound plays without a user gesture.
  const flags = chromiumFlags(["WebRtcHideLocalIpsWithMdns", "LocalNetworkAccessChecks"], ["--autoplay-policy=no-user-gesture-required"]);
  browser = await chromium.launch({ executablePath, headless: true, args: flags });
  const page = await (await browser.newContext()).newPage();
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`.slice(0, 300)));
  // Served by Playwright itself, whichever namespace the browser is in; a secure origin.
  await page.route("http://localhost/**", (route) =>
    route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>turn</title><body></body>" }));
  await page.goto("http://localhost/call");
  const result = await page.evaluate(async ({ parley, token, freq, holdMs }) => {
    const { Room } = await import(`${parley}/sdk/parley.js`);
    const room = new Room({ url: parley, token });
    const joined = await room.join();
    const context = new AudioContext();
    const tone = context.createOscillator();
    tone.frequency.value = freq;
    const out = context.createMediaStreamDestination();
    tone.connect(out);
    tone.start();
    await room.publishMicrophone({ track: out.stream.getAudioTracks()[0] });
    // The other side's tone, on the first remote microphone that arrives.
    const heard = await new Promise((resolve) => {
      const end = Date.now() + 40000;
      const poll = () => {
        const track = [...room.participants.values()].map((p) => p.getTrack("microphone")?.track).find(Boolean);
        if (track && !track.attachedElements.length) document.body.append(track.attach());
        const level = track ? track.getAudioLevel() : 0;
        if (level > 0.1) return resolve({ level, after: Date.now() });
        if (Date.now() > end) return resolve(null);
        setTimeout(poll, 50);
      };
      poll();
    });
    /** The kind of the local candidate each connection's selected pair uses. */
    const kinds = async (pc) => {
      if (!pc) return null;
      const stats = await pc.getStats();
      let pair = null;
      stats.forEach((s) => {
        if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
      });
      const local = pair ? stats.get(pair.localCandidateId) : null;
      return local ? `${local.candidateType}/${local.protocol}` : null;
    };
    const candidates = { publisher: await kinds(room.publisher), subscriber: await kinds(room.subscriber) };
    await new Promise((r) => setTimeout(r, holdMs));
    const state = room.state;
    await room.leave();
    return {
      heard: Boolean(heard), level: heard && heard.level, candidates, state,
      turn: (joined.ice_servers || []).filter((s) => s.username).map((s) => ({ urls: s.urls, username: s.username })),
    };
  }, { parley: args.parley, token: args.token, freq: Number(args.freq || 440), holdMs: Number(args.hold || 6) * 1000 });
  Object.assign(report, result, { ok: true });
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
} finally {
  report.logs = logs.slice(-20);
  if (browser) await browser.close().catch(() => {});
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
