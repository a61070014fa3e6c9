// The web app as an administrator and a phone user see it: the admin signs in with the keyboard
// alone, adds a user, imports an organisation CSV (first with bad lines, whose report names each
// line, then a good one), makes an API key (its secret shown once), places a legal hold and runs
// a retention pass on the data tab, reads the file audit (also phone-sized), and the dashboard in
// Chinese; a member on a phone-sized screen signs in, opens a channel from the list and sends a
// message. Screenshots of each state go to --out. Prints one JSON line.
//
//   node app_admin.mjs --parley http://127.0.0.1:PORT --admin-email E --admin-password P
//                      --member-email E --member-password P --channel 1 --out DIR [--seconds 90]

import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const run = await startRun(args, { seconds: 90 });
const { report, remaining } = run;
const shot = (page, name) => run.shot({ page }, name);
const text = (page, selector) => page.textContent(selector, { timeout: remaining() });

await run.finish(async () => {
  // --- The admin, in Chinese, signing in with the keyboard alone --------------------------
  const admin = (await run.person("admin", { locale: "zh-CN" })).page;
  await admin.waitForSelector("#email", { timeout: remaining() });
  report.focusOnLoad = await admin.evaluate(() => document.activeElement && document.activeElement.id);
  await admin.keyboard.type(args["admin-email"]);
  await admin.keyboard.press("Tab");
  await admin.keyboard.type(args["admin-password"]);
  await admin.keyboard.press("Enter");
  await admin.waitForSelector(".side-nav", { timeout: remaining() });

  await admin.evaluate(() => (location.hash = "#/admin/users"));
  await admin.waitForSelector("#new-email", { timeout: remaining() });
  await admin.fill("#new-email", "wang.fang@example.cn");
  await admin.fill("#new-name", "王芳");
  await admin.fill("#new-department", "总部/采购部");
  await admin.fill("#new-password", "a-long-password-1");
  await admin.click(".grid-form button[type=submit]");
  await admin.waitForFunction(() => [...document.querySelectorAll("td")].some((td) => td.textContent === "王芳"), null, { timeout: remaining() });
  report.userRow = await admin.evaluate(() => {
    const row = [...document.querySelectorAll("tr")].find((tr) => tr.textContent.includes("王芳"));
    return [...row.querySelectorAll("td")].map((td) => td.textContent);
  });
  await shot(admin, "admin-users-zh-CN");

  await admin.evaluate(() => (location.hash = "#/admin/import"));
  await admin.waitForSelector("#import-file", { timeout: remaining() });
  const upload = async (csv) => {
    await admin.setInputFiles("#import-file", { name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await admin.click(".page form button[type=submit]");
  };
  await upload("name,email,department,role\n张伟,zhang.wei@example.cn,总部/研发部,member\n李雷,not-an-email,总部/研发部,member\n韩梅梅,han@example.cn,总部/研发部,pilot\n");
  await admin.waitForSelector(".import-report table.errors", { timeout: remaining() });
  report.importErrors = await admin.evaluate(() =>
    [...document.querySelectorAll(".import-report table.errors tbody tr")].map((tr) => [...tr.children].map((td) => td.textContent)));
  await shot(admin, "admin-import-errors-zh-CN");
  await upload("name,email,department,role\n张伟,zhang.wei@example.cn,总部/研发部,member\nTom Lee,tom@example.com,HQ/Sales,dept_admin\n");
  await admin.waitForSelector(".import-report p.ok", { timeout: remaining() });
  report.imported = await text(admin, ".import-report p.ok");

  await admin.evaluate(() => (location.hash = "#/admin/keys"));
  await admin.waitForSelector("#key-name", { timeout: remaining() });
  await admin.fill("#key-name", "crm");
  await admin.click(".inline-form button[type=submit]");
  await admin.waitForSelector(".secret code", { timeout: remaining() });
  report.secretShown = await text(admin, ".secret code");
  report.keyRows = await admin.evaluate(() => document.querySelectorAll(".table-wrap tbody tr").length);
  await shot(admin, "admin-api-keys-zh-CN");

  // Data: backups (off on this server), a legal hold on the channel, a retention pass.
  await admin.evaluate(() => (location.hash = "#/admin/data"));
  await admin.waitForSelector("[data-backup]", { timeout: remaining() });
  report.backupState = await admin.evaluate(() => document.querySelector("[data-backup]").dataset.backup);
  await admin.selectOption("#hold-kind", "channel");
  await admin.selectOption("#hold-target", args.channel);
  await admin.fill("#hold-reason", "案件 114");
  await admin.click(".holds form button[type=submit]");
  await admin.waitForSelector(".hold-list tbody tr", { timeout: remaining() });
  report.holdRows = await admin.evaluate(() =>
    [...document.querySelectorAll(".hold-list tbody tr")].map((tr) => [...tr.children].slice(0, 2).map((td) => td.textContent)));
  await admin.click("#retention-run");
  await admin.waitForFunction(() => {
    const p = document.querySelector('[data-retention="last"]');
    return p && p.textContent.includes("删除");
  }, null, { timeout: remaining() });
  report.lastPass = await text(admin, '[data-retention="last"]');
  await shot(admin, "admin-data-zh-CN");

  // File audit: the rows the test's upload and download made, then the same page phone-sized.
  await admin.evaluate(() => (location.hash = "#/admin/audit"));
  await admin.waitForSelector(".file-audit tbody tr", { timeout: remaining() });
  report.auditRows = await admin.evaluate(() =>
    [...document.querySelectorAll(".file-audit tbody tr")].map((tr) => {
      const td = [...tr.children];
      const a = td[3].querySelector("a");
      return [td[1].textContent, td[2].textContent, a && a.getAttribute("href"), td[4].textContent];
    }));
  const wide = admin.viewportSize() || { width: 1280, height: 800 };
  await admin.setViewportSize({ width: 390, height: 844 });
  report.auditPhoneFits = await admin.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await shot(admin, "admin-file-audit-phone-zh-CN");
  await admin.setViewportSize(wide);

  await admin.evaluate(() => (location.hash = "#/dashboard"));
  await admin.waitForSelector('.stat[data-stat="messages"]', { timeout: remaining() });
  report.dashboard = await admin.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll(".stat")].map((s) => [s.dataset.stat, s.querySelector(".stat-value").textContent])));
  report.charts = await admin.evaluate(() => document.querySelectorAll("svg.chart rect").length);
  await shot(admin, "dashboard-zh-CN");

  // --- A member on a phone ---------------------------------------------------------------
  const phone = (await run.person("phone", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).page;
  await phone.fill("#email", args["member-email"]);
  await phone.fill("#password", args["member-password"]);
  await shot(phone, "phone-signin");
  await phone.click("button[type=submit]");
  await phone.waitForSelector(`.channel-link[data-channel="${args.channel}"]`, { timeout: remaining() });
  report.phoneMainHidden = await phone.evaluate(() => getComputedStyle(document.getElementById("main")).display === "none");
  report.phoneBadge = await phone.evaluate((c) => {
    const badge = document.querySelector(`.channel-link[data-channel="${c}"] .badge`);
    return badge ? badge.textContent : null;
  }, args.channel);
  await shot(phone, "phone-channels");
  await phone.click(`.channel-link[data-channel="${args.channel}"]`);
  await phone.waitForSelector(".channel-view .composer-input", { timeout: remaining() });
  await phone.fill(".channel-view .composer-input", "On my way / 马上到");
  await phone.press(".channel-view .composer-input", "Enter");
  await phone.waitForFunction(() => [...document.querySelectorAll(".message-body")].some((e) => e.textContent.includes("马上到")), null, { timeout: remaining() });
  report.phoneFits = await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await shot(phone, "phone-chat");
  // Errors the pages logged; the browser also logs each 4xx it receives, such as the import
  // rejected on purpose, which are not the app's.
  report.pageErrors = Object.values(report.logs).flat()
    .filter((line) => /^(error|pageerror):/.test(line) && !line.includes("Failed to load resource"));
});
