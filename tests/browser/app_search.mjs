// The search box in the web app, as Bob (Chinese) uses it after Wang sent a budget report, a
// lunch question and sixty progress notes to their channel: "/" takes the keyboard to the box
// (Ctrl+K opens the channel switcher); "预算" typed there is searched once, when he stops typing, and an answer to what he
// typed before it ("午饭", held back by the network until then) does not replace it; the result
// names the channel, the sender and the time, with 预算 marked. Enter on it opens the channel at
// that message, far above the newest, lit up in view; scrolling down loads the newer ones.
// "进度" pages with "more"; a query matching nothing says so; "type:song" shows the server's
// reason. "交货期限", a word inside a text file Bob keeps in his library, finds the file: its
// name, the library, Bob and the time, with the word marked; Enter on it opens his folder with
// the file's row lit up. "发票", in the title of a task Bob gave himself, finds the task: its
// title, "task", Bob and the time, with the word marked; Enter on it opens "My tasks" with the
// task's row lit up. On a phone-sized screen the results (a file's and a task's too) fit and a
// tap opens the message, and the search button in the channel's header brings the box back.
// Prints one JSON line.
//
//   node app_search.mjs --parley http://127.0.0.1:PORT --channel 1 --email EMAIL --password PW
//                       --out DIR [--seconds 120]

import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 120 });
const { report, remaining, until, step, shot } = run;
const input = "#search-input";
const view = ".channel-view";
/** In the text of the file in Bob's library, and nowhere in the channel. */
const fileWord = "交货期限";
/** In the title of Bob's task, and nowhere else. */
const taskWord = "发票";

/** The results as shown: status line, and each result's parts. */
const results = (who) => who.page.evaluate(() => ({
  status: document.querySelector(".search-status").textContent,
  error: document.querySelector(".search-error").hidden ? null : document.querySelector(".search-error").textContent,
  items: [...document.querySelectorAll(".search-result")].map((a) => ({
    id: Number(a.dataset.id),
    seq: Number(a.dataset.seq),
    href: a.getAttribute("href"),
    channel: a.querySelector(".search-channel")?.textContent,
    sender: a.querySelector(".search-sender").textContent,
    time: a.querySelector("time").textContent,
    snippet: a.querySelector(".search-snippet").textContent,
    marks: [...a.querySelectorAll(".search-snippet mark")].map((m) => m.textContent),
  })),
}));

/** Wait until the results show `n` items whose snippets contain `text`. */
const resultsWith = (who, text, n) => until(who, `${n} results with ${text}`, ({ text, n }) => {
  const items = [...document.querySelectorAll(".search-result .search-snippet")];
  return items.length === n && items.every((s) => s.textContent.includes(text));
}, { text, n }).then(() => results(who));

/** Type a new query: everything in the box selected, then the keys one by one. */
async function typeQuery(who, text) {
  await who.page.focus(input);
  await who.page.keyboard.press("Control+A");
  await who.page.keyboard.type(text, { delay: 40 });
}

/** The message with `seq` in the open channel: its text, and whether it is within the scroller's view. */
const messageShown = (who, seq) => until(who, `message ${seq} in view`, ({ sel, seq }) => {
  const node = document.querySelector(`${sel} .message[data-seq="${seq}"]`);
  const scroller = document.querySelector(`${sel} .message-scroll`);
  if (!node || !scroller) return null;
  const r = node.getBoundingClientRect();
  const s = scroller.getBoundingClientRect();
  if (r.top < s.top || r.bottom > s.bottom || r.height === 0) return null;
  return { body: node.querySelector(".message-body").textContent, focused: document.activeElement === node };
}, { sel: view, seq });

/** Record, from now on, every message (by seq), library file and task (by id) lit up as a search result's target. */
const watchFound = (who) => who.page.evaluate(() => {
  window.foundSeqs = [];
  window.foundFiles = [];
  window.foundTasks = [];
  if (window.foundWatch) window.foundWatch.disconnect();
  window.foundWatch = new MutationObserver((records) => {
    for (const r of records) {
      if (!r.target.classList.contains("found")) continue;
      if (r.target.dataset.file) window.foundFiles.push(Number(r.target.dataset.file));
      else if (r.target.dataset.task) window.foundTasks.push(Number(r.target.dataset.task));
      else window.foundSeqs.push(Number(r.target.dataset.seq));
    }
  });
  window.foundWatch.observe(document.body, { subtree: true, attributes: true, attributeFilter: ["class"] });
});

/** The file result on show, once there is one: its parts, as for a message. */
const fileResult = (who) => until(who, "a file result", () => {
  const a = document.querySelector(".search-result.search-file");
  return a ? {
    status: document.querySelector(".search-status").textContent,
    count: document.querySelectorAll(".search-result").length,
    id: Number(a.dataset.id),
    folder: Number(a.dataset.folder),
    href: a.getAttribute("href"),
    icon: a.querySelector(".file-icon").dataset.ext,
    title: a.querySelector(".search-title").textContent,
    place: a.querySelector(".search-folder").textContent,
    sender: a.querySelector(".search-sender").textContent,
    time: a.querySelector("time").textContent,
    snippet: a.querySelector(".search-snippet").textContent,
    marks: [...a.querySelectorAll(".search-snippet mark")].map((m) => m.textContent),
  } : null;
});

/** The task result on show, once there is one: its parts. */
const taskResult = (who) => until(who, "a task result", () => {
  const a = document.querySelector(".search-result.search-task");
  return a ? {
    status: document.querySelector(".search-status").textContent,
    count: document.querySelectorAll(".search-result").length,
    id: Number(a.dataset.id),
    href: a.getAttribute("href"),
    icon: a.querySelector(".search-kind-icon").dataset.kind,
    title: a.querySelector(".search-title").textContent,
    place: a.querySelector(".search-place").textContent,
    sender: a.querySelector(".search-sender").textContent,
    time: a.querySelector("time").textContent,
    snippet: a.querySelector(".search-snippet").textContent,
    marks: [...a.querySelectorAll(".search-snippet mark")].map((m) => m.textContent),
  } : null;
});

await run.finish(async () => {
  // In China: the searches carry the clock's 480 minutes ahead of UTC.
  const bob = await run.signIn(await run.person("bob", { locale: "zh-CN", timezoneId: "Asia/Shanghai" }),
    args.email, args.password, channel);

  report.translations = await bob.page.evaluate(async () => {
    const i18n = await import("/app/i18n.js");
    const unknown = [];
    for (const file of ["search.js", "chat.js", "app.js", "library.js", "minutes.js"]) {
      const code = await (await fetch(`/app/${file}`)).text();
      for (const [, key] of code.matchAll(/\bt\("([\w.]+)"/g)) {
        if (i18n.t(key) === key) unknown.push(`${file}: ${key}`);
      }
    }
    return { missing: i18n.missingKeys(), unknown };
  });
  report.field = await bob.page.evaluate((sel) => {
    const el = document.querySelector(sel);
    return { label: el.getAttribute("aria-label"), landmark: el.closest("[role=search]") !== null,
      help: document.getElementById(el.getAttribute("aria-describedby")).textContent,
      examples: [...document.querySelectorAll(".search-tips dt")].map((dt) => dt.textContent) };
  }, input);

  await step("keys: / takes the keyboard to the search box (Ctrl+K opens the channel switcher)", async () => {
    const focused = () => bob.page.evaluate((sel) => document.activeElement === document.querySelector(sel), input);
    await bob.page.evaluate(() => document.activeElement && document.activeElement.blur());
    await bob.page.keyboard.press("/");
    const slash = await focused();
    await bob.page.keyboard.press("Escape");
    await bob.page.keyboard.press("Escape");
    const left = !(await focused());
    await bob.page.keyboard.press("Control+K");
    const switcher = await bob.page.evaluate(() => document.activeElement?.id === "switcher-input");
    await bob.page.keyboard.press("Escape");
    await bob.page.keyboard.press("/");
    report.keys = { slash, left, ctrlK: switcher && await focused(), value: await bob.page.inputValue(input) };
  });

  await step("typing: one search when Bob stops, and an older answer arriving late is dropped", async () => {
    // Every search the page sends, and each answer once the page has read it.
    const sent = [];
    bob.page.on("request", (r) => {
      if (r.url().includes("/v1/search?")) sent.push(Object.fromEntries(new URL(r.url()).searchParams));
    });
    await bob.page.evaluate(() => {
      window.searchAnswers = [];
      const json = Response.prototype.json;
      Response.prototype.json = async function () {
        const value = await json.call(this);
        if (this.url.includes("/v1/search?")) window.searchAnswers.push(new URL(this.url).searchParams.get("q"));
        return value;
      };
    });
    let release;
    const released = new Promise((resolve) => (release = resolve));
    let held = false;
    await bob.page.route("**/v1/search?**", async (route) => {
      if (new URL(route.request().url()).searchParams.get("q") === "午饭") {
        held = true;
        await released;
      }
      await route.continue().catch(() => {});
    });
    await typeQuery(bob, "午饭");
    await run.poll("the lunch search held", async () => held);
    await typeQuery(bob, "预算");
    report.first = await resultsWith(bob, "预算", 1);
    release();
    await until(bob, "the late answer read", () => window.searchAnswers.includes("午饭"));
    report.afterLate = await results(bob);
    report.sent = sent.map((p) => p.q);
    report.params = sent[sent.length - 1];
    await bob.page.unroute("**/v1/search?**");
    await shot(bob, "search-results-zh-CN");
  });

  await step("open: Enter on the result opens the channel at the message, lit up in view", async () => {
    await watchFound(bob);
    const seq = report.first.items[0].seq;
    await bob.page.focus(input);
    await bob.page.keyboard.press("ArrowDown");
    report.resultFocused = await bob.page.evaluate(() => document.activeElement.classList.contains("search-result"));
    await bob.page.keyboard.press("Enter");
    report.opened = await messageShown(bob, seq);
    report.opened.hash = await bob.page.evaluate(() => location.hash);
    report.opened.panelHidden = await bob.page.evaluate(() => document.querySelector(".search-panel").hidden);
    report.opened.found = await bob.page.evaluate(() => window.foundSeqs);
    report.opened.newer = await bob.page.evaluate((sel) =>
      [...document.querySelectorAll(`${sel} .messages > .muted`)].map((e) => e.textContent), view);
    await shot(bob, "search-opened-zh-CN");
  });

  await step("newer: scrolling down from there loads up to the newest message", async () => {
    await bob.page.evaluate((sel) => {
      const s = document.querySelector(`${sel} .message-scroll`);
      s.scrollTop = s.scrollHeight;
    }, view);
    report.newest = await until(bob, "the newest note", (sel) => {
      const bodies = [...document.querySelectorAll(`${sel} .message .message-body`)].map((b) => b.textContent);
      return bodies.at(-1) === "进度更新 第60条" ? { count: bodies.length,
        markers: [...document.querySelectorAll(`${sel} .messages > .muted`)].map((e) => e.textContent) } : null;
    }, view);
  });

  await step("more: a second page comes below the first, the keyboard on its first result", async () => {
    await bob.page.keyboard.press("/");
    await typeQuery(bob, "进度");
    const first = await resultsWith(bob, "进度", 20);
    await bob.page.click(".search-more");
    const second = await resultsWith(bob, "进度", 40);
    report.paging = {
      status: second.status,
      first: first.items.length,
      second: second.items.length,
      distinct: new Set(second.items.map((i) => i.id)).size,
      focusedIsNew: await bob.page.evaluate((id) => document.activeElement.dataset.id === String(id), second.items[20].id),
      more: await bob.page.textContent(".search-more"),
    };
  });

  await step("nothing and wrong: an empty result, then the server's reason for a bad query", async () => {
    await typeQuery(bob, "zebra");
    report.none = await until(bob, "nothing found", () => {
      const status = document.querySelector(".search-status").textContent;
      return status.includes("zebra") && !document.querySelector(".search-result") ? status : null;
    });
    await typeQuery(bob, "type:song");
    report.invalid = await until(bob, "the query's error", () => {
      const error = document.querySelector(".search-error");
      return !error.hidden && error.textContent ? { text: error.textContent, role: error.getAttribute("role"),
        results: document.querySelectorAll(".search-result").length } : null;
    });
    await shot(bob, "search-invalid-zh-CN");
  });

  await step("file: a word in a library file finds it; Enter opens its folder, the row lit up", async () => {
    await typeQuery(bob, fileWord);
    report.file = await fileResult(bob);
    await shot(bob, "search-file-zh-CN");
    await watchFound(bob);
    await bob.page.focus(input);
    await bob.page.keyboard.press("ArrowDown");
    await bob.page.keyboard.press("Enter");
    report.fileOpened = await until(bob, "the file's row lit up", (id) => {
      const row = document.querySelector(`.library .lib-row[data-file="${id}"]`);
      if (!row || !window.foundFiles.includes(id)) return null;
      const r = row.getBoundingClientRect();
      return { hash: location.hash, name: row.dataset.name, found: window.foundFiles,
        focused: row.contains(document.activeElement), inView: r.top >= 0 && r.bottom <= window.innerHeight,
        panelHidden: document.querySelector(".search-panel").hidden };
    }, report.file.id);
    await shot(bob, "search-file-opened-zh-CN");
  });

  await step("task: a word in a task's title finds it; Enter opens My tasks, the row lit up", async () => {
    await typeQuery(bob, taskWord);
    report.task = await taskResult(bob);
    await shot(bob, "search-task-zh-CN");
    await watchFound(bob);
    await bob.page.keyboard.press("ArrowDown");
    await bob.page.keyboard.press("Enter");
    report.taskOpened = await until(bob, "the task's row lit up", (id) => {
      const row = document.querySelector(`.tasks .task[data-task="${id}"]`);
      if (!row || !window.foundTasks.includes(id)) return null;
      const r = row.getBoundingClientRect();
      return { hash: location.hash, title: row.querySelector("strong").textContent, found: window.foundTasks,
        focused: row === document.activeElement, inView: r.top >= 0 && r.bottom <= window.innerHeight,
        noteHidden: document.querySelector(".tasks-note").hidden,
        panelHidden: document.querySelector(".search-panel").hidden };
    }, report.task.id);
    await shot(bob, "search-task-opened-zh-CN");
  });

  await step("phone: the results fit, a tap opens the message, the header's button comes back", async () => {
    const phone = await run.person("phone", { locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await run.signIn(phone, args.email, args.password, channel);
    const fits = () => phone.page.evaluate(() => {
      const panel = document.querySelector(".search-panel").getBoundingClientRect();
      return panel.left >= 0 && panel.right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth;
    });
    await phone.page.fill(input, fileWord);
    await fileResult(phone);
    report.phoneFileFits = await fits();
    await shot(phone, "phone-search-file");
    await phone.page.fill(input, taskWord);
    await taskResult(phone);
    report.phoneTaskFits = await fits();
    await phone.page.fill(input, "预算");
    const found = await resultsWith(phone, "预算", 1);
    report.phoneFits = await fits();
    await shot(phone, "phone-search");
    await watchFound(phone);
    await phone.page.tap(".search-result");
    report.phoneOpened = await messageShown(phone, found.items[0].seq);
    report.phoneOpened.found = await phone.page.evaluate(() => window.foundSeqs);
    await shot(phone, "phone-search-opened");
    await phone.page.tap(`${view} .search-open`);
    report.phoneBack = await until(phone, "the search box focused", (sel) => {
      const el = document.querySelector(sel);
      return document.activeElement === el && el.offsetParent ? { hash: location.hash, value: el.value } : null;
    }, input);
  });

  report.pageErrors = Object.values(report.logs).flat()
    .filter((line) => /^(error|pageerror):/.test(line) && !line.includes("Failed to load resource"));
});
