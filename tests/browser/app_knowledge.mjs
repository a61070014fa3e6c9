// The knowledge base in the web app. Li Lei (Chinese) opens the topic space an admin made,
// writes an article in Chinese whose live preview shows the heading and the bold words as he
// types them, uploads an image from the editor as the article's attachment and puts it in the
// text (the preview shows it decoded), saves it and submits it for review. The admin (English), on a page of her own,
// finds it in the space's review queue (its count on the space's card and tab) and publishes it
// with a word for him; Li Lei's page, told by the notification, shows it published, rendered,
// with her word. Searching for a Chinese word of its text in the search box finds the article
// and opens it. Han Meimei, on a phone-sized screen, reads it with its image decoded (through
// the article: Li Lei's files are not hers to open) and downloads the attachment (saved to
// --downloads for the caller to compare), finds it helpful and comments, and Li Lei's page shows
// the comment as it comes. Li Lei edits the published article (a new
// draft version that readers do not see yet), and its history shows what changed, line by
// line; an edit made meanwhile by the admin turns his next save into a clear conflict rather
// than an overwrite. On a phone-sized screen the editor shows the text or the preview, a tab
// each; and the minutes of a meeting Li Lei attended become a draft in the space from the
// meeting's page, to which he adds the image from his files with the library picker. Prints
// one JSON line.
//
//   node app_knowledge.mjs --parley http://127.0.0.1:PORT --space 1 --email-writer EMAIL
//        --email-reader EMAIL --password PW --admin-email EMAIL --admin-password PW
//        --png FILE --downloads DIR --meeting ID --out DIR

import path from "node:path";
import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const space = Number(args.space);
const run = await startRun(args, { seconds: 170 });
const { report, until, step, shot } = run;

const title = "2 号线停机处理流程";
const heading = "## 停机原因";
const bodyRest = "\n\n设备**过热**导致停机，请检查冷却系统。\n\n- 检查风扇\n- 记录温度\n";
/** In the article's text only: what the search box looks for. */
const word = "过热";

/** Sign in through the form; resolves once the sidebar's sections are there. */
async function signIn(who, email, password) {
  await who.page.fill("#email", email);
  await who.page.fill("#password", password);
  await who.page.click("button[type=submit]");
  await who.page.waitForSelector('.side-nav a[href="#/kb"]', { timeout: run.remaining() });
  return who;
}

/** The article page as shown: status, version, the rendered parts of its Markdown. */
const articleShown = (who, id, status) => until(who, `article ${id} ${status}`, ({ id, status }) => {
  const page = document.querySelector(`.kb-article-page[data-article="${id}"]`);
  const md = page && page.querySelector(".kb-article-body .md");
  if (!md || page.dataset.status !== status) return null;
  return {
    hash: location.hash,
    title: page.querySelector(".view-header h1").textContent,
    status: page.querySelector(".view-header .kb-status").textContent,
    version: page.dataset.version,
    headings: [...md.querySelectorAll("h2, h3")].map((e) => `${e.tagName}:${e.textContent}`),
    strong: [...md.querySelectorAll("strong")].map((e) => e.textContent),
    items: [...md.querySelectorAll("li")].map((e) => e.textContent),
    scope: page.querySelector(".kb-scope")?.textContent ?? null,
    tags: [...page.querySelectorAll(".kb-tags .kb-tag")].map((e) => e.textContent),
    review: page.querySelector(".kb-review p")?.textContent ?? null,
    actions: [...page.querySelectorAll(".kb-actions [data-action]")].map((e) => e.dataset.action),
  };
}, { id, status });

/** The page is no wider than the screen: nothing to scroll sideways. */
const fits = (who) => who.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

/** An image of the page once decoded: its size and the path it was read from. */
const decoded = (who, what, selector) => until(who, what, (selector) => {
  const img = document.querySelector(selector);
  return img && img.complete && img.naturalWidth > 0
    ? { size: [img.naturalWidth, img.naturalHeight], path: new URL(img.src).pathname, token: new URL(img.src).searchParams.has("access_token") }
    : null;
}, selector);

/** Download what clicking `selector` gives; its suggested name and where it was saved. */
async function download(who, selector, as) {
  const [file] = await Promise.all([
    who.page.waitForEvent("download", { timeout: run.remaining() }),
    who.page.click(selector),
  ]);
  const saved = path.join(args.downloads, as);
  await file.saveAs(saved);
  return { name: file.suggestedFilename(), saved };
}

await run.finish(async () => {
  const writer = await signIn(await run.person("writer", { locale: "zh-CN", timezoneId: "Asia/Shanghai" }),
    args["email-writer"], args.password);
  const admin = await signIn(await run.person("admin"), args["admin-email"], args["admin-password"]);

  report.translations = await writer.page.evaluate(async () => {
    const i18n = await import("/app/i18n.js");
    const unknown = [];
    for (const file of ["knowledge.js", "article.js", "markdown.js", "search.js", "app.js", "minutes.js"]) {
      const code = await (await fetch(`/app/${file}`)).text();
      for (const [, key] of code.matchAll(/\bt\("([\w.]+)"/g)) {
        if (i18n.t(key) === key) unknown.push(`${file}: ${key}`);
      }
    }
    return { missing: i18n.missingKeys(), unknown };
  });

  let id = null;
  await step("write: a new article from the space, its preview drawn while typing", async () => {
    await writer.page.click('.side-nav a[href="#/kb"]');
    await writer.page.waitForSelector(`.kb-space[data-space="${space}"]`, { timeout: run.remaining() });
    report.nav = await writer.page.textContent('.side-nav a[href="#/kb"]');
    await shot(writer, "kb-spaces-zh-CN");
    await writer.page.click(`.kb-space[data-space="${space}"]`);
    await writer.page.click('[data-action="new-article"]');
    await writer.page.waitForSelector("#article-template", { timeout: run.remaining() });
    report.templates = await writer.page.$$eval("#article-template option", (os) => os.map((o) => o.value));
    await writer.page.fill("#article-new-title", title);
    await writer.page.click('.dialog button[type="submit"]');
    await writer.page.waitForSelector("#article-body", { timeout: run.remaining() });
    id = Number(await writer.page.evaluate(() => location.hash.split("/")[2]));
    report.editorHash = await writer.page.evaluate(() => location.hash);
    await writer.page.fill("#article-scope", "生产部 夜班");
    await writer.page.fill("#article-tags", "设备，故障");
    await writer.page.focus("#article-body");
    await writer.page.keyboard.press("Control+A");
    await writer.page.keyboard.press("Delete");
    await writer.page.keyboard.type(heading, { delay: 20 });
    // The heading shows from its first letter; what is looked for is the whole of it.
    report.previewHeading = await until(writer, "the heading in the preview", () =>
      (document.querySelector("#article-preview h3")?.textContent === "停机原因" ? "停机原因" : null));
    await writer.page.keyboard.type(bodyRest, { delay: 20 });
    report.previewBold = await until(writer, "the bold words in the preview", () =>
      (document.querySelector("#article-preview strong")?.textContent === "过热" ? "过热" : null));
    report.sideBySide = await writer.page.evaluate(() => {
      const text = document.querySelector("#article-body").getBoundingClientRect();
      const preview = document.querySelector("#article-preview").getBoundingClientRect();
      return preview.left >= text.right && Math.abs(preview.top - text.top) < 40;
    });
  });

  let fileId = null;
  const pngName = path.basename(args.png);
  await step("attach: an image uploaded from the editor, put in the text, shown in the preview", async () => {
    await writer.page.setInputFiles("#article-upload", args.png);
    report.attached = await until(writer, "the upload attached", (name) => {
      const row = [...document.querySelectorAll(".kb-attachments .kb-file[data-file]")].find((r) => r.dataset.name === name);
      return row ? { file: row.dataset.file, name: row.dataset.name, count: document.querySelector(".kb-att-count").textContent } : null;
    }, pngName);
    fileId = Number(report.attached.file);
    await writer.page.click(`.kb-attachments .kb-file[data-file="${fileId}"] [data-action="insert"]`);
    report.inserted = (await writer.page.inputValue("#article-body")).split("\n").filter(Boolean).pop();
    report.previewImage = await decoded(writer, "the image in the preview", `#article-preview img[data-file="${fileId}"]`);
    await shot(writer, "kb-editor-zh-CN");
  });

  await step("save and submit: the draft read back rendered, then sent for review", async () => {
    await writer.page.click("#article-save");
    report.draft = await articleShown(writer, id, "draft");
    await writer.page.click('[data-action="submit"]');
    report.submitted = await articleShown(writer, id, "submitted");
  });

  await step("review: the admin finds it waiting in the space and publishes it", async () => {
    await admin.page.click('.side-nav a[href="#/kb"]');
    report.pendingCard = await until(admin, "the pending count on the space", (space) =>
      document.querySelector(`.kb-space[data-space="${space}"] .kb-pending`)?.textContent || null, space);
    await admin.page.click(`.kb-space[data-space="${space}"]`);
    await admin.page.click('.kb-tabs a[data-tab="review"]');
    report.queue = await until(admin, "the article in the review queue", (id) => {
      const row = document.querySelector(`.kb-article[data-article="${id}"]`);
      return row ? {
        tab: document.querySelector('.kb-tabs a[data-tab="review"]').textContent,
        title: row.querySelector(".kb-article-title").textContent,
        status: row.dataset.status,
        author: row.querySelector(".kb-author").textContent,
      } : null;
    }, id);
    await shot(admin, "kb-review-queue-en");
    await admin.page.click(`.kb-article[data-article="${id}"] .kb-article-title`);
    await admin.page.click('[data-action="publish"]');
    await admin.page.fill("#review-comment", "写得很好 Well written");
    await admin.page.click("#review-submit");
    report.adminPublished = await articleShown(admin, id, "published");
  });

  await step("published: the writer's page follows, rendered, with the admin's word", async () => {
    // The notice's toast stays a few seconds: both are watched for at once.
    [report.published, report.toast] = await Promise.all([
      articleShown(writer, id, "published"),
      until(writer, "the notification", (id) => {
        const link = document.querySelector(`.toast a.toast-link[data-article="${id}"]`);
        return link ? { href: link.getAttribute("href"), kind: link.dataset.kind, text: link.textContent } : null;
      }, id),
    ]);
    await shot(writer, "kb-article-zh-CN");
  });

  await step("search: a Chinese word of its text finds the article and opens it", async () => {
    await writer.page.click('.side-nav a[href="#/kb"]');
    await writer.page.fill("#search-input", word);
    // The index follows publication within moments: Enter asks again until it is there.
    const found = await run.poll("the article among the results", async () => {
      await writer.page.press("#search-input", "Enter");
      return writer.page.waitForSelector(`.search-result.search-article[data-id="${id}"]`, { timeout: 1000 });
    });
    report.result = await found.evaluate((a) => ({
      href: a.getAttribute("href"),
      title: a.querySelector(".search-title").textContent,
      place: a.querySelector(".search-place").textContent,
      marks: [...a.querySelectorAll(".search-snippet mark")].map((m) => m.textContent),
    }));
    await shot(writer, "kb-search-zh-CN");
    await found.click();
    report.opened = await articleShown(writer, id, "published");
  });

  await step("phone: a reader reads it, finds it helpful and comments; the author sees the comment", async () => {
    const reader = await signIn(await run.person("reader", { locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }),
      args["email-reader"], args.password);
    await reader.page.tap('.side-nav a[href="#/kb"]');
    await reader.page.tap(`.kb-space[data-space="${space}"]`);
    await reader.page.tap(`.kb-article[data-article="${id}"] .kb-article-title`);
    report.phoneArticle = await articleShown(reader, id, "published");
    report.phoneFits = await fits(reader);
    // The image in the text, and the attachment below it, through the article.
    const image = `.kb-article-body img[data-file="${fileId}"]`;
    await reader.page.locator(image).scrollIntoViewIfNeeded();
    report.readerImage = await decoded(reader, "the image for the reader", image);
    report.readerFiles = await reader.page.$$eval(".kb-files .kb-file", (rows) => rows.map((r) => ({
      file: Number(r.dataset.file), name: r.querySelector(".kb-file-name").textContent,
      thumb: Boolean(r.querySelector("img.kb-file-thumb")),
    })));
    report.readerDownload = await download(reader, `.kb-files .kb-file[data-file="${fileId}"] .kb-file-name`, "reader-attachment.png");
    await reader.page.tap('.kb-helpful [data-vote="yes"]');
    report.vote = await until(reader, "the vote counted", () => {
      const yes = document.querySelector('.kb-helpful [data-vote="yes"]');
      return yes.getAttribute("aria-pressed") === "true" ? yes.querySelector(".kb-vote-count").textContent : null;
    });
    await reader.page.fill("#kb-comment-body", "谢谢分享，很有用");
    await reader.page.tap("#kb-comment-add");
    await until(reader, "the comment listed", () => document.querySelector(".kb-comment p")?.textContent === "谢谢分享，很有用");
    await shot(reader, "phone-kb-article");
    report.commentSeen = await until(writer, "the comment on the author's page", () =>
      document.querySelector(".kb-comment p")?.textContent || null);
  });

  await step("history: an edit is a new draft; the diff shows its lines", async () => {
    await writer.page.click('[data-action="edit"]');
    await writer.page.waitForSelector("#article-body", { timeout: run.remaining() });
    const text = await writer.page.inputValue("#article-body");
    await writer.page.fill("#article-body", text.replace("请检查冷却系统。", "请检查冷却系统和风道。"));
    await writer.page.fill("#article-note", "补充风道");
    await writer.page.click("#article-save");
    report.edited = await articleShown(writer, id, "draft");
    report.editedNote = await writer.page.textContent(".kb-note");
    await writer.page.click('[data-action="history"]');
    await writer.page.click("#diff-compare");
    report.diff = await until(writer, "the diff", () => {
      const lines = [...document.querySelectorAll(".kb-diff-lines .diff-line")];
      return lines.length ? {
        versions: [...document.querySelectorAll(".kb-versions .version-row")].map((r) => Number(r.dataset.version)),
        added: lines.filter((l) => l.dataset.op === "added").map((l) => l.querySelector("ins").textContent),
        removed: lines.filter((l) => l.dataset.op === "removed").map((l) => l.querySelector("del").textContent),
        struck: getComputedStyle(document.querySelector(".diff-line[data-op=removed] del")).textDecorationLine,
      } : null;
    });
    await shot(writer, "kb-history-zh-CN");
  });

  await step("conflict: a save on top of a version someone replaced meanwhile is refused, clearly", async () => {
    await writer.page.click('[data-action="edit"]');
    await writer.page.waitForSelector("#article-body", { timeout: run.remaining() });
    // The admin saves a version of her own meanwhile, with her session from her page.
    report.adminEdit = await admin.page.evaluate(async (id) => {
      const { access_token: token } = JSON.parse(localStorage.getItem("parley.session"));
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const a = await (await fetch(`/v1/articles/${id}`, { headers })).json();
      const r = await fetch(`/v1/articles/${id}`, { method: "PATCH", headers,
        body: JSON.stringify({ scope: "生产部 全体", base_version: a.version }) });
      return r.status;
    }, id);
    await writer.page.fill("#article-title", `${title}（修订）`);
    await writer.page.click("#article-save");
    report.conflict = await until(writer, "the conflict said", () => {
      const error = document.querySelector(".kb-editor .form-error");
      return error && error.textContent ? { text: error.textContent, stillEditing: location.hash.endsWith("/edit"),
        title: document.querySelector("#article-title").value } : null;
    });
  });

  await step("phone editor: the text and the preview take turns", async () => {
    await writer.page.setViewportSize({ width: 390, height: 844 });
    const visible = () => writer.page.evaluate(() => ({
      tabs: getComputedStyle(document.querySelector(".kb-pane-tabs")).display !== "none",
      text: document.querySelector("#article-body").offsetParent !== null,
      preview: document.querySelector("#article-preview").offsetParent !== null,
    }));
    const write = await visible();
    await writer.page.click('.kb-pane-tabs [data-pane="preview"]');
    const preview = await visible();
    report.phoneEditor = { write, preview, fits: await fits(writer),
      heading: await writer.page.textContent("#article-preview h3") };
    await shot(writer, "phone-kb-editor");
  });

  await step("minutes: a meeting's minutes become a draft in the space, its editor opened", async () => {
    await writer.page.evaluate((meeting) => { location.hash = `#/minutes/${meeting}`; }, args.meeting);
    await writer.page.click("#minutes-to-kb");
    await writer.page.waitForSelector("#kb-space-pick", { timeout: run.remaining() });
    report.meetingSpaces = await writer.page.$$eval("#kb-space-pick option", (os) => os.map((o) => Number(o.value)));
    await writer.page.selectOption("#kb-space-pick", String(space));
    await writer.page.click("#kb-space-create");
    report.fromMeeting = await until(writer, "the new draft's editor", (id) => {
      const body = document.querySelector("#article-body");
      return body && !location.hash.startsWith(`#/articles/${id}/`) ? {
        hash: location.hash, title: document.querySelector("#article-title").value, body: body.value,
      } : null;
    }, id);
    report.fromMeetingFits = await fits(writer);
    await shot(writer, "phone-kb-from-minutes");
  });

  await step("picker: the image from his own files, attached to the new draft", async () => {
    await writer.page.click('.kb-attachments [data-action="attach-library"]');
    const mine = await until(writer, "his own files among the roots", () =>
      [...document.querySelectorAll(".kb-pick-list [data-folder]")].find((row) => row.textContent.includes("我的文件"))?.dataset.folder);
    await writer.page.click(`.kb-pick-list [data-folder="${mine}"] button`);
    await writer.page.waitForSelector(`.kb-pick-list [data-file="${fileId}"] input`, { timeout: run.remaining() });
    await writer.page.check(`.kb-pick-list [data-file="${fileId}"] input`);
    report.picker = await writer.page.evaluate(() => ({
      crumbs: [...document.querySelectorAll(".kb-pick-crumbs > *:not(.sep)")].map((e) => e.textContent),
      count: document.querySelector(".kb-pick-count").textContent,
      fits: document.querySelector(".dialog").getBoundingClientRect().right <= window.innerWidth,
    }));
    await shot(writer, "phone-kb-picker");
    await writer.page.click("#attach-pick-add");
    await writer.page.waitForSelector(`.kb-attachments .kb-file[data-file="${fileId}"]`, { timeout: run.remaining() });
    await writer.page.click("#article-save");
    report.meetingDraft = await until(writer, "the draft saved with its file", (file) => {
      const page = document.querySelector(".kb-article-page");
      return page && page.dataset.version === "2"
        ? [...page.querySelectorAll(".kb-files .kb-file")].map((row) => Number(row.dataset.file)) : null;
    }, fileId);
  });

  report.pageErrors = Object.values(report.logs).flat()
    .filter((line) => /^(error|pageerror):/.test(line) && !line.includes("Failed to load resource"));
});
