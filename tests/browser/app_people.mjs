// People and calls as three people use them: Ann in English, 李娜 in Simplified Chinese and
// Chen in English, each in a headless Chromium (fake camera and microphone) signed in through
// the app's form. Ann gives herself a job title, a time zone and a picture, which 李娜 sees at
// once (no reload) in the message list and the member list, and in Ann's profile card; Ann makes
// an open group, which Chen finds on "Browse channels" and joins; Ann rings 李娜 into the
// channel's meeting and she accepts, while Chen sees "Meeting in progress" with a Join link;
// a ring nobody answers ends as a missed-call message with "Call back"; a link in a message
// gets its preview card; axe-core finds no serious or critical fault on the profile dialog and
// card, "Browse channels", the ring dialog and the incoming-call screen. Screenshots
// (people-*.png, calls-*.png) go to --out. Prints one JSON line: what was seen, and any failure.
//
//   node app_people.mjs --parley http://127.0.0.1:PORT --channel 1 --night 2 --email-a a@x
//                       --email-b b@x --email-c c@x --password PW --site http://127.0.0.1:PORT
//                       --out DIR [--seconds 90]

import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { deflateSync } from "node:zlib";
import { parseArgs } from "./common.mjs";
import { startRun, CALL_FLAGS, keepToasts, toasts } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const night = Number(args.night);
const run = await startRun(args, { seconds: 90, extraFlags: CALL_FLAGS });
const { report, remaining, until, step, shot } = run;
report.axe = {};
const view = ".channel-view";
const box = `${view} .composer-input`;
const TITLE = "Release manager / 发布经理";
const ZONE = "Asia/Shanghai";

const open = async (name, locale, email) =>
  run.signIn(await run.person(name, { locale }), email, args.password, channel);

/** Open a channel from the sidebar and wait for its composer. */
async function goTo(who, id) {
  await who.page.click(`.channel-link[data-channel="${id}"]`);
  await who.page.waitForFunction((c) => location.hash === `#/c/${c}` && document.querySelector(".channel-view .composer-input"), id, { timeout: remaining() });
}

async function send(who, text) {
  await who.page.fill(box, text);
  await who.page.press(box, "Enter");
}

/** Wait until the message whose text includes `text` shows on `who`'s page; its id. */
const seen = (who, text) => until(who, `the message "${text}"`, (t) => {
  const m = [...document.querySelectorAll(".channel-view .message")].find((e) => e.querySelector(".message-body")?.textContent.includes(t));
  return m ? Number(m.dataset.id) : null;
}, text);

/** Close the open dialog with its last button (Close or Cancel) and wait until it is gone. */
async function closeDialog(who) {
  await who.page.click(".backdrop .dialog .dialog-actions button:last-child");
  await who.page.waitForSelector(".backdrop", { state: "detached", timeout: remaining() });
}

/** Controls in `selector` without an accessible name. */
const unnamed = (who, selector) => who.page.evaluate((sel) => [...document.querySelectorAll(
  `${sel} button, ${sel} a, ${sel} input:not([type=file]), ${sel} select`)]
  .filter((e) => !(e.getAttribute("aria-label") || e.textContent.trim() || e.labels?.length))
  .map((e) => e.outerHTML.slice(0, 120)), selector);

/** A PNG of `width` × `height`: orange on the left half, blue on the right, written by hand. */
function png(width, height) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "ascii");
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const head = Buffer.alloc(13);
  head.writeUInt32BE(width, 0);
  head.writeUInt32BE(height, 4);
  head.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * (width * 3 + 1) + 1 + x * 3;
      rows.set(x < width / 2 ? [240, 120, 30] : [30, 90, 220], at);
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", head),
    chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

await run.finish(async () => {
  report.browserDialogs = [];
  const a = await open("a", "en-US", args["email-a"]);
  const b = await open("b", "zh-CN", args["email-b"]);
  const c = await open("c", "en-US", args["email-c"]);
  for (const who of [a, b, c]) {
    who.page.on("dialog", (d) => {
      report.browserDialogs.push(`${who.name}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    await keepToasts(who);
    await goTo(who, channel);
  }
  const me = await a.page.evaluate(() => document.querySelector(".side-header .avatar").dataset.user);
  const ann = `.avatar[data-user="${me}"]`;

  await step("profile: a title, a time zone and a picture reach the others without a reload", async () => {
    await send(a, "Hello from Ann / 你好");
    const hello = await seen(b, "Hello from Ann");
    await seen(c, "Hello from Ann");
    report.initialsBefore = await b.page.evaluate((sel) => {
      const el = document.querySelector(`.channel-view .message ${sel}`);
      return el ? { text: el.textContent, picture: Boolean(el.querySelector("img")) } : null;
    }, ann);
    // A reload would drop this mark: the picture must arrive over /v1/ws.
    await b.page.evaluate(() => { window.__sameLoad = true; });

    await a.page.click("[data-action=edit-profile]");
    await a.page.waitForSelector(".dialog .profile-form", { timeout: remaining() });
    await a.page.fill("#profile-title", TITLE);
    await a.page.selectOption("#profile-zone", ZONE);
    const file = path.join(tmpdir(), `parley-avatar-${process.pid}.png`);
    await writeFile(file, png(120, 80));
    await a.page.setInputFiles("#profile-picture", file);
    // Removed once uploaded: the page reads the file when it sends it, which may be a while.
    await until(a, "the new picture in the dialog", () => {
      const img = document.querySelector(".dialog .profile-avatar img.avatar-picture");
      return img && img.complete && img.naturalWidth > 0;
    }).finally(() => rm(file, { force: true }));
    report.dialogUnnamed = await unnamed(a, ".dialog");
    await shot(a, "people-profile-dialog-en");
    await run.axe(a, "profile-dialog");
    await a.page.click(".dialog .profile-form button[type=submit]");
    await a.page.waitForSelector(".backdrop", { state: "detached", timeout: remaining() });
    // Ann's own corner of the sidebar shows it too.
    await until(a, "Ann's picture in her sidebar", () => document.querySelector(".side-header .avatar img.avatar-picture"));

    // 李娜 sees the picture beside Ann's message, the server's square (80 × 80 of 120 × 80).
    report.pictureInMessages = await until(b, "Ann's picture in the message list", ({ sel, id }) => {
      const img = document.querySelector(`.channel-view .message[data-id="${id}"] ${sel} img.avatar-picture`);
      return img && img.complete && img.naturalWidth > 0
        ? { width: img.naturalWidth, height: img.naturalHeight, blob: img.src.startsWith("blob:") } : null;
    }, { sel: ann, id: hello });
    report.sameLoad = await b.page.evaluate(() => window.__sameLoad === true);
    await b.page.click(`${view} [data-action=members]`);
    report.pictureInMembers = await until(b, "Ann's picture in the member list", (sel) => {
      const img = document.querySelector(`.dialog .member-list ${sel} img.avatar-picture`);
      return img && img.complete && img.naturalWidth > 0;
    }, ann);
    await closeDialog(b);

    // Her card: the title and the time where she is, in 李娜's language.
    await b.page.click(`${view} .message[data-id="${hello}"] .sender-name`);
    await b.page.waitForSelector(".dialog .profile-card .profile-local", { timeout: remaining() });
    report.cardZh = await b.page.evaluate((zone) => {
      const expect = () => new Intl.DateTimeFormat("zh-CN", { timeZone: zone, hour: "2-digit", minute: "2-digit", weekday: "short" }).format(new Date());
      const before = expect();
      const card = document.querySelector(".dialog .profile-card");
      const local = card.querySelector(".profile-local").textContent.trim();
      const after = expect();
      return {
        heading: document.querySelector(".dialog h2").textContent,
        title: card.querySelector(".profile-title")?.textContent ?? null,
        local,
        localExpected: [`当地时间：${before}`, `当地时间：${after}`].includes(local),
        picture: Boolean(card.querySelector(".avatar img.avatar-picture")),
        message: card.querySelector(".dialog-actions .primary")?.textContent.trim() ?? null,
        // "在线" beside a green dot, not on a green bar.
        presence: card.querySelector(".presence-text")?.textContent ?? null,
        presenceDot: Boolean(card.querySelector(".presence-text .dot.presence-online")),
        presenceBackground: getComputedStyle(card.querySelector(".presence-text")).backgroundColor,
      };
    }, ZONE);
    await until(b, "the card's picture", () => document.querySelector(".dialog .profile-card .avatar img"));
    await shot(b, "people-profile-card-zh-CN");
    await run.axe(b, "profile-card");
    await closeDialog(b);

    await c.page.click(`${view} .message[data-id="${hello}"] .sender-name`);
    await c.page.waitForSelector(".dialog .profile-card .profile-local", { timeout: remaining() });
    await until(c, "the card's picture", () => document.querySelector(".dialog .profile-card .avatar img"));
    report.cardEn = await c.page.evaluate(() => ({
      title: document.querySelector(".dialog .profile-title")?.textContent ?? null,
      local: document.querySelector(".dialog .profile-local").textContent.trim(),
    }));
    await shot(c, "people-profile-card-en");
    await run.axe(c, "profile-card");
    await closeDialog(c);

    // 李娜's own profile dialog, in Chinese.
    await b.page.click("[data-action=edit-profile]");
    await b.page.waitForSelector(".dialog .profile-form", { timeout: remaining() });
    report.dialogZh = await b.page.evaluate(() => ({
      heading: document.querySelector(".dialog h2").textContent,
      upload: document.querySelector(".dialog [data-action=upload-picture]").textContent.trim(),
      // Set elsewhere, and not a name the browser lists: still hers, not "not set".
      zone: document.querySelector("#profile-zone").value,
    }));
    await shot(b, "people-profile-dialog-zh-CN");
    await run.axe(b, "profile-dialog");
    await b.page.click(".dialog .profile-form .dialog-actions button[type=button]");
    await b.page.waitForSelector(".backdrop", { state: "detached", timeout: remaining() });
  });

  await step("link previews: a link in a message gets a card with the page's title", async () => {
    await send(a, `Q3 budget draft 预算草稿: ${args.site}/q3 please read`);
    for (const who of [a, b]) {
      report[`preview_${who.name}`] = await until(who, "the link preview", () => {
        const card = document.querySelector(".channel-view .link-preview");
        return card ? {
          title: card.querySelector(".link-preview-title").textContent,
          site: card.querySelector(".link-preview-site")?.textContent ?? null,
          text: card.querySelector(".link-preview-text")?.textContent ?? null,
          href: card.getAttribute("href"),
          target: card.getAttribute("target"),
          rel: card.getAttribute("rel"),
        } : null;
      });
    }
    await shot(a, "people-link-preview-en");
    await shot(b, "people-link-preview-zh-CN");
  });

  await step("open channels: Ann makes an open group; Chen finds it and joins", async () => {
    await a.page.click(".side-actions button:has-text('New group')");
    await a.page.waitForSelector(".dialog #group-open", { timeout: remaining() });
    await a.page.fill("#group-name", "设计评审 Design reviews");
    await a.page.check("#group-open");
    await a.page.check(".dialog .pick-list label.pick:has-text('李娜') input");
    await a.page.click(".dialog button[type=submit]");
    report.openGroup = await until(a, "the new group open", (known) => {
      const m = /^#\/c\/(\d+)$/.exec(location.hash);
      return m && !known.includes(Number(m[1])) && document.querySelector(".channel-view .composer-input") ? Number(m[1]) : null;
    }, [channel, night]);
    const group = report.openGroup;

    await c.page.click(".side-nav a[href='#/browse']");
    await c.page.waitForSelector(`.browse-item[data-channel="${group}"]`, { timeout: remaining() });
    report.browseEn = await c.page.evaluate(() => ({
      heading: document.querySelector(".browse-page h1").textContent,
      items: [...document.querySelectorAll(".browse-item strong")].map((e) => e.textContent),
      buttons: [...document.querySelectorAll(".browse-item [data-action=join]")].map((e) => e.getAttribute("aria-label")),
    }));
    await shot(c, "people-browse-en");
    await run.axe(c, "browse");
    await c.page.click(`.browse-item [data-action=join][data-channel="${group}"]`);
    await c.page.waitForFunction((id) => location.hash === `#/c/${id}` && document.querySelector(".channel-view .composer-input"), group, { timeout: remaining() });
    await c.page.waitForSelector(`.channel-link[data-channel="${group}"]`, { timeout: remaining() });
    report.joinedTitle = await c.page.textContent(`${view} h1`);
    report.joinedToast = (await toasts(c)).map((t) => t.text).find((t) => t.startsWith("You joined")) ?? null;

    // 李娜 is in that group already: her list holds only the book club, in Chinese.
    await b.page.click(".side-nav a[href='#/browse']");
    await b.page.waitForSelector(".browse-item", { timeout: remaining() });
    report.browseZh = await b.page.evaluate(() => ({
      heading: document.querySelector(".browse-page h1").textContent,
      items: [...document.querySelectorAll(".browse-item strong")].map((e) => e.textContent),
      join: document.querySelector(".browse-item [data-action=join]").textContent,
    }));
    await shot(b, "people-browse-zh-CN");
    await run.axe(b, "browse");
    await goTo(b, channel);
    await goTo(a, channel);
    await goTo(c, channel);
  });

  await step("calls: Ann rings 李娜, who accepts; Chen sees the meeting in progress", async () => {
    // Nothing on yet: no bar.
    for (const who of [a, c]) {
      await who.page.waitForSelector(`${view} .call-bar`, { state: "attached", timeout: remaining() });
    }
    report.barBefore = await a.page.evaluate(() => document.querySelector(".channel-view .call-bar").hidden);
    await a.page.click(`${view} [data-action=ring]`);
    await a.page.waitForSelector(".dialog .ring-form", { timeout: remaining() });
    await run.axe(a, "ring-dialog");
    report.ringChoices = await a.page.evaluate(() => [...document.querySelectorAll(".dialog .ring-list li")]
      .map((li) => ({ name: li.querySelector("label").lastChild.textContent, ticked: li.querySelector("input").checked }))
      .sort((x, y) => x.name.localeCompare(y.name)));
    // Only 李娜: Chen is unticked.
    await a.page.uncheck(".dialog .ring-list li:has-text('Chen Wei') input");
    await a.page.click(".dialog [data-action=ring-now]");
    await a.page.waitForFunction((id) => location.hash === `#/meet/${id}`, channel, { timeout: remaining() });
    report.ringId = Number(await a.page.getAttribute(".ringing-note", "data-ring", { timeout: remaining() }));

    await b.page.waitForSelector(".incoming-call [data-action=accept]", { timeout: remaining() });
    report.incomingZh = await b.page.evaluate(() => ({
      heading: document.querySelector(".incoming-call h2").textContent,
      where: document.querySelector(".incoming-call .muted").textContent,
      picture: Boolean(document.querySelector(".incoming-call .avatar img.avatar-picture")),
      focused: document.activeElement?.dataset.action ?? null,
      buttons: [...document.querySelectorAll(".incoming-call button")].map((e) => e.textContent.trim()),
    }));
    report.incomingUnnamed = await unnamed(b, ".incoming-call");
    await until(b, "the caller's picture", () => document.querySelector(".incoming-call .avatar img"));
    await shot(b, "calls-incoming-zh-CN");
    await run.axe(b, "incoming-call");
    await b.page.click(".incoming-call [data-action=accept]");
    await b.page.waitForFunction((id) => location.hash === `#/meet/${id}` && !document.querySelector(".incoming-call"), channel, { timeout: remaining() });
    report.chenRung = await c.page.evaluate(() => Boolean(document.querySelector(".incoming-call")));
    report.acceptedToast = await until(a, "the caller told of the answer", () =>
      (window.__toasts || []).map((t) => t.text).find((t) => t.includes("is joining")));

    // Ann joins from the pre-join page; Chen's channel shows the meeting with her in it.
    await a.page.waitForSelector("#join-meeting:not([disabled])", { timeout: remaining() });
    await a.page.click("#join-meeting");
    await a.page.waitForSelector("#leave-call", { timeout: remaining() });
    report.barEn = await until(c, "the call bar with Ann in it", () => {
      const bar = document.querySelector(".channel-view .call-bar");
      const text = bar && !bar.hidden && bar.querySelector(".call-bar-text")?.textContent;
      return text && text.includes("1") ? {
        text,
        join: bar.querySelector("[data-action=join-call]").textContent,
        href: bar.querySelector("[data-action=join-call]").getAttribute("href"),
        liveMark: Boolean(document.querySelector(`.channel-link.active .live-mark`)),
      } : null;
    });
    await shot(c, "calls-bar-en");

    // 李娜 goes back to the channel before joining: the bar, in Chinese; its Join opens the meeting.
    await goTo(b, channel);
    report.barZh = await until(b, "the call bar in Chinese", () => {
      const bar = document.querySelector(".channel-view .call-bar");
      const text = bar && !bar.hidden && bar.querySelector(".call-bar-text")?.textContent;
      return text && text.includes("1") ? { text, join: bar.querySelector("[data-action=join-call]").textContent } : null;
    });
    await shot(b, "calls-bar-zh-CN");
    await b.page.click(`${view} .call-bar [data-action=join-call]`);
    await b.page.waitForSelector("#join-meeting", { timeout: remaining() });
    report.barJoinRoute = await b.page.evaluate(() => location.hash);
  });

  await step("missed call: nobody answers; the channel says so, with Call back", async () => {
    for (const who of [a, b, c]) await goTo(who, night);
    await a.page.click(`${view} [data-action=ring]`);
    await a.page.waitForSelector(".dialog .ring-form", { timeout: remaining() });
    await a.page.click(".dialog [data-action=ring-now]");
    await a.page.waitForFunction((id) => location.hash === `#/meet/${id}`, night, { timeout: remaining() });
    report.missedRingId = Number(await a.page.getAttribute(".ringing-note", "data-ring", { timeout: remaining() }));
    for (const who of [b, c]) await who.page.waitForSelector(".incoming-call", { timeout: remaining() });
    report.incomingEn = await c.page.textContent(".incoming-call h2");
    await until(c, "the caller's picture", () => document.querySelector(".incoming-call .avatar img"));
    await shot(c, "calls-incoming-en");
    await run.axe(c, "incoming-call");

    // Nobody answers: the screens go when the ring ends, and the message takes their place.
    for (const who of [b, c]) {
      report[`missed_${who.name}`] = await until(who, "the missed-call message", () => {
        const el = document.querySelector(".channel-view .missed-call");
        if (!el || document.querySelector(".incoming-call")) return null;
        const text = el.cloneNode(true);
        text.querySelector("button")?.remove();
        return {
          text: text.textContent.trim(),
          callBack: el.querySelector("[data-action=call-back]")?.textContent.trim() ?? null,
        };
      });
    }
    // The ring opened the meeting, but nobody ever joined it: nothing is in progress.
    report.barAfterMissed = await c.page.evaluate((id) => ({
      hidden: document.querySelector(".channel-view .call-bar").hidden,
      liveMark: Boolean(document.querySelector(`.channel-link[data-channel="${id}"] .live-mark`)),
    }), night);
    await shot(b, "calls-missed-zh-CN");
    await shot(c, "calls-missed-en");
    report.noAnswer = await until(a, "the caller told nobody answered", () =>
      !document.querySelector(".ringing-note") && (window.__toasts || []).map((t) => t.text).find((t) => t === "Nobody answered."));

    // Call back: 李娜 rings Ann, who declines.
    await b.page.click(`${view} .missed-call [data-action=call-back]`);
    await b.page.waitForFunction((id) => location.hash === `#/meet/${id}`, night, { timeout: remaining() });
    await a.page.waitForSelector(".incoming-call [data-action=decline]", { timeout: remaining() });
    report.callBackIncoming = await a.page.textContent(".incoming-call h2");
    await a.page.click(".incoming-call [data-action=decline]");
    await a.page.waitForSelector(".incoming-call", { state: "detached", timeout: remaining() });
    report.declinedToast = await until(b, "the caller told of the decline", () =>
      (window.__toasts || []).map((t) => t.text).find((t) => t.includes("已拒绝")));
  });

  report.errorToasts = (await Promise.all([a, b, c].map(toasts))).flat().filter((t) => t.kind.includes("toast-error"));
  report.pageErrors = Object.values(report.logs).flat().filter((l) => l.startsWith("pageerror"));
});
