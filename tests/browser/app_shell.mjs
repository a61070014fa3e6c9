// The web app's shell as people use it all day, in English (Ann) and Simplified Chinese (李娜):
// the meeting bar's controls each show an icon and a label and have a name; a task given to Ann
// through the API reaches her inbox and its badge, and marking it read clears both; 李娜's tab,
// hidden, gets browser notifications for Ann's messages, none from a channel she muted or while
// she is "dnd", and its title counts what is unread; on a phone the channel header is one row,
// its less-used actions in the "More" menu; Ctrl+K switches channel and "?" lists the shortcuts;
// an administrator with no channel is told what to do next and the dashboard's charts keep their
// labels inside; the service worker registers and the app opens offline; and axe-core finds no
// serious or critical accessibility fault on the sign-in page, a channel, a meeting and the
// inbox. Screenshots go to --out as shell-*.png. Prints one JSON line: what was seen, and any
// failure.
//
//   node app_shell.mjs --parley http://127.0.0.1:PORT --channel 1 --channel2 2 --email-a a@x
//                      --email-b b@x --password PW --user-a 2 --user-b 3
//                      --admin-email admin@x --admin-password PW --out DIR [--seconds 200]

import { parseArgs } from "./common.mjs";
import { startRun, CALL_FLAGS } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const channel2 = Number(args.channel2);
const run = await startRun(args, { seconds: 200, extraFlags: CALL_FLAGS });
const { report, until, step, shot } = run;
const PHONE = { width: 390, height: 844 };
// An emoji, as the controls used to show instead of drawn icons.
const EMOJI = /\p{Extended_Pictographic}/u;

/**
 * Every page records the browser notifications it makes, and can be made hidden: the
 * Notification API is wrapped (the real one still runs), `document.visibilityState` follows
 * `window.__setHidden(bool)`.
 */
function pageHooks() {
  window.__notes = [];
  const Real = window.Notification;
  if (Real) {
    const Recorded = function (title, options = {}) {
      window.__notes.push({ title, body: options.body || "", tag: options.tag || "" });
      try {
        return new Real(title, options);
      } catch {
        return { close() {} };
      }
    };
    Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
    Recorded.requestPermission = (...a) => Real.requestPermission(...a);
    window.Notification = Recorded;
  }
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
}

async function open(name, { locale, email, password = args.password, viewport, waitFor = `.channel-link[data-channel="${channel}"]` }) {
  const who = await run.person(name, { locale, viewport });
  await who.context.addInitScript(pageHooks);
  await who.page.reload();
  await who.page.waitForSelector("#email");
  await who.page.fill("#email", email);
  await who.page.fill("#password", password);
  await who.page.click("button[type=submit]");
  await who.page.waitForSelector(waitFor, { timeout: run.remaining() });
  return who;
}

/** axe-core's serious and critical violations on the page as it is now (app_common.mjs). */
const axe = (who, where) => run.axe(who, where);

/** The text of the channel's "mark read"/unread badge in the sidebar, or null. */
const sidebarBadge = (who, c) => who.page.evaluate((id) =>
  document.querySelector(`.channel-link[data-channel="${id}"] .badge`)?.textContent ?? null, c);

/** Send a message as `who` through the app's own client (the chat view is another test's). */
const say = (who, c, text) => who.page.evaluate(async ({ c, text }) => {
  const { state } = await import("/app/app.js");
  await state.client.send(c, text);
}, { c, text });

run.finish(async () => {
  report.axe = {};
  // --- Sign-in, in both languages -------------------------------------------------------------
  const signinA = await run.person("signin-en", { locale: "en-US" });
  await signinA.page.waitForSelector("#email");
  await axe(signinA, "signin");
  await shot(signinA, "shell-signin-en");
  const signinB = await run.person("signin-zh", { locale: "zh-CN", viewport: PHONE });
  await signinB.page.waitForSelector("#email");
  await axe(signinB, "signin-phone");
  await shot(signinB, "shell-signin-zh");
  report.manifest = await signinA.page.evaluate(async () => {
    const link = document.querySelector('link[rel="manifest"]');
    const manifest = await (await fetch(link.href)).json();
    return { href: link.getAttribute("href"), name: manifest.name, display: manifest.display,
      theme: document.querySelector('meta[name="theme-color"]')?.content ?? null };
  });
  await signinA.context.close();
  await signinB.context.close();

  const a = await open("a", { locale: "en-US", email: args["email-a"] });
  const b = await open("b", { locale: "zh-CN", email: args["email-b"] });

  await step("translations: both languages have every key the shell asks for", async () => {
    report.translations = await a.page.evaluate(async () => {
      const i18n = await import("/app/i18n.js");
      const unknown = [];
      for (const file of ["app.js", "meeting.js", "notifications.js", "search.js", "admin.js", "library.js", "knowledge.js", "article.js", "minutes.js", "upkeep.js"]) {
        const code = await (await fetch(`/app/${file}`)).text();
        for (const [, key] of code.matchAll(/\bt\("([\w.]+)"/g)) {
          if (i18n.t(key) === key) unknown.push(`${file}: ${key}`);
        }
      }
      return { missing: i18n.missingKeys(), unknown };
    });
  });

  await step("channel: the header's actions have icons and names; axe finds nothing serious", async () => {
    for (const who of [a, b]) {
      await who.page.click(`.channel-link[data-channel="${channel}"]`);
      await who.page.waitForSelector(".channel-view .channel-header [data-action=meeting]");
    }
    report.header = await a.page.evaluate((emoji) => {
      const re = new RegExp(emoji, "u");
      const controls = [...document.querySelectorAll(".channel-header button, .channel-header a")]
        .filter((el) => el.offsetParent !== null);
      return {
        actions: [...document.querySelectorAll(".channel-header [data-action]")].map((el) => el.dataset.action),
        unnamed: controls.filter((el) => !(el.getAttribute("aria-label") || el.textContent.trim())).map((el) => el.outerHTML.slice(0, 120)),
        emoji: controls.filter((el) => re.test(el.textContent)).map((el) => el.textContent),
        withoutIcon: controls.filter((el) => !el.querySelector("svg")).map((el) => el.outerHTML.slice(0, 120)),
      };
    }, EMOJI.source);
    await axe(a, "channel");
    await axe(b, "channel");
    await shot(a, "shell-channel-en");
    await shot(b, "shell-channel-zh");
  });

  await step("inbox: a task given to Ann through the API reaches her badge and inbox", async () => {
    // 李娜 gives Ann a task, as any client of the API would.
    const login = await (await fetch(`${args.parley}/v1/auth/login`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: args["email-b"], password: args.password }),
    })).json();
    const created = await fetch(`${args.parley}/v1/tasks`, {
      method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${login.access_token}` },
      body: JSON.stringify({ title: "Check the shell 检查外壳", assignee_id: Number(args["user-a"]) }),
    });
    const task = await created.json();
    report.taskStatus = created.status;
    report.badge = await until(a, "the inbox badge", () =>
      document.querySelector('.side-nav a[href="#/notifications"] .badge')?.textContent ?? null);
    report.titleWithInbox = await until(a, "the title counts it", () => (/^\(\d+\) Parley$/.test(document.title) ? document.title : null));
    await a.page.click('.side-nav a[href="#/notifications"]');
    report.inbox = await until(a, "the notification listed", (id) => {
      const item = document.querySelector(".notif-list .notif");
      if (!item) return null;
      const link = item.querySelector("a.notif-link");
      return { text: item.querySelector(".notif-text").textContent, unread: item.classList.contains("unread"),
        href: link && link.getAttribute("href"), expected: `#/tasks/${id}`, newTag: Boolean(item.querySelector(".notif-new")) };
    }, task.id);
    await axe(a, "notifications");
    await shot(a, "shell-notifications-en");
    await a.page.click(".notif.unread [data-action=mark-read]");
    report.afterRead = await until(a, "the badge gone", () => {
      const badge = document.querySelector('.side-nav a[href="#/notifications"] .badge');
      const item = document.querySelector(".notif-list .notif");
      return !badge && item && !item.classList.contains("unread") ? { title: document.title, unread: false } : null;
    });
    // The server agrees.
    report.serverUnread = (await (await fetch(`${args.parley}/v1/notifications?unread=true`, {
      headers: { authorization: `Bearer ${(await (await fetch(`${args.parley}/v1/auth/login`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: args["email-a"], password: args.password }),
      })).json()).access_token}` },
    })).json()).unread;
    await shot(a, "shell-notifications-read-en");
    await b.page.goto(`${args.parley}/#/notifications`);
    await b.page.waitForSelector(".notifications .notif-status:not(:empty)");
    await axe(b, "notifications");
    await shot(b, "shell-notifications-zh");
  });

  await step("browser notifications: a hidden tab hears of Ann's messages, except from a muted channel or when dnd", async () => {
    await b.page.goto(`${args.parley}/#/c/${channel}`);
    await b.page.waitForSelector(".channel-header [data-action=mute]");
    await b.page.click(".channel-header [data-action=mute]");
    report.mutePressed = await b.page.getAttribute(".channel-header [data-action=mute]", "aria-pressed");
    report.mutedStored = await b.page.evaluate(() => localStorage.getItem("parley.mutedChannels"));
    await b.page.click(`.channel-link[data-channel="${channel2}"]`);
    await b.page.waitForSelector(`.channel-header [data-action=mute][aria-pressed="false"]`);
    await b.page.evaluate(() => window.__setHidden(true));
    const notesWith = (text) => until(b, `a notification with ${text}`, (t) => window.__notes.find((n) => n.body === t) || null, text);
    await say(a, channel2, "first in the open channel");
    report.noteOpen = await notesWith("first in the open channel");
    await say(a, channel, "muted channel news");
    await say(a, channel2, "after the muted one");
    report.noteAfterMuted = await notesWith("after the muted one");
    report.mutedUnread = await until(b, "the muted channel still counts", (c) =>
      document.querySelector(`.channel-link[data-channel="${c}"] .badge`)?.textContent ?? null, channel);
    report.title = await b.page.evaluate(() => document.title);
    // Do not disturb: nothing, until back online.
    await b.page.evaluate(() => window.__setHidden(false));
    await b.page.selectOption(".presence-select", "dnd");
    const presence = (want) => until(b, `presence ${want}`, async ({ user, want }) => {
      const { state } = await import("/app/app.js");
      return state.presence.get(user) === want;
    }, { user: Number(args["user-b"]), want });
    await presence("dnd");
    await b.page.evaluate(() => window.__setHidden(true));
    await say(a, channel2, "while dnd");
    await until(b, "the dnd message arrived", async (c) => {
      const { state } = await import("/app/app.js");
      return state.channels.get(c).last_message?.body === "while dnd";
    }, channel2);
    await b.page.evaluate(() => window.__setHidden(false));
    await b.page.selectOption(".presence-select", "online");
    await presence("online");
    await b.page.evaluate(() => window.__setHidden(true));
    await say(a, channel2, "back online");
    await notesWith("back online");
    report.notes = await b.page.evaluate(() => window.__notes.map((n) => ({ title: n.title, body: n.body })));
    report.titleLater = await b.page.evaluate(() => document.title);
    await b.page.evaluate(() => window.__setHidden(false));
  });

  await step("meeting: every control has an icon, a visible label and a name; axe finds nothing serious", async () => {
    await a.page.goto(`${args.parley}/#/c/${channel}`);
    await a.page.click("[data-action=meeting]");
    await a.page.waitForSelector("#join-meeting:not([disabled])");
    await a.page.click("#join-meeting");
    await a.page.waitForSelector(".controls #leave-call");
    await until(a, "the microphone published", () => document.querySelector("#toggle-mic")?.getAttribute("aria-pressed") === "true");
    const controls = () => a.page.evaluate((emoji) => {
      const re = new RegExp(emoji, "u");
      const bar = document.querySelector(".controls");
      return {
        fits: bar.scrollWidth <= bar.clientWidth + 1 && document.documentElement.scrollWidth <= window.innerWidth,
        buttons: [...bar.querySelectorAll("button")].map((el) => {
          const label = el.querySelector(".control-label");
          const box = label && label.getBoundingClientRect();
          return {
            id: el.id, name: el.getAttribute("aria-label") || el.textContent.trim(), title: el.title,
            label: label ? label.textContent : "", labelShown: Boolean(box && box.width > 0 && box.height > 0),
            icon: Boolean(el.querySelector("svg")), emoji: re.test(el.textContent), pressed: el.getAttribute("aria-pressed"),
            inside: el.getBoundingClientRect().right <= window.innerWidth + 1 && el.getBoundingClientRect().left >= -1,
          };
        }),
      };
    }, EMOJI.source);
    report.meeting = await controls();
    await axe(a, "meeting");
    await shot(a, "shell-meeting-en");
    await a.page.setViewportSize(PHONE);
    report.meetingPhone = await controls();
    await shot(a, "shell-meeting-phone-en");
    await a.page.click("#leave-call");
    await a.page.waitForSelector(".channel-view");
  });

  await step("phone: the channel header is one row, its other actions in the More menu", async () => {
    await a.page.goto(`${args.parley}/#/c/${channel}`);
    await a.page.waitForSelector(".channel-header .more-toggle");
    const layout = () => a.page.evaluate(() => {
      const header = document.querySelector(".channel-header");
      const shown = [...header.children].filter((el) => getComputedStyle(el).display !== "none" && el.getBoundingClientRect().width > 0);
      const boxes = shown.map((el) => el.getBoundingClientRect());
      return {
        children: shown.map((el) => el.className),
        oneRow: Math.max(...boxes.map((r) => r.top)) < Math.min(...boxes.map((r) => r.bottom)),
        inside: boxes.every((r) => r.left >= -1 && r.right <= window.innerWidth + 1),
        noScroll: document.documentElement.scrollWidth <= window.innerWidth,
        menuHidden: getComputedStyle(header.querySelector(".header-menu")).display === "none",
        expanded: header.querySelector(".more-toggle").getAttribute("aria-expanded"),
        haspopup: header.querySelector(".more-toggle").getAttribute("aria-haspopup"),
      };
    });
    report.phoneHeader = await layout();
    await shot(a, "shell-phone-channel-en");
    await a.page.click(".channel-header .more-toggle");
    report.menuOpen = await a.page.evaluate(() => {
      const menu = document.querySelector(".channel-header .header-menu");
      return { shown: getComputedStyle(menu).display !== "none",
        expanded: document.querySelector(".channel-header .more-toggle").getAttribute("aria-expanded"),
        actions: [...menu.querySelectorAll("[data-action]")].filter((el) => el.offsetParent !== null).map((el) => el.dataset.action),
        focusInMenu: menu.contains(document.activeElement),
        inside: menu.getBoundingClientRect().left >= 0 && menu.getBoundingClientRect().right <= window.innerWidth };
    });
    await shot(a, "shell-phone-menu-en");
    await a.page.keyboard.press("Escape");
    report.menuAfterEsc = await layout();
    await a.page.click(".channel-header .more-toggle");
    await a.page.mouse.click(195, 600);
    report.menuAfterOutside = await layout();
    // The zh page too, on a phone.
    await b.page.setViewportSize(PHONE);
    await b.page.goto(`${args.parley}/#/c/${channel}`);
    await b.page.waitForSelector(".channel-header .more-toggle");
    report.phoneHeaderZh = await b.page.evaluate(() => {
      const header = document.querySelector(".channel-header");
      const boxes = [...header.children].filter((el) => el.getBoundingClientRect().width > 0).map((el) => el.getBoundingClientRect());
      return { oneRow: Math.max(...boxes.map((r) => r.top)) < Math.min(...boxes.map((r) => r.bottom)),
        noScroll: document.documentElement.scrollWidth <= window.innerWidth };
    });
    await axe(b, "channel-phone");
    await shot(b, "shell-phone-channel-zh");
    await a.page.setViewportSize({ width: 1280, height: 800 });
    await b.page.setViewportSize({ width: 1280, height: 800 });
  });

  await step("keyboard: Ctrl+K switches channel, ? lists the shortcuts, Esc closes", async () => {
    await a.page.goto(`${args.parley}/#/c/${channel}`);
    await a.page.waitForSelector(".channel-header");
    await a.page.evaluate(() => document.activeElement && document.activeElement.blur());
    await a.page.keyboard.press("Control+K");
    await a.page.waitForSelector(".switcher-input");
    await a.page.keyboard.type("Ops");
    report.switcherOptions = await a.page.evaluate(() => [...document.querySelectorAll(".switcher-item")].map((el) => el.dataset.channel));
    await shot(a, "shell-switcher-en");
    await a.page.keyboard.press("Enter");
    report.switched = await until(a, "the other channel", (c) => location.hash === `#/c/${c}` ? location.hash : null, channel2);
    await a.page.waitForSelector(".channel-header");
    await a.page.evaluate(() => document.activeElement && document.activeElement.blur());
    await a.page.keyboard.press("?");
    report.shortcuts = await until(a, "the shortcuts", () => {
      const sheet = document.querySelector(".dialog .shortcuts");
      return sheet ? [...sheet.querySelectorAll("dt")].map((dt) => dt.textContent) : null;
    });
    await axe(a, "shortcuts");
    await shot(a, "shell-shortcuts-en");
    await a.page.keyboard.press("Escape");
    report.shortcutsClosed = await until(a, "the sheet closed", () => !document.querySelector(".backdrop"));
    await b.page.goto(`${args.parley}/#/c/${channel}`);
    await b.page.waitForSelector(".side-footer .shortcuts-open");
    await b.page.click(".side-footer .shortcuts-open");
    await b.page.waitForSelector(".dialog .shortcuts");
    await shot(b, "shell-shortcuts-zh");
    await b.page.keyboard.press("Escape");
  });

  await step("offline: the service worker registers and the app opens without a network", async () => {
    report.worker = await a.page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      return { scope: registration.scope, script: registration.active && registration.active.scriptURL };
    });
    // Controlled from the next load on.
    await a.page.reload();
    await until(a, "the page controlled", () => Boolean(navigator.serviceWorker.controller));
    await a.page.waitForSelector(".channel-header");
    await a.context.setOffline(true);
    await a.page.reload();
    report.offline = await until(a, "the shell offline", () => {
      const conn = document.getElementById("connection");
      return conn && document.querySelector(".sidebar") && conn.textContent
        ? { state: conn.dataset.state, text: conn.textContent } : null;
    });
    await shot(a, "shell-offline-en");
    await a.context.setOffline(false);
    report.online = await until(a, "connected again", () => document.getElementById("connection")?.dataset.state === "open");
  });

  await step("admin: no channel yet says what to do next; the dashboard's labels fit", async () => {
    const admin = await open("admin", { locale: "en-US", email: args["admin-email"], password: args["admin-password"], waitFor: ".side-nav" });
    report.adminEmpty = await until(admin, "the empty sidebar", () => {
      const side = document.querySelector(".sidebar .no-channels");
      const home = document.querySelector(".main .no-channels");
      return side && home ? { side: [...side.querySelectorAll("[data-action]")].map((el) => el.dataset.action),
        home: [...home.querySelectorAll("[data-action]")].map((el) => el.dataset.action), text: side.textContent } : null;
    });
    await shot(admin, "shell-empty-admin-en");
    const chartLabels = async () => {
      await admin.page.evaluate(() => { location.hash = "#/"; });
      await admin.page.evaluate(() => { location.hash = "#/dashboard"; });
      await admin.page.waitForSelector("svg.chart text");
      return admin.page.evaluate(() => [...document.querySelectorAll("svg.chart")].map((svg) => {
        const frame = svg.getBoundingClientRect();
        const texts = [...svg.querySelectorAll("text")];
        return { labels: texts.length, inside: texts.every((tx) => {
          const r = tx.getBoundingClientRect();
          return r.left >= frame.left - 0.5 && r.right <= frame.right + 0.5 && r.bottom <= frame.bottom + 0.5;
        }), fontPx: Math.round(texts[0].getBoundingClientRect().height) };
      }));
    };
    report.chartsDesktop = await chartLabels();
    await shot(admin, "shell-dashboard-en");
    await admin.page.setViewportSize(PHONE);
    report.chartsPhone = await chartLabels();
    await shot(admin, "shell-dashboard-phone-en");
  });

  report.pageErrors = Object.values(report.logs).flat()
    .filter((line) => /^pageerror:/.test(line));
});
