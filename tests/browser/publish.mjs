// One headless Chromium page (fake camera and microphone) joins a Parley meeting and publishes
// its camera (and microphone) until the time is up or its stdin closes. Prints a JSON line
// `{"published": [...]}` once the server answered its offer and frames are being encoded, and
// a last JSON line with what it sent when it leaves.
//
//   node publish.mjs --rtc ws://127.0.0.1:PORT/v1/rtc --token JWT [--seconds 60] [--codec video/VP8]

import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs, serveMeetingPage } from "./common.mjs";

const args = parseArgs();
const deadline = Date.now() + Number(args.seconds || 60) * 1000;
const { origin, server } = await serveMeetingPage();

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: chromiumFlags(undefined, ["--allow-loopback-in-peer-connection"]),
});
const page = await (await browser.newContext()).newPage();
const logs = [];
page.on("console", (m) => logs.push(m.text()));
page.on("pageerror", (e) => logs.push(String(e)));
const query = new URLSearchParams({ rtc: args.rtc, token: args.token, codec: args.codec || "" });
await page.goto(`${origin}/?${query}`);

let stdinClosed = false;
process.stdin.on("end", () => { stdinClosed = true; });
process.stdin.resume();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let announced = false;
let sent = [];
while (Date.now() < deadline && !stdinClosed) {
  const state = await page.evaluate(() => window.parley);
  sent = await page.evaluate(() => window.sentStats());
  if (!announced && state.published.length > 0 && sent.some((s) => s.framesEncoded > 10)) {
    console.log(JSON.stringify({ published: state.published }));
    announced = true;
  }
  await sleep(200);
}
const state = await page.evaluate(() => window.parley);
console.log(JSON.stringify({ ok: announced, sent, errors: state.errors, logs: logs.slice(-20) }));
await browser.close();
server.close();
