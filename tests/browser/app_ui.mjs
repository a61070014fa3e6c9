// The web app as two people use it: two headless Chromium contexts (one in English, one in
// Simplified Chinese) sign in through the sign-in form and chat, read, ping urgently and
// acknowledge, meet with video (active speaker, screen share), ride out a cut network, and
// write minutes whose action item shows up under the assignee's "My tasks", then open a voice
// bridge that the other joins with one tap on the urgent ping. Every check goes
// through the DOM as a user sees it. Screenshots of each state go to --out. Prints one JSON
// line: what was seen, and any failure.
//
//   node app_ui.mjs --parley http://127.0.0.1:PORT --channel 1 --email-a a@x --email-b b@x
//                   --password PW --user-a 2 --user-b 3 --out DIR [--seconds 150]

import { parseArgs } from "./common.mjs";
import { startRun, CALL_FLAGS } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 150, extraFlags: CALL_FLAGS });
const { report, remaining, until, step, shot } = run;

const open = async (name, locale, email) =>
  run.signIn(await run.person(name, { locale }), email, args.password, channel);

/** Frames the tile's <video> has shown so far. */
const frames = (who, selector) => who.page.evaluate((sel) => {
  const v = document.querySelector(`${sel} video`);
  return v && v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames : -1;
}, selector);

/** Wait until the tile's video has decoded `more` new frames. */
async function framesRise(who, selector, more = 10) {
  const first = await until(who, `video in ${selector}`, (sel) => {
    const v = document.querySelector(`${sel} video`);
    return v && v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames + 1 : 0;
  }, selector) - 1;
  await until(who, `${more} new frames in ${selector}`, async ({ sel, want }) => {
    const v = document.querySelector(`${sel} video`);
    return v && v.getVideoPlaybackQuality().totalVideoFrames >= want;
  }, { sel: selector, want: first + more });
  return { first, now: await frames(who, selector) };
}

async function send(who, text, { urgent = false, scope = ".channel-view" } = {}) {
  if (urgent) await who.page.check(`${scope} .urgent-toggle`);
  await who.page.fill(`${scope} .composer-input`, text);
  await who.page.press(`${scope} .composer-input`, "Enter");
}

const bodies = (who, scope) => who.page.evaluate((s) =>
  [...document.querySelectorAll(`${s} .message .message-body`)].map((e) => e.textContent), scope);

await run.finish(async () => {
  const a = await open("a", "en-US", args["email-a"]);
  const b = await open("b", "zh-CN", args["email-b"]);
  report.languages = {
    a: await a.page.evaluate(() => document.documentElement.lang),
    b: await b.page.evaluate(() => document.documentElement.lang),
    bSignOut: await b.page.getAttribute(".side-header button.icon", "title"),
    // Both languages have the same keys, and every literal key the app's code asks for exists.
    translations: await a.page.evaluate(async () => {
      const i18n = await import("/app/i18n.js");
      const unknown = [];
      for (const file of ["app.js", "chat.js", "meeting.js", "minutes.js", "admin.js", "ui.js"]) {
        const code = await (await fetch(`/app/${file}`)).text();
        for (const [, key] of code.matchAll(/\bt\("([\w.]+)"/g)) {
          if (i18n.t(key) === key) unknown.push(`${file}: ${key}`);
        }
      }
      return { missing: i18n.missingKeys(), unknown };
    }),
  };

  await step("chat: a message appears in the other browser, then the sender sees it read", async () => {
    await b.page.click(`.channel-link[data-channel="${channel}"]`);
    await a.page.click(`.channel-link[data-channel="${channel}"]`);
    await a.page.waitForSelector(".channel-view .composer-input");
    await b.page.waitForSelector(".channel-view .composer-input");
    await send(a, "Release review at 10:30 — 明天 10:30 评审");
    await until(b, "the message", () => [...document.querySelectorAll(".message-body")]
      .some((e) => e.textContent.includes("Release review")));
    const receipt = await until(a, "read by 1 of 1", () => {
      const r = document.querySelector(".message.mine .receipt");
      return r && r.dataset.read === "1" && r.dataset.of === "1" ? r.textContent : null;
    });
    report.receipt = receipt;
    await shot(a, "chat-read-en");
    await shot(b, "chat-zh-CN");
  });

  await step("urgent ping: banner until acknowledged, live roster for the sender", async () => {
    await send(a, "Server room power failure: everyone confirm", { urgent: true });
    await b.page.waitForSelector(".ping-banner", { timeout: remaining() });
    report.bannerText = await b.page.textContent(".ping-banner");
    await until(a, "roster shows delivered", () => document.querySelector('.roster li[data-state="delivered"]'));
    await shot(b, "urgent-banner-zh-CN");
    await shot(a, "urgent-roster-delivered");
    // The banner stays while unacknowledged, whatever else happens on the page.
    await b.page.click(`.channel-link[data-channel="${channel}"]`);
    report.bannerStays = await b.page.isVisible(".ping-banner");
    // And after a reload: the waiting ping comes back with the names, not ids.
    await b.page.reload();
    await b.page.waitForSelector(`.channel-link[data-channel="${channel}"]`, { timeout: remaining() });
    await b.page.waitForSelector(".ping-banner", { timeout: remaining() });
    report.bannerAfterReload = await b.page.textContent(".ping-banner .ping-text");
    await b.page.click(".ping-ack");
    await until(b, "banner gone", () => !document.querySelector(".ping-banner"));
    report.roster = await until(a, "roster shows acked", () => {
      const li = document.querySelector('.roster li[data-state="acked"]');
      return li ? document.querySelector(".roster-head").textContent : null;
    });
    await shot(a, "urgent-roster-acked");
  });

  await step("meeting: both join from the channel and see each other's video", async () => {
    for (const who of [a, b]) {
      await who.page.click('[data-action="meeting"]');
      await who.page.waitForSelector("#join-meeting");
      await until(who, "preview", () => {
        const v = document.querySelector(".preview-video");
        return v && v.srcObject && v.readyState >= 2;
      });
    }
    await shot(a, "meeting-prejoin");
    await a.page.click("#join-meeting");
    await b.page.click("#join-meeting");
    const remote = '.tile:not(.local)[data-source="camera"].has-video';
    report.videoA = await framesRise(a, remote);
    report.videoB = await framesRise(b, remote);
    await shot(a, "meeting-grid");
  });

  await step("meeting: the active-speaker highlight follows who speaks", async () => {
    // Only B's microphone on: B's tile is highlighted on A's page, A's own is not.
    await a.page.click("#toggle-mic");
    await until(a, "B speaking", () => {
      const remote = document.querySelector('.tile:not(.local)[data-source="camera"]');
      const local = document.querySelector('.tile.local[data-source="camera"]');
      return remote && remote.classList.contains("speaking") && !local.classList.contains("speaking");
    });
    await shot(a, "meeting-active-speaker");
    // Now only A's: the highlight moves on B's page to A's tile.
    await a.page.click("#toggle-mic");
    await b.page.click("#toggle-mic");
    await until(b, "A speaking", () => {
      const remote = document.querySelector('.tile:not(.local)[data-source="camera"]');
      const local = document.querySelector('.tile.local[data-source="camera"]');
      return remote && remote.classList.contains("speaking") && !local.classList.contains("speaking");
    });
    await b.page.click("#toggle-mic");
    report.speakerFollowed = true;
  });

  await step("meeting: a screen share is its own tile", async () => {
    await a.page.click("#toggle-share");
    report.screenB = await framesRise(b, '.tile:not(.local)[data-source="screen_share"].has-video', 5);
    report.tilesB = await b.page.evaluate(() => [...document.querySelectorAll(".tile")].map((t) => t.dataset.source));
    await shot(b, "meeting-screen-share-zh-CN");
    await a.page.click("#toggle-share");
    await until(b, "screen share tile gone", () => !document.querySelector('.tile[data-source="screen_share"]'));
  });

  await step("network cut: reconnecting shows, then media and chat resume with nothing lost", async () => {
    await b.page.waitForSelector(".call-side .composer-input");
    await a.page.waitForSelector(".call-side .composer-input");
    const before = (await bodies(b, ".call-side")).length;
    await b.context.setOffline(true);
    await until(b, "reconnecting indicator", () => {
      const call = document.querySelector(".call-reconnecting");
      const hub = document.getElementById("connection");
      return (call && !call.hidden) || (hub && hub.dataset.state === "reconnecting");
    });
    report.reconnectingShown = await b.page.evaluate(() => ({
      call: !document.querySelector(".call-reconnecting").hidden,
      hub: document.getElementById("connection").dataset.state,
    }));
    await shot(b, "meeting-reconnecting-zh-CN");
    const sent = ["cut 1", "cut 2", "cut 3"];
    for (const text of sent) await send(a, text, { scope: ".call-side" });
    await new Promise((r) => setTimeout(r, 2000)); // the cut lasts a while: 2 s past the sends
    await b.context.setOffline(false);
    await until(b, "indicators cleared", () => {
      const call = document.querySelector(".call-reconnecting");
      return call.hidden && document.getElementById("connection").dataset.state === "open";
    });
    const after = await until(b, "the 3 messages", ({ n }) => {
      const list = [...document.querySelectorAll(".call-side .message .message-body")].map((e) => e.textContent);
      return list.length >= n ? list : null;
    }, { n: before + sent.length });
    const tail = after.slice(-sent.length);
    report.afterCut = { count: after.length, expected: before + sent.length, tail };
    if (JSON.stringify(tail) !== JSON.stringify(sent) || after.length !== before + sent.length) {
      throw new Error(`chat after the cut: ${JSON.stringify(after)}`);
    }
    report.videoAfterCut = await framesRise(b, '.tile:not(.local)[data-source="camera"].has-video', 10);
  });

  await step("minutes: an action item is saved and shows under the assignee's My tasks", async () => {
    await a.page.click("#panel-minutes");
    await a.page.waitForSelector("#item-kind", { timeout: remaining() });
    await a.page.selectOption("#item-kind", "action");
    await a.page.fill("#item-body", "Send the incident report / 发送事故报告");
    await a.page.selectOption("#item-assignee", String(args["user-b"]));
    const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    await a.page.fill("#item-due", tomorrow);
    await a.page.click("#item-add");
    await a.page.waitForSelector(".minute-item.kind-action", { timeout: remaining() });
    report.minuteItem = await a.page.textContent(".minute-item.kind-action");
    await shot(a, "meeting-minutes");
    await b.page.evaluate(() => {
      location.hash = "#/tasks";
    });
    report.task = await until(b, "the task under My tasks", () => {
      const task = [...document.querySelectorAll(".task")].find((e) => e.textContent.includes("incident report"));
      return task ? task.textContent : null;
    });
    await shot(b, "my-tasks-zh-CN");
  });

  await step("voice bridge: one tap on the urgent ping joins audio; the roster shows acked and joined", async () => {
    await a.page.click("#leave-call");
    await b.page.evaluate((c) => {
      location.hash = `#/c/${c}`;
    }, channel);
    await b.page.click('[data-action="bridge"]');
    await b.page.click(".dialog button[type=submit]");
    await b.page.waitForSelector(".call-bridge", { timeout: remaining() });
    await a.page.waitForSelector(".ping-banner .ping-join", { timeout: remaining() });
    await shot(a, "bridge-ping");
    await a.page.click(".ping-banner .ping-join");
    await a.page.waitForSelector(".call-bridge", { timeout: remaining() });
    report.bridgeRoster = await until(b, "A acknowledged and joined", (user) => {
      const row = document.querySelector(`.roster-table tr[data-user="${user}"]`);
      const cells = row ? [...row.children].map((td) => td.textContent) : [];
      return cells[1] === "✔" && cells[2] === "✔" ? cells : null;
    }, Number(args["user-a"]));
    report.bridgeAudio = await until(b, "A's voice on a bridge slot", () => {
      const el = document.querySelector("audio");
      return el && el.srcObject ? el.srcObject.getAudioTracks().length : 0;
    });
    await shot(b, "bridge-roster-zh-CN");
    // B opened it, so B moderates (and A too, the channel's creator): A's tile offers B the
    // floor's button (A may speak: an open bridge), and taking it back turns it to "give".
    const sidA = await a.page.evaluate(() => document.querySelector(".bridge-person")?.dataset.participant);
    await b.page.waitForSelector(`.bridge-person[data-participant="${sidA}"] button[data-floor="take_floor"]`, { timeout: remaining() });
    await b.page.click(`.bridge-person[data-participant="${sidA}"] button[data-floor="take_floor"]`);
    await b.page.waitForSelector(`.bridge-person[data-participant="${sidA}"] button[data-floor="give_floor"]`, { timeout: remaining() });
    report.floorTaken = true;
    report.aModerates = await a.page.evaluate(() => !!document.querySelector("button[data-floor]"));
  });

});
