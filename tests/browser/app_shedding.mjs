// A meeting on a server that sheds video (it is overloaded, or `rtc.shed_floor` says so), as
// Ann (English) and 李娜 (Simplified Chinese) see it in the app: both join the channel's
// meeting, and the meeting's header says the server is busy and video is paused, each in her
// language, on a desktop and at a phone's width (the header still fits), while each receives
// the other's microphone. axe-core checks the meeting view. Screenshots (shedding-*.png) go to --out. Prints one
// JSON line: what was seen, and any failure.
//
//   node app_shedding.mjs --parley http://127.0.0.1:PORT --channel 1 --email-a a@x --email-b b@x
//                         --password PW --out DIR [--seconds 90]

import { parseArgs } from "./common.mjs";
import { startRun, CALL_FLAGS, keepToasts, toasts } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 90, extraFlags: CALL_FLAGS });
const { report, remaining, until, step, shot } = run;
const PHONE = { width: 390, height: 844 };
const view = ".channel-view";

const open = async (name, locale, email) =>
  run.signIn(await run.person(name, { locale }), email, args.password, channel);

async function joinMeeting(who) {
  await who.page.click(`${view} [data-action=meeting]`);
  await who.page.waitForSelector("#join-meeting:not([disabled])", { timeout: remaining() });
  await who.page.click("#join-meeting");
  await who.page.waitForSelector(".controls #leave-call", { timeout: remaining() });
}

/** The note in the meeting's header once it shows: its text, role, and whether it fits. */
const note = (who) => until(who, "the shedding note", () => {
  const el = document.querySelector(".call-shedding");
  if (!el || el.hidden || !el.textContent) return false;
  const r = el.getBoundingClientRect();
  return {
    text: el.textContent,
    role: el.getAttribute("role"),
    fits: r.left >= -1 && r.right <= window.innerWidth + 1 && r.width > 0
      && document.documentElement.scrollWidth <= window.innerWidth,
  };
});

/** The other person's microphone is subscribed and attached to an <audio> on `who`'s page. */
const hears = (who) => until(who, "the other's audio", () =>
  [...document.querySelectorAll("audio")].some((a) => a.srcObject && a.srcObject.getAudioTracks().length > 0));

await run.finish(async () => {
  report.axe = {};
  const a = await open("a", "en-US", args["email-a"]);
  const b = await open("b", "zh-CN", args["email-b"]);
  for (const who of [a, b]) {
    await keepToasts(who);
    await who.page.click(`.channel-link[data-channel="${channel}"]`);
    await who.page.waitForSelector(`${view} [data-action=meeting]`, { timeout: remaining() });
  }

  await step("both join; the header says video is paused, each in her language", async () => {
    await joinMeeting(a);
    await joinMeeting(b);
    report.noteEn = await note(a);
    report.noteZh = await note(b);
    report.hears = { a: await hears(a), b: await hears(b) };
    await shot(a, "shedding-en");
    await shot(b, "shedding-zh-CN");
    await run.axe(a, "shedding");
  });

  await step("at a phone's width the note still fits", async () => {
    for (const who of [a, b]) await who.page.setViewportSize(PHONE);
    report.phoneEn = await note(a);
    report.phoneZh = await note(b);
    await shot(a, "shedding-phone-en");
    await shot(b, "shedding-phone-zh-CN");
    await run.axe(b, "shedding-phone");
    await b.page.click("#leave-call");
    await a.page.click("#leave-call");
  });

  const all = (await Promise.all([a, b].map(toasts))).flat();
  report.errorToasts = all.filter((t) => t.kind.includes("toast-error"));
  report.pageErrors = Object.values(report.logs).flat().filter((l) => l.startsWith("pageerror"));
});
