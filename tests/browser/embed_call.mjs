// The app developer's path, as examples/ shows it: tokens minted from an API key by
// examples/mint-token.mjs, and examples/embed-call.html served from the app's own origin,
// importing the SDK from Parley and joining one room from two headless Chromium pages. Both
// must see and hear each other; one cut off for longer than the resume window comes back as a
// new participant with its camera; a mute shows; when one leaves, the other's tiles of it go; a
// token signed with the wrong secret is refused with its code. Prints one JSON line.
//
//   node embed_call.mjs --parley http://127.0.0.1:PORT --api-key K --api-secret S --room R
//                       [--seconds 60]
//
// The server's rtc.resume_window_secs should be short (10 s): page B's network is
// cut for longer than that, and it must come back as a new participant.

import http from "node:http";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";

const args = parseArgs();
const deadline = Date.now() + Number(args.seconds || 60) * 1000;
const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../examples");
const report = { ok: false, logs: {} };

const mint = (identity, secret = args["api-secret"]) => execFileSync("node", [
  path.join(examples, "mint-token.mjs"), "--api-key", args["api-key"], "--api-secret", secret,
  "--identity", identity, "--name", identity, "--room", args.room,
]).toString().trim();

// The app's own site: the example page, on another origin than Parley's.
const page = await readFile(path.join(examples, "embed-call.html"));
const site = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(page);
});
await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${site.address().port}`;

const browser = await chromium.launch({
  executablePath: chromiumPath, headless: true,
  args: chromiumFlags(undefined, ["--autoplay-policy=no-user-gesture-required"]),
});

const pages = [];
async function open(name, token) {
  const context = await browser.newContext();
  const p = await context.newPage();
  report.logs[name] = [];
  p.on("console", (m) => report.logs[name].push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  p.on("pageerror", (e) => report.logs[name].push(`pageerror: ${e}`.slice(0, 300)));
  const query = new URLSearchParams({ parley: args.parley, token, autojoin: "1" });
  await p.goto(`${origin}/?${query}`);
  const who = { name, context, page: p };
  pages.push(who);
  return who;
}

async function until(who, what, check, arg) {
  while (Date.now() < deadline) {
    const value = await who.page.evaluate(check, arg).catch(() => null);
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${who.name}: timed out waiting for ${what}`);
}

/** Frames shown by the remote camera tile: the count when it first plays, and 10 later. */
async function remoteVideo(who) {
  const framesNow = () => {
    const v = [...document.querySelectorAll('.tile[data-source="camera"] video')]
      .find((el) => !el.closest(".tile").querySelector("span").textContent.startsWith("You"));
    return v && v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames + 1 : 0;
  };
  const first = (await until(who, "a remote camera tile", framesNow)) - 1;
  const now = (await until(who, "10 more frames", (want) => {
    const v = [...document.querySelectorAll('.tile[data-source="camera"] video')]
      .find((el) => !el.closest(".tile").querySelector("span").textContent.startsWith("You"));
    const n = v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
    return n >= want ? n : 0;
  }, first + 10));
  return { first, now };
}

try {
  const a = await open("a", mint("agent-ann"));
  const b = await open("b", mint("customer-li"));
  for (const who of [a, b]) {
    await until(who, "joined", () => document.getElementById("status").textContent === "open");
    // Every event the page's Room gave, for the report when something fails.
    await who.page.evaluate(() => {
      window.seen = [];
      window.room.on("*", (e) => window.seen.push([e.type, e.state, e.reason, e.error && e.error.code].filter(Boolean).join(":")));
    });
  }
  report.videoA = await remoteVideo(a);
  report.videoB = await remoteVideo(b);
  report.audioB = await until(b, "the other's audio", () => {
    const el = document.querySelector("audio");
    return el && el.srcObject ? el.srcObject.getAudioTracks().length : 0;
  });
  report.tileLabelsB = await b.page.evaluate(() => [...document.querySelectorAll(".tile span")].map((s) => s.textContent));

  // B's network is cut for longer than the server's resume window (--resume-window): the server
  // lets B go; when the network is back the SDK joins again as a new participant and publishes
  // the same camera and microphone, and A plays B's video again.
  const sidBefore = await b.page.evaluate(() => window.room.localParticipant.sid);
  await b.context.setOffline(true);
  await until(a, "B gone from A's room", () => window.room.participants.size === 0);
  await b.context.setOffline(false);
  report.rejoined = await until(b, "B in again as a new participant", (old) => {
    const sid = window.room.localParticipant && window.room.localParticipant.sid;
    return window.room.state === "open" && sid !== old ? { before: old, after: sid } : null;
  }, sidBefore);
  report.videoAfterRejoin = await remoteVideo(a);

  // A mutes the microphone: B's room sees A's microphone track muted.
  await a.page.click("#mic");
  report.mutedSeenByB = await until(b, "A's microphone muted", () => {
    for (const p of window.room.participants.values()) {
      for (const t of p.tracks.values()) if (t.source === "microphone" && t.muted) return p.identity;
    }
    return null;
  });
  report.micPressedA = await a.page.getAttribute("#mic", "aria-pressed");

  // A leaves: B's tiles of A go, and B's room no longer lists A.
  await a.page.click("#leave");
  report.afterLeaveB = await until(b, "A gone", () => {
    const remote = [...document.querySelectorAll(".tile span")].filter((s) => !s.textContent.startsWith("You"));
    return remote.length === 0 && window.room.participants.size === 0 ? { tiles: remote.length } : null;
  });

  // The one left alone stays in the meeting (its subscriber connection lost its last track).
  await new Promise((r) => setTimeout(r, 1500));
  report.bAfterAlone = await b.page.evaluate(() => ({ state: window.room.state, removed: window.room.removed || null }));

  // A token signed with the wrong secret is refused, with the protocol's code.
  const forged = await open("forged", mint("mallory", "not-the-secret-at-all-0123456789"));
  report.forged = await until(forged, "the refusal", () => {
    const text = document.getElementById("status").textContent;
    return text.startsWith("could not join") ? text : null;
  });
  report.ok = true;
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
  // What each page's Room held when it failed.
  report.rooms = {};
  for (const who of pages) {
    report.rooms[who.name] = await who.page.evaluate(() => window.room && {
      state: window.room.state,
      me: window.room.localParticipant && window.room.localParticipant.sid,
      local: [...window.room.localTracks.values()].map((t) => `${t.source}:${t.sid}:${t.transceiver && t.transceiver.mid}`),
      others: [...window.room.participants.values()].map((p) => ({
        sid: p.sid, tracks: [...p.tracks.values()].map((t) => `${t.source}:${t.sid}:${Boolean(t.mediaStreamTrack)}`),
      })),
      mids: [...window.room.mids.entries()].map(([mid, t]) => `${mid}=${t.sid}`),
      events: window.seen.slice(-40),
      pcs: [window.room.publisher, window.room.subscriber].map((pc) => pc && `${pc.connectionState}/${pc.signalingState}`),
    }).catch((e) => String(e));
  }
} finally {
  await browser.close().catch(() => {});
  site.close();
  console.log(JSON.stringify(report));
  process.exit(0);
}
