// The file library in the web app, as a department's admin (English) and one of its members
// (Chinese) use it side by side: the admin opens the department's folder from "Files", makes a
// subfolder, watches it and shares it with a guest through the permission dialog (read back
// from the server when it opens again). The member finds the subfolder, uploads a file with the
// picker and another by dropping it, locks the first (the admin sees the badge), adds a second
// version with a comment and unlocks it. The admin's page shows version 2 as it lands (a
// watcher is told), downloads version 2 from the version panel, restores version 1 (it becomes
// version 3) and downloads the file. The member moves it to the trash, finds it there and
// restores it; on a phone-sized screen the folder and its version panel fit. The admin renames
// the folder and archives it (read-only for both of them) and unarchives it; and the channel
// view opens the channel's own library, which its creator manages. Downloads are
// saved to --downloads for the caller to compare byte for byte. Prints one JSON line.
//
//   node app_library.mjs --parley http://127.0.0.1:PORT --channel 1 --email-head E --email-member E
//                        --password PW --department NAME --guest ID --v1 FILE --v2 FILE
//                        --downloads DIR --out DIR [--seconds 150]

import path from "node:path";
import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 150 });
const { report, remaining, until, step, shot } = run;
const SUBFOLDER = "2027 预算 Budget";
const name = path.basename(args.v1);
const DROPPED = "备注 notes.txt";

const row = (file) => `.library .lib-file[data-name="${file}"]`;
const action = (file, what) => `${row(file)} [data-action="${what}"]`;
/** The row of `file` as the page shows it, once `check` (in the page) holds for it. */
const rowWhen = (who, what, file, want) => until(who, what, ({ sel, want }) => {
  const el = document.querySelector(sel);
  if (!el) return want.gone ? { gone: true } : null;
  const seen = {
    file: Number(el.dataset.file), version: Number(el.dataset.version),
    lock: el.querySelector(".lib-lock")?.textContent ?? null,
    actions: [...el.querySelectorAll("[data-action]")].map((b) => b.dataset.action),
  };
  if (want.gone) return null;
  if (want.version && seen.version !== want.version) return null;
  if (want.locked !== undefined && Boolean(seen.lock) !== want.locked) return null;
  return seen;
}, { sel: row(file), want });

const dialogClosed = (who) => until(who, "the dialog closed", () => !document.querySelector(".dialog"));

/** Download what clicking `selector` gives; its suggested name and where it was saved. */
async function download(who, selector, as) {
  const [file] = await Promise.all([
    who.page.waitForEvent("download", { timeout: remaining() }),
    who.page.click(selector),
  ]);
  const saved = path.join(args.downloads, as);
  await file.saveAs(saved);
  return { name: file.suggestedFilename(), saved };
}

/** From the sidebar's "Files" to the department's root, then into the subfolder if asked. */
async function openFolder(who, { sub, rootsShot } = {}) {
  await who.page.click('.side-nav a[href="#/files"]');
  await who.page.waitForSelector(".lib-roots a.lib-root", { timeout: remaining() });
  if (rootsShot) {
    report.roots = await who.page.$$eval(".lib-roots a.lib-root .lib-root-name", (els) => els.map((e) => e.textContent));
    await shot(who, rootsShot);
  }
  const root = who.page.locator(".lib-roots a.lib-root", { hasText: args.department }).first();
  await root.click();
  await who.page.waitForSelector(".library[data-level]", { timeout: remaining() });
  if (sub) {
    await who.page.click(`.library .lib-folder[data-name="${SUBFOLDER}"] a.lib-name`);
    await until(who, "the subfolder", (id) => document.querySelector(`.library[data-folder="${id}"][data-level]`), report.folder);
  }
  return where(who);
}

/** The folder open in the page: its id, the caller's level, its title and path. */
function where(who) {
  return who.page.evaluate(() => {
    const view = document.querySelector(".library");
    return {
      folder: Number(view.dataset.folder), level: view.dataset.level,
      title: view.querySelector(".view-header h1").textContent,
      crumbs: [...view.querySelectorAll(".crumbs a, .crumbs [aria-current]")].map((c) => c.textContent),
    };
  });
}

/** The permission dialog's rows: subject and level, as the dialog shows them. */
const grantRows = (who) => who.page.evaluate(() => [...document.querySelectorAll(".dialog .grant-row")]
  .map((r) => [r.dataset.subject, r.querySelector("select").value]));

await run.finish(async () => {
  const head = await run.signIn(await run.person("head", { locale: "en-US" }), args["email-head"], args.password, channel);
  const member = await run.signIn(await run.person("member", { locale: "zh-CN" }), args["email-member"], args.password, channel);

  await step("the admin opens the department's folder and makes a subfolder", async () => {
    report.headRoot = await openFolder(head);
    await head.page.click('.library [data-action="new-folder"]');
    await head.page.fill("#folder-name", SUBFOLDER);
    await head.page.click(".dialog button[type=submit]");
    await dialogClosed(head);
    await head.page.click(`.library .lib-folder[data-name="${SUBFOLDER}"] a.lib-name`);
    report.folder = await until(head, "the subfolder open", (name) => {
      const view = document.querySelector(".library[data-level]");
      return view && view.querySelector(".view-header h1").textContent === name ? Number(view.dataset.folder) : null;
    }, SUBFOLDER);
    await head.page.click('.library [data-action="watch"]');
    report.watching = await until(head, "watching", () =>
      document.querySelector('.library [data-action="watch"][aria-pressed="true"]')?.textContent);
  });

  await step("the admin shares it with the guest in the permission dialog", async () => {
    await head.page.click('.library [data-action="permissions"]');
    await head.page.waitForSelector("#grant-kind", { timeout: remaining() });
    report.grantsBefore = await grantRows(head);
    await head.page.selectOption("#grant-kind", "user");
    await head.page.selectOption("#grant-subject", String(args.guest));
    await head.page.selectOption("#grant-level", "view");
    await head.page.click("#grant-add");
    await head.page.waitForSelector(`.dialog .grant-row[data-subject="user:${args.guest}"]`, { timeout: remaining() });
    await shot(head, "library-permissions-en");
    await head.page.click(".dialog button[type=submit]");
    await dialogClosed(head);
    // Opened again, the dialog shows what the server answered.
    await head.page.click('.library [data-action="permissions"]');
    await head.page.waitForSelector("#grant-kind", { timeout: remaining() });
    report.grantsAfter = await grantRows(head);
    report.inherit = await head.page.isChecked("#grant-inherit");
    await head.page.keyboard.press("Escape");
    await dialogClosed(head);
  });

  await step("the member uploads a file with the picker and one by dropping it", async () => {
    report.memberFolder = await openFolder(member, { sub: true, rootsShot: "library-roots-zh-CN" });
    await member.page.setInputFiles(".library .lib-upload-input", args.v1);
    report.chip = await until(member, "the upload's chip done", (file) => {
      const chip = document.querySelector(`.library .upload-chip[data-name="${file}"]`);
      return chip && chip.dataset.state === "done"
        ? { file: Number(chip.dataset.file), progress: chip.querySelector("progress").value } : null;
    }, name);
    report.v1 = await rowWhen(member, "version 1 listed", name, { version: 1 });
    report.dropShown = await member.page.evaluate((name) => {
      const data = new DataTransfer();
      data.items.add(new File([`Dropped on the folder / 拖进文件夹\n`], name, { type: "text/plain" }));
      const target = document.querySelector(".library .lib-list");
      const fire = (type) => target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      fire("dragenter");
      fire("dragover");
      const shown = document.querySelector(".library").classList.contains("dropping");
      const taken = !fire("drop");
      return { shown, taken, after: document.querySelector(".library").classList.contains("dropping") };
    }, DROPPED);
    report.dropped = await rowWhen(member, "the dropped file listed", DROPPED, { version: 1 });
  });

  await step("the member locks the file; the admin sees who holds it", async () => {
    await member.page.click(action(name, "lock"));
    report.memberLock = await rowWhen(member, "locked", name, { locked: true });
    await head.page.click('.library [data-action="refresh"]');
    report.headLock = await rowWhen(head, "the lock badge", name, { locked: true });
    await shot(member, "library-locked-zh-CN");
  });

  await step("the member adds version 2 with a comment, and unlocks", async () => {
    await member.page.click(action(name, "new-version"));
    await member.page.setInputFiles("#version-file", args.v2);
    await member.page.fill("#version-comment", "第二版：加了运费 / freight added");
    await member.page.click(".dialog button[type=submit]");
    await dialogClosed(member);
    report.v2 = await rowWhen(member, "version 2 listed", name, { version: 2, locked: true });
    await member.page.click(action(name, "unlock"));
    await rowWhen(member, "unlocked", name, { locked: false });
    // The admin watches the folder: version 2 shows without anyone reloading.
    report.headLive = await rowWhen(head, "version 2 on the admin's page", name, { version: 2 });
  });

  await step("the admin reads the versions, downloads v2, restores v1 and downloads the file", async () => {
    await head.page.click('.library [data-action="refresh"]');
    await rowWhen(head, "unlocked for the admin", name, { locked: false });
    await head.page.click(action(name, "versions"));
    const versions = () => until(head, "the version panel", () => {
      const rows = [...document.querySelectorAll(".dialog .version-row")];
      return rows.length ? rows.map((r) => ({
        version: Number(r.dataset.version), current: r.classList.contains("current"),
        meta: r.querySelector(".lib-meta").textContent,
        comment: r.querySelector(".version-comment")?.textContent ?? null,
        restorable: Boolean(r.querySelector('[data-action="restore"]')),
      })) : null;
    });
    report.versionsBefore = await versions();
    await shot(head, "library-versions-en");
    report.v2Download = await download(head, '.dialog .version-row[data-version="2"] [data-action="download"]', "v2-from-panel.txt");
    await head.page.click('.dialog .version-row[data-version="1"] [data-action="restore"]');
    await until(head, "version 3 in the panel", () =>
      document.querySelector('.dialog .version-row.current[data-version="3"]'));
    report.versionsAfter = await versions();
    await head.page.keyboard.press("Escape");
    await dialogClosed(head);
    report.v3 = await rowWhen(head, "version 3 listed", name, { version: 3 });
    report.currentDownload = await download(head, action(name, "download"), "current.txt");
    await shot(head, "library-folder-en");
  });

  await step("the member deletes it, finds it in the trash and restores it", async () => {
    await member.page.click('.library [data-action="refresh"]');
    await rowWhen(member, "version 3 for the member", name, { version: 3 });
    await member.page.click(action(name, "delete"));
    await member.page.click(".dialog .confirm-ok");
    await rowWhen(member, "the file gone from the folder", name, { gone: true });
    await member.page.click('.side-nav a[href="#/files"]');
    await member.page.click('[data-action="trash"]');
    report.trash = await until(member, "the trash", () => {
      const rows = [...document.querySelectorAll(".library-trash .lib-file")];
      return rows.length ? rows.map((r) => ({ file: Number(r.dataset.file), name: r.dataset.name })) : null;
    });
    await shot(member, "library-trash-zh-CN");
    await member.page.click(`.library-trash .lib-file[data-name="${name}"] [data-action="restore"]`);
    report.restored = await rowWhen(member, "the file back in its folder", name, { version: 3 });
    report.restoredIn = await member.page.evaluate(() => Number(document.querySelector(".library").dataset.folder));
    await shot(member, "library-folder-zh-CN");
  });

  await step("phone: the folder and the version panel fit a phone-sized screen", async () => {
    const phone = await run.person("phone", { locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await run.signIn(phone, args["email-member"], args.password, channel);
    report.phoneFolder = await openFolder(phone, { sub: true });
    await rowWhen(phone, "the file on the phone", name, { version: 3 });
    report.phoneFits = await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    await shot(phone, "phone-library-zh-CN");
    await phone.page.click(action(name, "versions"));
    await phone.page.waitForSelector(".dialog .version-row", { timeout: remaining() });
    report.phoneVersionsFit = await phone.page.evaluate(() => {
      const box = document.querySelector(".dialog").getBoundingClientRect();
      return box.left >= 0 && box.right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth;
    });
    await shot(phone, "phone-library-versions-zh-CN");
    await phone.context.close();
  });

  await step("renamed and archived, the folder is read-only for everyone until unarchived", async () => {
    const actions = (who) => who.page.evaluate((file) => {
      const view = document.querySelector(".library");
      return {
        title: view.querySelector(".view-header h1").textContent, readOnly: view.dataset.readOnly,
        tools: [...view.querySelectorAll(".lib-toolbar [data-action]")].map((b) => b.dataset.action),
        file: [...view.querySelectorAll(`.lib-file[data-name="${file}"] [data-action]`)].map((b) => b.dataset.action),
      };
    }, name);
    await head.page.click('.library .lib-toolbar [data-action="rename"]');
    await head.page.fill("#folder-name", `${SUBFOLDER} 定稿`);
    await head.page.click(".dialog button[type=submit]");
    await dialogClosed(head);
    await until(head, "the new name", (title) => document.querySelector(".library .view-header h1").textContent === title, `${SUBFOLDER} 定稿`);
    await head.page.click('.library [data-action="archive"]');
    await head.page.click(".dialog .confirm-ok");
    await until(head, "archived", () => document.querySelector('.library[data-read-only="true"]'));
    report.headArchived = await actions(head);
    await member.page.click('.library [data-action="refresh"]');
    await until(member, "archived for the member", () => document.querySelector('.library[data-read-only="true"]'));
    report.memberArchived = await actions(member);
    await shot(member, "library-archived-zh-CN");
    await head.page.click('.library [data-action="archive"]');
    await until(head, "unarchived", () => document.querySelector('.library[data-read-only="false"]'));
    report.headUnarchived = await actions(head);
  });

  await step("the channel view opens the channel's own library", async () => {
    await head.page.click(`.channel-link[data-channel="${channel}"]`);
    await head.page.click('.channel-view [data-action="library"]');
    await until(head, "the channel's library", () => document.querySelector(".library[data-level]"));
    report.channelLibrary = await where(head);
  });

  // Both languages have the same keys, and every literal key library.js asks for exists.
  report.translations = await head.page.evaluate(async () => {
    const i18n = await import("/app/i18n.js");
    const code = await (await fetch("/app/library.js")).text();
    const unknown = [...code.matchAll(/\bt\("([\w.]+)"/g)].map(([, key]) => key).filter((key) => i18n.t(key) === key);
    return { missing: i18n.missingKeys(), unknown };
  });
  report.memberLanguage = await member.page.evaluate(() => [document.documentElement.lang,
    document.querySelector('.side-nav a[href="#/files"]').textContent]);
  report.pageErrors = Object.values(report.logs).flat()
    .filter((line) => /^(error|pageerror):/.test(line) && !line.includes("Failed to load resource"));
});
