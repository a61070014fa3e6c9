// Devices during a call, as Ann (English) and 李娜 (Simplified Chinese) use them, each in a
// headless Chromium with three fake cameras and three fake microphones and speakers, signed in
// through the app's form. Both join the channel's meeting; Ann opens "Devices" from the meeting
// bar, sees a labelled list per kind with the fake devices' names, each at the device in use,
// closes it with Esc and opens it again from the keyboard; she switches microphone, camera and
// speaker, and the lists stay at her choices, her own tile plays the new camera, 李娜 goes on
// receiving her video (frames advancing, same track), 李娜's voice plays on the new speaker,
// and the level meter moves with the fake microphone's beeps while the panel is open (its
// animation loop stops when it closes). A device that cannot be used is refused with a toast and
// the list goes back. 李娜 sees the panel in Chinese; in a voice bridge, in a browser without
// setSinkId, it lists only microphones. axe-core checks the open panel. Screenshots
// (devices-*.png), desktop and phone width, go to --out. Prints one JSON line: what was seen,
// and any failure.
//
//   node app_devices.mjs --parley http://127.0.0.1:PORT --channel 1 --email-a a@x --email-b b@x
//                        --password PW --out DIR [--seconds 120]

import { parseArgs } from "./common.mjs";
import { startRun, CALL_FLAGS, keepToasts, toasts } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
// Three fake cameras, three fake microphones and three fake speakers (the flag given last
// wins). Ann switches to the third camera: the second, fake_device_1, gives Y16 frames (a depth
// camera's format), which a <video> plays but WebRTC never encodes, so nobody would receive it.
const run = await startRun(args, {
  seconds: 120, extraFlags: [...CALL_FLAGS, "--use-fake-device-for-media-stream=device-count=3"],
});
const CAMERA_TO = "fake_device_2";
const { report, remaining, until, step, shot } = run;
const PHONE = { width: 390, height: 844 };
const view = ".channel-view";

const open = async (name, locale, email) =>
  run.signIn(await run.person(name, { locale }), email, args.password, channel);

/** Counts the page's calls to requestAnimationFrame; `window.__frames(n)` counts over n frames. */
async function countFrames(who) {
  await who.page.evaluate(() => {
    const real = window.requestAnimationFrame.bind(window);
    window.__rafCalls = 0;
    window.requestAnimationFrame = (fn) => {
      window.__rafCalls += 1;
      return real(fn);
    };
    window.__frames = (n) => new Promise((resolve) => {
      window.__rafCalls = 0;
      let left = n;
      const tick = () => (--left > 0 ? real(tick) : resolve(window.__rafCalls));
      real(tick);
    });
  });
}

async function joinMeeting(who) {
  await who.page.click(`${view} [data-action=meeting]`);
  await who.page.waitForSelector("#join-meeting:not([disabled])", { timeout: remaining() });
  await who.page.click("#join-meeting");
  await who.page.waitForSelector(".controls #leave-call", { timeout: remaining() });
  await until(who, "the microphone published", () => document.querySelector("#toggle-mic")?.getAttribute("aria-pressed") === "true");
}

/** The devices panel as it is now: its heading, each list's label, names, choice and state. */
const panel = (who) => who.page.evaluate(() => {
  const host = document.querySelector(".call-side .devices-panel");
  if (!host || host.closest("[hidden]")) return null;
  const lists = {};
  for (const select of host.querySelectorAll("select")) {
    lists[select.dataset.kind] = {
      label: select.labels.length === 1 ? select.labels[0].textContent : null,
      options: [...select.options].map((o) => o.textContent),
      selected: select.selectedOptions[0]?.textContent ?? null,
      value: select.value,
      busy: select.closest(".device-field").getAttribute("aria-busy") === "true",
      disabled: select.disabled,
    };
  }
  const meter = host.querySelector("meter");
  return {
    heading: host.querySelector("h2").textContent,
    kinds: Object.keys(lists),
    lists,
    meterLabel: meter?.labels?.[0]?.textContent ?? null,
    focused: document.activeElement?.id ?? null,
  };
});

/** The panel once its lists are filled (the SDK lists devices asynchronously). */
const filled = (who, kinds) => until(who, "the device lists", (k) => {
  const host = document.querySelector(".call-side .devices-panel");
  if (!host || host.closest("[hidden]")) return false;
  const selects = [...host.querySelectorAll("select")];
  return selects.length === k && selects.every((s) => s.options.length && s.options[0].value);
}, kinds).then(() => panel(who));

/** Choose `label` in the list of `kind` and wait until the switch is over; the panel then. */
async function choose(who, kind, label) {
  await who.page.selectOption(`#device-${kind}`, { label });
  await until(who, `the ${kind} switch done`, (k) => !document.querySelector(`.device-field[data-kind="${k}"]`).hasAttribute("aria-busy"), kind);
  return panel(who);
}

/** Whether the call's side panel and its lists fit the viewport. */
const fits = (who) => who.page.evaluate(() => {
  const side = document.querySelector(".call-side").getBoundingClientRect();
  const inside = (r) => r.left >= -1 && r.right <= window.innerWidth + 1 && r.width > 0 && r.height > 0;
  const selects = [...document.querySelectorAll(".devices-panel select")].map((s) => s.getBoundingClientRect());
  return inside(side) && selects.every(inside) && document.documentElement.scrollWidth <= window.innerWidth;
});

/** The other person's camera on `who`'s stage: its track's sid, size and frames so far. */
const remoteVideo = (who) => who.page.evaluate(() => {
  const tile = document.querySelector('.stage .tile:not(.local)[data-source="camera"].has-video');
  const video = tile?.querySelector("video");
  return video && video.videoWidth > 0
    ? { sid: tile.dataset.trackSid, width: video.videoWidth, frames: video.getVideoPlaybackQuality().totalVideoFrames }
    : null;
});

await run.finish(async () => {
  report.axe = {};
  const a = await open("a", "en-US", args["email-a"]);
  const b = await open("b", "zh-CN", args["email-b"]);
  for (const who of [a, b]) {
    await keepToasts(who);
    await who.page.click(`.channel-link[data-channel="${channel}"]`);
    await who.page.waitForSelector(`${view} [data-action=meeting]`, { timeout: remaining() });
  }

  await step("both join the meeting; each receives the other's camera", async () => {
    await joinMeeting(a);
    await joinMeeting(b);
    report.before = await until(b, "Ann's camera on 李娜's stage", () => {
      const tile = document.querySelector('.stage .tile:not(.local)[data-source="camera"].has-video');
      const video = tile?.querySelector("video");
      return video && video.videoWidth > 0 ? { sid: tile.dataset.trackSid, width: video.videoWidth } : null;
    });
    // 李娜's voice plays on Ann's page: what the speaker list moves.
    await until(a, "李娜's voice attached", () => document.querySelector(".call audio[data-track]")?.srcObject);
  });

  await step("Ann opens Devices: three labelled lists at the devices in use; Esc closes it", async () => {
    report.button = await a.page.evaluate(() => {
      const el = document.querySelector("#panel-devices");
      return { name: el.getAttribute("aria-label") || el.textContent.trim(), title: el.title, pressed: el.getAttribute("aria-pressed") };
    });
    await a.page.click("#panel-devices");
    report.openedEn = await filled(a, 3);
    report.pressedOpen = await a.page.getAttribute("#panel-devices", "aria-pressed");
    await countFrames(a);
    report.framesOpen = await a.page.evaluate(() => window.__frames(5));
    await run.axe(a, "devices");

    // Esc closes it and gives the focus back to its button; Enter there opens it again.
    await a.page.keyboard.press("Escape");
    report.escape = await until(a, "the panel closed", () => document.querySelector(".call-side").hidden
      ? { focused: document.activeElement?.id ?? null, pressed: document.querySelector("#panel-devices").getAttribute("aria-pressed") } : null);
    // Closed, the meter's loop asks for no more frames.
    report.framesClosed = await a.page.evaluate(() => window.__frames(5));
    await a.page.keyboard.press("Enter");
    report.reopened = await filled(a, 3);
  });

  await step("Ann switches microphone, camera and speaker", async () => {
    const start = report.reopened.lists;
    report.micSwitched = await choose(a, "audioinput", "Fake Audio Input 2");
    report.camFrom = start.videoinput.selected;
    report.camSwitched = await choose(a, "videoinput", CAMERA_TO);
    report.speakerSwitched = await choose(a, "audiooutput", "Fake Audio Output 2");

    // Ann's own tile plays the new camera; 李娜's voice plays on the new speaker.
    report.localCamera = await until(a, "Ann's tile on the new camera", () => {
      const video = document.querySelector('.stage .tile.local[data-source="camera"] video');
      const track = video?.srcObject?.getVideoTracks()[0];
      return track && track.readyState === "live" && track.getSettings().deviceId === document.querySelector("#device-videoinput").value
        && video.videoWidth > 0;
    });
    report.sinks = await a.page.evaluate(() => {
      const want = document.querySelector("#device-audiooutput").value;
      const els = [...document.querySelectorAll(".call audio[data-track]")];
      return { count: els.length, onChosen: els.every((el) => el.sinkId === want) };
    });
  });

  await step("李娜 still receives Ann's camera: the same track, frames advancing", async () => {
    const first = await until(b, "Ann's video after the switch", () => {
      const tile = document.querySelector('.stage .tile:not(.local)[data-source="camera"].has-video');
      const video = tile?.querySelector("video");
      return video && video.videoWidth > 0 ? video.getVideoPlaybackQuality().totalVideoFrames + 1 : null;
    });
    const later = await until(b, "more frames of Ann's video", (from) => {
      const tile = document.querySelector('.stage .tile:not(.local)[data-source="camera"].has-video');
      const video = tile?.querySelector("video");
      const frames = video ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
      return frames >= from + 15 ? { sid: tile.dataset.trackSid, width: video.videoWidth, frames } : null;
    }, first);
    report.after = { sid: later.sid, width: later.width, advanced: later.frames - (first - 1) };
    report.stillVideo = await remoteVideo(b);
  });

  await step("the level meter follows the microphone's beeps", async () => {
    // The fake microphone beeps twice a second: within 3 s the meter must have moved.
    report.meter = await a.page.evaluate(() => new Promise((resolve) => {
      const meter = document.querySelector("#mic-level");
      const started = performance.now();
      let max = 0;
      const tick = () => {
        max = Math.max(max, meter.value);
        if (max > 0 || performance.now() - started > 3000) resolve({ max, ms: Math.round(performance.now() - started) });
        else setTimeout(tick, 10);
      };
      tick();
    }));
    await shot(a, "devices-panel-en");
    await a.page.setViewportSize(PHONE);
    report.phoneFitsEn = await fits(a);
    await shot(a, "devices-panel-phone-en");
    await run.axe(a, "devices-phone");
    await a.page.setViewportSize({ width: 1280, height: 800 });
  });

  await step("a device that cannot be used is refused: a toast, and the list goes back", async () => {
    // As if the camera were unplugged between listing it and choosing it.
    const before = await a.page.evaluate(() => {
      const select = document.querySelector("#device-videoinput");
      select.append(new Option("Unplugged camera", "no-such-camera"));
      return select.value;
    });
    const after = await choose(a, "videoinput", "Unplugged camera");
    report.refused = {
      reverted: after.lists.videoinput.value === before,
      toast: await until(a, "the refusal's toast", () =>
        (window.__toasts || []).find((t) => t.kind.includes("toast-error") && t.text.startsWith("Could not switch"))?.text),
    };
    await a.page.evaluate(() => document.querySelector('#device-videoinput option[value="no-such-camera"]').remove());
  });

  await step("李娜 sees the panel in Chinese, on a desktop and a phone", async () => {
    await b.page.click("#panel-devices");
    report.openedZh = await filled(b, 3);
    report.buttonZh = await b.page.evaluate(() => document.querySelector("#panel-devices .control-label").textContent);
    await until(b, "the meter moving", () => document.querySelector("#mic-level").value > 0);
    await shot(b, "devices-panel-zh-CN");
    await run.axe(b, "devices");
    await b.page.setViewportSize(PHONE);
    report.phoneFitsZh = await fits(b);
    await shot(b, "devices-panel-phone-zh-CN");
    await run.axe(b, "devices-phone");
  });

  await step("a voice bridge without setSinkId: only the microphones", async () => {
    // The channel header's bridge button is in its "More" menu on a phone: open it wide.
    await b.page.setViewportSize({ width: 1280, height: 800 });
    await b.page.click("#leave-call");
    await b.page.waitForSelector(`${view} [data-action=bridge]`, { timeout: remaining() });
    // A browser that cannot choose the output: no speaker list.
    await b.page.evaluate(() => delete HTMLMediaElement.prototype.setSinkId);
    await b.page.click(`${view} [data-action=bridge]`);
    await b.page.click(".dialog button[type=submit]");
    await b.page.waitForSelector(".call-bridge #panel-devices", { timeout: remaining() });
    await b.page.setViewportSize(PHONE);
    await b.page.click("#panel-devices");
    report.bridge = await filled(b, 1);
    await shot(b, "devices-bridge-phone-zh-CN");
    await run.axe(b, "devices-bridge");
    await b.page.click("#leave-call");
    await a.page.click("#leave-call");
  });

  const all = (await Promise.all([a, b].map(toasts))).flat();
  report.errorToasts = all.filter((t) => t.kind.includes("toast-error") && !t.text.startsWith("Could not switch"));
  report.pageErrors = Object.values(report.logs).flat().filter((l) => l.startsWith("pageerror"));
});
