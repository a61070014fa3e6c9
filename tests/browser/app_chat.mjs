// The message view and its composer as two people use them all day: Ann in English, 李娜 in
// Simplified Chinese, each in a headless Chromium signed in through the app's form. A run of
// messages reads as one group under a "Today" line; Markdown shows formatted on the other
// page; the "New messages" line waits where 李娜 left off, with buttons to it and back to the
// present; @ completes a member's name and the message mentions her; the emoji picker puts an
// emoji at the caret and adds any reaction; a draft waits in its channel; Up edits the last
// message; a recall asks in the app's own dialog; and the channel fits a phone. Screenshots
// (chat-*.png) go to --out. Prints one JSON line: what was seen, and any failure.
//
//   node app_chat.mjs --parley http://127.0.0.1:PORT --channel 1 --other 2 --email-a a@x
//                     --email-b b@x --password PW --out DIR [--seconds 150]

import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const other = Number(args.other);
const run = await startRun(args, { seconds: 150 });
const { report, remaining, until, step, shot } = run;
const view = ".channel-view";
const box = `${view} .composer-input`;

const open = async (name, locale, email, options = {}) =>
  run.signIn(await run.person(name, { locale, ...options }), email, args.password, channel);

/** Open a channel from the sidebar and wait for its composer. */
async function goTo(who, id) {
  await who.page.click(`.channel-link[data-channel="${id}"]`);
  await who.page.waitForFunction((c) => location.hash === `#/c/${c}` && document.querySelector(".channel-view .composer-input"), id, { timeout: remaining() });
}

async function send(who, text) {
  await who.page.fill(box, text);
  await who.page.press(box, "Enter");
}

/** Wait until the message whose text includes `text` shows on `who`'s page; its facts. */
const seen = (who, text) => until(who, `the message "${text}"`, (t) => {
  const m = [...document.querySelectorAll(".channel-view .message")].find((e) => e.querySelector(".message-body")?.textContent.includes(t));
  return m ? { id: Number(m.dataset.id), seq: Number(m.dataset.seq) } : null;
}, text);

/** The message element with `id` on the page, hovered so that its actions show. */
const message = (who, id) => who.page.locator(`${view} .message[data-id="${id}"]`);

await run.finish(async () => {
  // Any browser confirm() would fail the run: the app asks in its own dialogs.
  report.browserDialogs = [];
  const a = await open("a", "en-US", args["email-a"]);
  const b = await open("b", "zh-CN", args["email-b"]);
  for (const who of [a, b]) who.page.on("dialog", (d) => {
    report.browserDialogs.push(`${who.name}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await goTo(a, channel);
  await goTo(b, channel);

  await step("grouping: two messages in a row are one group under today's line", async () => {
    await send(a, "First of two / 第一条");
    await send(a, "Second of two / 第二条");
    const second = await seen(b, "Second of two");
    const first = await seen(b, "First of two");
    report.grouping = await b.page.evaluate(({ first, second }) => {
      const one = document.querySelector(`.channel-view .message[data-id="${first}"]`);
      const two = document.querySelector(`.channel-view .message[data-id="${second}"]`);
      return {
        firstName: one.querySelector(".message-head strong")?.textContent ?? null,
        firstAvatar: Boolean(one.querySelector(".avatar")),
        secondGrouped: two.classList.contains("grouped"),
        secondName: two.querySelector(".message-head strong")?.textContent ?? null,
        secondAvatar: Boolean(two.querySelector(".avatar")),
        secondTime: Boolean(two.querySelector("time.gutter-time")),
        days: [...document.querySelectorAll(".channel-view .day-line")].map((e) => e.textContent),
      };
    }, { first: first.id, second: second.id });
    report.daysEn = await a.page.$$eval(`${view} .day-line`, (els) => els.map((e) => e.textContent));
    await shot(a, "chat-grouped-en");
    await shot(b, "chat-grouped-zh-CN");
  });

  await step("markdown: bold, code and a link show formatted on the other page; HTML stays text", async () => {
    await send(a, "Ship **today** with `cargo build` — see [the notes](https://example.com/notes)");
    await send(a, "<img src=x onerror=alert(1)> <b>not bold</b>");
    const md = await seen(b, "Ship today");
    const html = await seen(b, "not bold");
    report.markdown = await b.page.evaluate(({ md, html }) => {
      const one = document.querySelector(`.channel-view .message[data-id="${md}"] .message-body`);
      const link = one.querySelector("a");
      const raw = document.querySelector(`.channel-view .message[data-id="${html}"] .message-body`);
      return {
        strong: one.querySelector("strong")?.textContent ?? null,
        code: one.querySelector("code")?.textContent ?? null,
        link: link ? { text: link.textContent, href: link.href, target: link.target, rel: link.rel } : null,
        rawText: raw.textContent,
        rawElements: raw.querySelectorAll("img, b, script").length,
      };
    }, { md: md.id, html: html.id });
  });

  await step("toolbar: Bold wraps the selection, Preview shows it formatted", async () => {
    await a.page.fill(box, "important");
    await a.page.focus(box);
    await a.page.keyboard.press("Control+A");
    await a.page.click(`${view} [data-format="bold"]`);
    report.toolbarBold = await a.page.inputValue(box);
    await a.page.click(`${view} .preview-toggle`);
    report.preview = await a.page.evaluate(() => ({
      strong: document.querySelector(".channel-view .composer-preview strong")?.textContent ?? null,
      pressed: document.querySelector(".channel-view .preview-toggle").getAttribute("aria-pressed"),
      boxHidden: document.querySelector(".channel-view .composer-input").hidden,
    }));
    await shot(a, "chat-preview-en");
    await a.page.click(`${view} .preview-toggle`);
    await a.page.fill(box, "");
  });

  await step("new messages: the line waits where 李娜 left off, with jumps to it and back", async () => {
    await goTo(b, other);
    await send(a, "While you were away 1 / 你不在时");
    for (let i = 2; i <= 40; i++) await send(a, `While you were away ${i}`);
    await seen(a, "While you were away 40");
    await b.page.setViewportSize({ width: 1280, height: 560 });
    await goTo(b, channel);
    await seen(b, "While you were away 40");
    report.unread = await until(b, "the New messages line", () => {
      const line = document.querySelector(".channel-view .unread-line");
      const next = line && line.nextElementSibling;
      return line ? { text: line.textContent, next: next.querySelector(".message-body")?.textContent ?? null,
        nextGrouped: next.classList.contains("grouped") } : null;
    });
    await b.page.waitForSelector(`${view} .jump-unread:not([hidden])`, { timeout: remaining() });
    await shot(b, "chat-jump-unread-zh-CN");
    await b.page.click(`${view} .jump-unread`);
    report.lineInView = await until(b, "the line in view", () => {
      const line = document.querySelector(".channel-view .unread-line").getBoundingClientRect();
      const s = document.querySelector(".channel-view .message-scroll").getBoundingClientRect();
      return line.top >= s.top - 1 && line.bottom <= s.bottom;
    });
    await b.page.waitForSelector(`${view} .jump-present:not([hidden])`, { timeout: remaining() });
    report.jumpLabels = await b.page.evaluate(() => ({
      unread: document.querySelector(".channel-view .jump-unread").textContent,
      present: document.querySelector(".channel-view .jump-present").textContent,
    }));
    await shot(b, "chat-unread-zh-CN");
    await b.page.click(`${view} .jump-present`);
    report.backAtEnd = await until(b, "back at the newest", () => {
      const s = document.querySelector(".channel-view .message-scroll");
      return s.scrollHeight - s.scrollTop - s.clientHeight < 40
        && document.querySelector(".channel-view .jump-present").hidden;
    });
    await b.page.setViewportSize({ width: 1280, height: 800 });
  });

  await step("mentions: @ and the start of a name offers the member; the message mentions her", async () => {
    // A Chinese name is offered too, and Esc closes the list.
    await a.page.focus(box);
    await a.page.keyboard.type("@李");
    report.offeredToAnn = await until(a, "李娜 offered", () => {
      const list = document.querySelector(".channel-view .mention-list");
      return list && !list.hidden ? [...list.querySelectorAll(".mention-option .mention-name")].map((o) => o.textContent) : null;
    });
    await a.page.keyboard.press("Escape");
    report.escClosed = await a.page.evaluate(() => document.querySelector(".channel-view .mention-list").hidden);
    await a.page.fill(box, "");

    await b.page.focus(box);
    await b.page.keyboard.type("请 @an");
    report.offeredToLi = await until(b, "Ann offered", () => {
      const list = document.querySelector(".channel-view .mention-list");
      return list && !list.hidden ? [...list.querySelectorAll(".mention-option .mention-name")].map((o) => o.textContent) : null;
    });
    await shot(b, "chat-mention-list-zh-CN");
    await b.page.keyboard.press("Enter");
    report.afterPick = await b.page.inputValue(box);
    await b.page.keyboard.type("看一下发布说明");
    report.mentionBody = await b.page.inputValue(box);
    await b.page.keyboard.press("Enter");
    const sent = await seen(a, "看一下发布说明");
    report.mentionOnAnnsPage = await a.page.evaluate((id) => {
      const m = document.querySelector(`.channel-view .message[data-id="${id}"]`);
      return { mentionsMe: m.classList.contains("mentions-me"),
        highlighted: [...m.querySelectorAll(".mention.mention-me")].map((e) => e.textContent) };
    }, sent.id);
    report.mentionMessage = sent.id;
    await shot(a, "chat-mention-en");
  });

  await step("emoji: the picker puts an emoji at the caret; any emoji is a reaction", async () => {
    await a.page.fill(box, "Launch  today");
    await a.page.evaluate(() => document.querySelector(".channel-view .composer-input").setSelectionRange(7, 7));
    await a.page.click(`${view} .emoji-open`);
    await a.page.waitForSelector(".dialog .emoji-search", { timeout: remaining() });
    report.emojiCount = await a.page.$$eval(".dialog .emoji-cell", (els) => els.length);
    await a.page.fill(".dialog .emoji-search", "rocket");
    await a.page.waitForSelector('.dialog .emoji-cell[data-emoji="🚀"]', { timeout: remaining() });
    await shot(a, "chat-emoji-picker-en");
    await a.page.click('.dialog .emoji-cell[data-emoji="🚀"]');
    await until(a, "the picker closed", () => !document.querySelector(".dialog"));
    report.emojiInserted = await a.page.inputValue(box);
    await a.page.press(box, "Enter");
    const launch = await seen(b, "Launch 🚀 today");
    const msg = message(b, launch.id);
    await msg.hover();
    await msg.locator(".react-menu summary").click();
    await msg.locator(".react-more").click();
    await b.page.waitForSelector('.dialog .emoji-cell[data-emoji="🦄"]', { timeout: remaining() });
    await shot(b, "chat-emoji-picker-zh-CN");
    await b.page.click('.dialog .emoji-cell[data-emoji="🦄"]');
    report.reaction = await until(a, "the 🦄 reaction", (id) => {
      const r = [...document.querySelectorAll(`.channel-view .message[data-id="${id}"] .reaction`)].find((e) => e.textContent.includes("🦄"));
      return r ? r.textContent : null;
    }, launch.id);
  });

  await step("draft: what 李娜 had begun waits in its channel, and goes when sent", async () => {
    await b.page.fill(box, "half-written 草稿");
    await goTo(b, other);
    report.draftElsewhere = await b.page.inputValue(box);
    await goTo(b, channel);
    report.draftBack = await b.page.inputValue(box);
    await b.page.press(box, "Enter");
    await seen(a, "half-written 草稿");
    await goTo(b, other);
    await goTo(b, channel);
    report.draftAfterSend = await b.page.inputValue(box);
  });

  await step("edit: Up in the empty box edits the last message; Esc cancels", async () => {
    await a.page.fill(box, "");
    await a.page.press(box, "ArrowUp");
    report.upEdits = await a.page.evaluate(() => ({
      value: document.querySelector(".channel-view .composer-input").value,
      context: document.querySelector(".channel-view .composer-context").textContent,
    }));
    await a.page.press(box, "Escape");
    report.escCancels = await a.page.evaluate(() => ({
      value: document.querySelector(".channel-view .composer-input").value,
      contextHidden: document.querySelector(".channel-view .composer-context").hidden,
    }));
    await a.page.press(box, "ArrowUp");
    await a.page.fill(box, "Launch 🚀 tomorrow");
    await a.page.press(box, "Enter");
    await seen(b, "Launch 🚀 tomorrow");
  });

  await step("recall: asked in the app's dialog, then gone for the other person", async () => {
    await send(a, "Wrong channel, sorry");
    const wrong = await seen(b, "Wrong channel");
    const msg = message(a, wrong.id);
    await msg.hover();
    await msg.locator('.message-actions button[aria-label="Recall"]').click();
    await a.page.waitForSelector(".dialog .confirm-ok", { timeout: remaining() });
    report.recallDialog = await a.page.evaluate(() => document.querySelector(".dialog").textContent);
    await shot(a, "chat-recall-confirm-en");
    await a.page.click(".dialog .confirm-ok");
    report.recalled = await until(b, "the message recalled", (id) =>
      document.querySelector(`.channel-view .message[data-id="${id}"] .message-body.recalled`)?.textContent, wrong.id);
  });

  await step("accessibility: every control in the chat has a name", async () => {
    report.unnamed = await b.page.evaluate(() => [...document.querySelectorAll(
      ".chat button, .chat summary, .chat a, .chat textarea, .chat input:not([type=file])")]
      .filter((e) => !(e.getAttribute("aria-label") || e.textContent.trim() || e.labels?.length))
      .map((e) => e.outerHTML.slice(0, 120)));
  });

  await step("phone: the channel fits a phone-sized screen, the picker too", async () => {
    const phone = await run.person("phone", { locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await run.signIn(phone, args["email-b"], args.password, channel);
    await goTo(phone, channel);
    await seen(phone, "Launch 🚀 tomorrow");
    report.phoneFits = await phone.page.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth);
    await shot(phone, "chat-phone-zh-CN");
    await phone.page.click(`${view} .emoji-open`);
    await phone.page.waitForSelector(".dialog .emoji-cell", { timeout: remaining() });
    report.phonePickerFits = await phone.page.evaluate(() =>
      document.querySelector(".dialog").getBoundingClientRect().right <= window.innerWidth
      && document.scrollingElement.scrollWidth <= window.innerWidth);
    await shot(phone, "chat-phone-emoji-zh-CN");
    await phone.context.close();
  });

  report.pageErrors = Object.values(report.logs).flat().filter((l) => l.startsWith("pageerror"));
});
