// What the web app's UI scripts share: a run with a deadline, a report with screenshots and
// page logs, Chromium with fake devices, people signed in through the app's own form, and
// waiting for what a page shows.

import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath } from "./common.mjs";

/** Flags for meeting pages: media plays without a gesture, a screen share is chosen at once. */
export const CALL_FLAGS = ["--autoplay-policy=no-user-gesture-required", "--auto-accept-this-tab-capture",
  "--auto-select-desktop-capture-source=Entire screen"];

/**
 * Keep every toast `who`'s page shows in `window.__toasts` (toasts leave the page after a few
 * seconds); `toasts(who)` reads them.
 */
export async function keepToasts(who) {
  await who.page.evaluate(() => {
    window.__toasts = [];
    new MutationObserver((changes) => {
      for (const c of changes) for (const n of c.addedNodes) {
        if (n.classList?.contains("toast")) window.__toasts.push({ kind: n.className, text: n.textContent });
      }
    }).observe(document.getElementById("toasts"), { childList: true });
  });
}

/** The toasts `keepToasts` kept on `who`'s page. */
export const toasts = (who) => who.page.evaluate(() => window.__toasts || []);

let axeSource = null;

/**
 * axe-core's serious and critical violations on `page` as it is now: for each, its rule, its
 * impact and up to four of the nodes at fault with axe's summary of what is wrong.
 */
export async function axeViolations(page) {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  // Evaluated through DevTools: the page's Content-Security-Policy rightly refuses an injected
  // <script>, and the app must be checked under the policy it is served with.
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`.slice(0, 300)) }));
  });
}

/**
 * One UI run: `args` from the command line (`--parley`, `--out`, `--seconds`), a deadline, and
 * `report`, printed as one JSON line by `finish`.
 */
export async function startRun(args, { seconds = 150, extraFlags = [] } = {}) {
  const deadline = Date.now() + Number(args.seconds || seconds) * 1000;
  // Anything the server's Content-Security-Policy refused (an inline style or script) fails
  // the run: the app must work under the policy it is served with.
  const report = { ok: false, steps: [], screenshots: [], logs: {}, cspViolations: [] };
  await mkdir(args.out, { recursive: true });
  const browser = await chromium.launch({
    executablePath: chromiumPath, headless: true, args: chromiumFlags(undefined, extraFlags),
  });
  const remaining = () => Math.max(1000, deadline - Date.now());

  const run = {
    report, browser, remaining,

    /** A person's browser context, on the app's sign-in page: `{name, context, page}`. */
    async person(name, { locale = "en-US", viewport = { width: 1280, height: 800 }, ...options } = {}) {
      const context = await browser.newContext({ locale, viewport, ...options });
      await context.grantPermissions(["camera", "microphone", "notifications"], { origin: args.parley });
      // Chromium reports CSP refusals to DevTools, not to the console API: make them console errors.
      await context.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) =>
        console.error(`Content Security Policy refused ${e.violatedDirective}: ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`)));
      const page = await context.newPage();
      report.logs[name] = [];
      page.on("console", (m) => {
        report.logs[name].push(`${m.type()}: ${m.text()}`.slice(0, 300));
        const violation = `${name}: ${m.text()}`.slice(0, 200);
        if (m.text().includes("Content Security Policy") && report.cspViolations.length < 10
          && !report.cspViolations.includes(violation)) report.cspViolations.push(violation);
      });
      page.on("pageerror", (e) => report.logs[name].push(`pageerror: ${e}`.slice(0, 300)));
      await page.goto(args.parley + "/");
      return { name, context, page };
    },

    /** Sign in through the form; resolves once the sidebar lists `channel`. */
    async signIn(who, email, password, channel) {
      await who.page.fill("#email", email);
      await who.page.fill("#password", password);
      await who.page.click("button[type=submit]");
      await who.page.waitForSelector(`.channel-link[data-channel="${channel}"]`, { timeout: remaining() });
      return who;
    },

    /** Wait until `check` (run in the page) returns something truthy; return it. */
    async until(who, what, check, arg) {
      while (Date.now() < deadline) {
        const value = await who.page.evaluate(check, arg).catch(() => null);
        if (value) return value;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${who.name}: timed out waiting for ${what}`);
    },

    /** Wait until `fn` (run here, in Node) resolves to something truthy; return it. */
    async poll(what, fn) {
      while (Date.now() < deadline) {
        const value = await fn().catch(() => null);
        if (value) return value;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`timed out waiting for ${what}`);
    },

    async step(name, fn) {
      const started = Date.now();
      await fn();
      report.steps.push({ name, ms: Date.now() - started });
    },

    /** Record axe-core's serious and critical violations on `who`'s page as `report.axe["name:where"]`. */
    async axe(who, where) {
      report.axe ??= {};
      report.axe[`${who.name}:${where}`] = await axeViolations(who.page);
    },

    async shot(who, name) {
      const file = path.join(args.out, `${name}.png`);
      await who.page.screenshot({ path: file });
      report.screenshots.push(file);
    },

    /** Run the steps; print the report whatever happens, and exit. */
    async finish(steps) {
      try {
        await steps();
        if (report.cspViolations.length) throw new Error(`the page broke its Content-Security-Policy: ${report.cspViolations.join(" | ")}`);
        report.ok = true;
      } catch (err) {
        report.error = String(err && err.stack ? err.stack : err);
      } finally {
        await browser.close().catch(() => {});
        console.log(JSON.stringify(report));
        process.exit(0);
      }
    },
  };
  return run;
}
