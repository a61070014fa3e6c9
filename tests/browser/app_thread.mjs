// Threads in a panel beside the channel (issue 23), as two people use them: Ann in English and
// 李娜 in Simplified Chinese, each in a headless Chromium signed in through the app's form. 李娜
// answers Ann's message in its thread: Ann sees "1 reply · new" under it live and not the reply
// in the list, opens the thread and reads it there; a reply also sent to the channel shows in
// both; the "new" mark comes with each unseen reply and goes once the thread is read (and stays
// gone after a reload); Esc and ✕ close the panel and give the focus back; on a phone the panel
// covers the channel; axe-core finds no serious or critical fault with the panel open, on a
// desktop in both languages and on a phone. Screenshots (thread-*.png) go to --out. Prints one JSON line: what was
// seen, and any failure.
//
//   node app_thread.mjs --parley http://127.0.0.1:PORT --channel 1 --email-a a@x --email-b b@x
//                       --password PW --out DIR [--seconds 150]

import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 150 });
const { report, remaining, until, step, shot } = run;
report.axe = {};
/** The channel's own list, not the thread panel beside it. */
const list = ".chat-host > .chat";
const panel = ".thread-panel";
const box = `${list} .composer-input`;
const panelBox = `${panel} .composer-input`;

const open = async (name, locale, email, options = {}) =>
  run.signIn(await run.person(name, { locale, ...options }), email, args.password, channel);

async function goTo(who, id) {
  await who.page.click(`.channel-link[data-channel="${id}"]`);
  await who.page.waitForFunction((c) => location.hash === `#/c/${c}` && document.querySelector(".chat-host > .chat .composer-input"), id, { timeout: remaining() });
}

/** What the root message shows of its thread on `who`'s page (null while it shows none). */
const threadLink = (who, root) => who.page.evaluate(({ root, list }) => {
  const m = document.querySelector(`${list} .message[data-id="${root}"]`);
  const link = m && m.querySelector(".thread-link");
  return link ? {
    count: link.querySelector(".thread-count").textContent,
    last: Boolean(link.querySelector(".thread-last")),
    isNew: Boolean(link.querySelector(".thread-new")),
    label: link.getAttribute("aria-label"),
    marked: m.classList.contains("thread-unread"),
  } : null;
}, { root, list });

/** The texts of the messages in the channel's list, or in the open thread. */
const texts = (who, where) => who.page.$$eval(`${where} .message .message-body`, (els) => els.map((e) => e.textContent));

/** Facts about the open panel and where the focus is. */
const panelFacts = (who) => who.page.evaluate(() => {
  const p = document.querySelector(".thread-panel");
  if (!p) return null;
  const r = p.getBoundingClientRect();
  return {
    role: p.getAttribute("role"), label: p.getAttribute("aria-label"),
    focusInBox: document.activeElement === p.querySelector(".composer-input"),
    left: Math.round(r.left), width: Math.round(r.width), innerWidth: window.innerWidth,
    noSideScroll: document.scrollingElement.scrollWidth <= window.innerWidth,
    heading: p.querySelector("h2").textContent,
    also: p.querySelector(".also-channel").textContent,
  };
});

await run.finish(async () => {
  const a = await open("a", "en-US", args["email-a"]);
  const b = await open("b", "zh-CN", args["email-b"]);
  await goTo(a, channel);
  await goTo(b, channel);
  let root;

  await step("Ann posts; 李娜 opens its thread from the message's action", async () => {
    await a.page.fill(box, "Release plan for Friday / 周五发布计划");
    await a.page.press(box, "Enter");
    root = await until(b, "Ann's message", () => {
      const m = [...document.querySelectorAll(".chat-host > .chat .message")].find((e) => e.textContent.includes("Release plan for Friday"));
      return m ? Number(m.dataset.id) : null;
    });
    const msg = b.page.locator(`${list} .message[data-id="${root}"]`);
    await msg.hover();
    report.actionLabel = await msg.locator('[data-thread-open="action"]').getAttribute("aria-label");
    await msg.locator('[data-thread-open="action"]').click();
    await b.page.waitForSelector(`${panel} .message[data-id="${root}"]`, { timeout: remaining() });
    report.panelZh = await until(b, "the focus in the thread's box", () => document.activeElement?.closest(".thread-panel") && document.activeElement.classList.contains("composer-input"))
      && await panelFacts(b);
    await shot(b, "thread-open-zh-CN");
    await run.axe(b, "thread");
  });

  await step("李娜 replies in the thread only: Ann sees 1 reply, new, and no message in the list", async () => {
    await b.page.fill(panelBox, "我来准备发布说明 (thread only)");
    await b.page.press(panelBox, "Enter");
    await b.page.waitForFunction(() => [...document.querySelectorAll(".thread-panel .message-body")].some((e) => e.textContent.includes("thread only")), null, { timeout: remaining() });
    report.firstReply = await until(a, "1 reply under the message", (root) => {
      const link = document.querySelector(`.chat-host > .chat .message[data-id="${root}"] .thread-count`);
      return link && link.textContent !== "" ? link.textContent : null;
    }, root);
    report.afterFirst = await threadLink(a, root);
    report.listAfterFirst = await texts(a, list);
    report.listOnLi = await texts(b, list);
    await shot(a, "thread-new-en");
  });

  await step("Ann opens the thread: the reply is there and the mark goes; Esc gives the focus back", async () => {
    await a.page.click(`${list} .message[data-id="${root}"] .thread-link`);
    await a.page.waitForFunction(() => [...document.querySelectorAll(".thread-panel .message-body")].some((e) => e.textContent.includes("thread only")), null, { timeout: remaining() });
    report.threadOnAnn = await texts(a, panel);
    report.panelEn = await until(a, "the focus in the thread's box", () => document.activeElement?.closest(".thread-panel") && document.activeElement.classList.contains("composer-input"))
      && await panelFacts(a);
    report.openOnAnn = await until(a, "the mark gone", async (root) => {
      const link = document.querySelector(`.chat-host > .chat .message[data-id="${root}"] .thread-link`);
      return link && !link.querySelector(".thread-new") ? "gone" : null;
    }, root);
    await shot(a, "thread-panel-en");
    await run.axe(a, "thread");
    await a.page.keyboard.press("Escape");
    report.escClosed = await until(a, "the panel closed", () => !document.querySelector(".thread-panel"));
    report.focusBackEsc = await a.page.evaluate((root) => document.activeElement
      === document.querySelector(`.chat-host > .chat .message[data-id="${root}"] .thread-link`), root);
    report.afterRead = await threadLink(a, root);
  });

  await step("李娜 replies with Also send to channel: Ann sees it in the list and in the thread", async () => {
    await b.page.check(`${panel} .also-channel-toggle`);
    await b.page.fill(panelBox, "Also in channel: 发布说明已就绪");
    await b.page.press(panelBox, "Enter");
    const quoted = await until(a, "the reply in the list", () => {
      const m = [...document.querySelectorAll(".chat-host > .chat .message")].find((e) => e.querySelector(".message-body")?.textContent.includes("Also in channel"));
      return m ? m.querySelector(".reply-quote")?.textContent ?? "no quote" : null;
    });
    report.secondQuote = quoted;
    report.alsoUnticked = await b.page.evaluate(() => !document.querySelector(".thread-panel .also-channel-toggle").checked);
    report.afterSecond = await until(a, "2 replies", async (root) => {
      const link = document.querySelector(`.chat-host > .chat .message[data-id="${root}"] .thread-link`);
      return link && link.querySelector(".thread-count").textContent.startsWith("2") ? true : null;
    }, root) && await threadLink(a, root);
    report.listAfterSecond = await texts(a, list);
    await shot(a, "thread-second-en");
    await shot(b, "thread-panel-zh-CN");
    await a.page.click(`${list} .message[data-id="${root}"] .thread-link`);
    await a.page.waitForFunction(() => document.querySelectorAll(".thread-panel .message").length >= 3, null, { timeout: remaining() });
    report.threadAfterSecond = await texts(a, panel);
    report.readAgain = await until(a, "the mark gone again", (root) => {
      const link = document.querySelector(`.chat-host > .chat .message[data-id="${root}"] .thread-link`);
      return link && !link.querySelector(".thread-new") ? "gone" : null;
    }, root);
    await a.page.click(`${panel} .thread-close`);
    report.closeClosed = await until(a, "the panel closed", () => !document.querySelector(".thread-panel"));
    report.focusBackClose = await a.page.evaluate((root) => document.activeElement
      === document.querySelector(`.chat-host > .chat .message[data-id="${root}"] .thread-link`), root);
    // What was read is remembered: a reload shows no mark.
    await a.page.reload();
    await a.page.waitForSelector(`${list} .message[data-id="${root}"] .thread-link`, { timeout: remaining() });
    report.afterReload = await threadLink(a, root);
  });

  await step("accessibility: every control in the thread panel has a name", async () => {
    report.unnamed = await b.page.evaluate(() => [...document.querySelectorAll(
      ".thread-panel button, .thread-panel summary, .thread-panel a, .thread-panel textarea, .thread-panel input:not([type=file]), .chat .thread-link")]
      .filter((e) => !(e.getAttribute("aria-label") || e.textContent.trim() || e.labels?.length))
      .map((e) => e.outerHTML.slice(0, 120)));
  });

  await step("phone: the panel covers the channel, with a working close button", async () => {
    const phone = await run.person("phone", { locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await run.signIn(phone, args["email-b"], args.password, channel);
    await goTo(phone, channel);
    await phone.page.waitForSelector(`${list} .message[data-id="${root}"] .thread-link`, { timeout: remaining() });
    report.phoneLink = await threadLink(phone, root);
    await phone.page.tap(`${list} .message[data-id="${root}"] .thread-link`);
    await phone.page.waitForFunction(() => document.querySelectorAll(".thread-panel .message").length >= 3, null, { timeout: remaining() });
    report.phonePanel = await panelFacts(phone);
    report.phoneCloseVisible = await phone.page.evaluate(() => {
      const r = document.querySelector(".thread-panel .thread-close").getBoundingClientRect();
      return r.width > 0 && r.right <= window.innerWidth && r.top >= 0;
    });
    await shot(phone, "thread-phone-zh-CN");
    await run.axe(phone, "thread");
    await phone.page.tap(`${panel} .thread-close`);
    report.phoneClosed = await until(phone, "the panel closed", () => !document.querySelector(".thread-panel")
      && document.scrollingElement.scrollWidth <= window.innerWidth);
    await phone.context.close();
  });

  report.pageErrors = Object.values(report.logs).flat().filter((l) => l.startsWith("pageerror"));
});
