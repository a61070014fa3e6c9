// What an app meets less often, through the JS SDK as an app uses it: one headless Chromium page
// on an origin of its own imports `/sdk/parley.js` from the Parley server and runs one case.
// Prints one JSON line: what the page's app saw.
//
//   node sdk_edges.mjs --parley http://127.0.0.1:PORT --case CASE [case arguments]
//
// Cases:
//   expired --room-token JWT --user-token JWT
//       A token function that keeps giving an expired token: `Room.join()` and
//       `ParleyClient.connect()` each settle within --wait-ms (default 8000), and how.
//   leave --token-a JWT --token-b JWT --forged JWT
//       B publishes its microphone; A joins, and leaves while its answer to the subscriber offer
//       is in flight. Then a join with a forged token is refused. Which `error` events came.
//   quality --token-a JWT --token-b JWT
//       A and B publish their microphones and hear each other; what each room says of each
//       participant's connection quality, beside every `connection_quality` the server sent,
//       and what each room says the server sheds (`room.shedding`, its `shedding` events).

import http from "node:http";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";

const args = parseArgs();

// The app's page, served from another origin than Parley's.
const site = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!doctype html><meta charset=utf-8><title>sdk edges</title>");
});
await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${site.address().port}`;

const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumFlags() });

/** Each case runs in the page, with the SDK imported; it returns the report. */
const cases = {
  async expired({ parley, roomToken, userToken, waitMs }) {
    const { Room, ParleyClient } = await import(`${parley}/sdk/parley.js`);
    /** How `promise` settled, or that it had not within `waitMs`. */
    const settled = (promise) => Promise.race([
      promise.then(() => "resolved", (e) => `rejected: ${e.code}`),
      new Promise((r) => setTimeout(() => r("still waiting"), waitMs)),
    ]);
    const watch = (client, calls) => {
      const seen = { tokenCalls: () => calls.n, states: [], errors: [] };
      client.on("connection", (e) => seen.states.push(e.state));
      client.on("error", (e) => seen.errors.push((e.error || e).code));
      return seen;
    };
    const report = {};
    for (const [name, make, start, stop] of [
      ["room", (token) => new Room({ url: parley, token, minBackoffMs: 100, maxBackoffMs: 500 }),
        (c) => c.join(), (c) => c.leave()],
      ["client", (token) => new ParleyClient({ url: parley, token, minBackoffMs: 100, maxBackoffMs: 500 }),
        (c) => c.connect(), (c) => c.close()],
    ]) {
      const calls = { n: 0 };
      const token = name === "room" ? roomToken : userToken;
      const client = make(() => (calls.n += 1, token));
      const seen = watch(client, calls);
      const result = await settled(start(client));
      report[name] = { result, tokenCalls: calls.n, state: client.state, states: seen.states, errors: seen.errors };
      if (client.state !== "closed") await stop(client);
    }
    return report;
  },

  async leave({ parley, tokenA, tokenB, forged }) {
    const { Room } = await import(`${parley}/sdk/parley.js`);
    const errors = { a: [], forged: [] };
    const b = new Room({ url: parley, token: tokenB });
    await b.join();
    await b.publishMicrophone();

    // A's WebSocket leaves the room the moment the SDK has sent its answer, before any reply.
    let a = null;
    let leftWith = null;
    class LeavingSocket extends WebSocket {
      send(data) {
        super.send(data);
        if (JSON.parse(data).type !== "answer" || leftWith) return;
        leftWith = { answerInFlight: [...a.pending.values()].some((p) => p.sent && p.frame.type === "answer") };
        queueMicrotask(() => a.leave());
      }
    }
    a = new Room({ url: parley, token: tokenA, WebSocket: LeavingSocket });
    a.on("error", (e) => errors.a.push(`${e.error.code}: ${e.error.message}`));
    const left = new Promise((resolve) => a.on("connection", (e) => e.state === "closed" && resolve(e.reason)));
    await a.join();
    const reason = await left;
    // The answer's work has settled: an `error` it caused has been emitted by now.
    await a.answering;

    const refused = new Room({ url: parley, token: forged });
    refused.on("error", (e) => errors.forged.push(e.error.code));
    const refusal = await refused.join().then(() => "joined", (e) => e.code);
    await b.leave();
    return { leftWith, reason, stateA: a.state, refusal, stateForged: refused.state, errors };
  },

  async quality({ parley, tokenA, tokenB }) {
    const { Room } = await import(`${parley}/sdk/parley.js`);
    const announced = [];
    const shedding = [];
    const rooms = {};
    for (const [name, token] of [["a", tokenA], ["b", tokenB]]) {
      const room = new Room({ url: parley, token });
      room.on("shedding", (e) => shedding.push({ to: name, shedding: e.shedding, now: room.shedding }));
      // One event per participant, naming the room's own Participant object.
      room.on("connection_quality", (e) => announced.push({
        to: name, updates: [{ participant: e.participant.sid, quality: e.quality, isParticipant: e.participant.constructor.name.endsWith("Participant") }],
      }));
      await room.join();
      await room.publishMicrophone();
      rooms[name] = room;
    }
    // Both hear the other: audio packets keep arriving on each subscriber connection, so the
    // server has judged both connections a few times over.
    const received = async (room) => {
      let packets = 0;
      if (room.subscriber) (await room.subscriber.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") packets += s.packetsReceived;
      });
      return packets;
    };
    const until = Date.now() + 20000;
    while (Date.now() < until && ((await received(rooms.a)) < 150 || (await received(rooms.b)) < 150)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const view = (room) => ({
      self: { sid: room.localParticipant.sid, quality: room.localParticipant.quality },
      others: [...room.participants.values()].map((p) => ({ sid: p.sid, quality: p.quality })),
    });
    const report = {
      packets: { a: await received(rooms.a), b: await received(rooms.b) },
      a: view(rooms.a),
      b: view(rooms.b),
      announced,
      shedding,
      roomShedding: { a: rooms.a.shedding, b: rooms.b.shedding },
    };
    for (const room of Object.values(rooms)) await room.leave();
    return report;
  },
};

let report = { ok: false };
const logs = [];
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`.slice(0, 300)));
  await page.goto(origin);
  const run = cases[args.case];
  if (!run) throw new Error(`no case ${args.case}`);
  const input = {
    parley: args.parley,
    roomToken: args["room-token"],
    userToken: args["user-token"],
    waitMs: Number(args["wait-ms"] || 8000),
    tokenA: args["token-a"],
    tokenB: args["token-b"],
    forged: args.forged,
  };
  // Playwright hands the function's source to the page, so it runs there with the SDK.
  report = { ok: true, ...(await page.evaluate(`(${run.toString().replace(/^async \w+/, "async function")})(${JSON.stringify(input)})`)) };
} catch (err) {
  report = { ok: false, error: String(err && err.stack ? err.stack : err) };
} finally {
  report.logs = logs.slice(-30);
  await browser.close().catch(() => {});
  site.close();
}
console.log(JSON.stringify(report));
