// Files in the web app's chat, as two people use it: Ann (English) drops a PNG on the chat,
// whose first upload request the network cuts (the app asks the server where it stands and
// goes on); attaches a CSV of two chunks with the picker, pausing it with half of it sent and
// resuming it; pastes an image and removes it again; and sends the two files with a line of
// text. Bob (Chinese) sees the image's thumbnail decoded in his timeline and the CSV's card,
// opens the image, and downloads both (saved to --downloads for the caller to compare); on a
// phone-sized screen he sees the same message. Ann recalls it and the files leave Bob's
// timeline. Every check goes through the DOM, the browser's decoder and its downloads.
// Prints one JSON line.
//
//   node app_files.mjs --parley http://127.0.0.1:PORT --channel 1 --email-a a@x --email-b b@x
//                      --password PW --png FILE --csv FILE --downloads DIR --out DIR [--seconds 120]

import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "./common.mjs";
import { startRun } from "./app_common.mjs";

const args = parseArgs();
const channel = Number(args.channel);
const run = await startRun(args, { seconds: 120 });
const { report, remaining, until, step, shot } = run;
const view = ".channel-view";

const open = async (name, email, options) => {
  const who = await run.signIn(await run.person(name, options), email, args.password, channel);
  await who.page.click(`.channel-link[data-channel="${channel}"]`);
  await who.page.waitForSelector(`${view} .composer-input`, { timeout: remaining() });
  return who;
};

/**
 * What the network does to Ann's upload requests: each PATCH takes the next planned action
 * ("cut": the connection resets; "hold": it waits until `release()`; otherwise it goes through).
 * Every method is counted.
 */
function network(who) {
  const net = { plan: [], held: null, counts: {} };
  let release;
  net.released = new Promise((resolve) => (release = resolve));
  net.release = () => release();
  who.page.route("**/v1/uploads**", async (route) => {
    const method = route.request().method();
    net.counts[method] = (net.counts[method] || 0) + 1;
    const action = method === "PATCH" ? net.plan.shift() : undefined;
    if (action === "cut") return route.abort("connectionreset");
    if (action === "hold") {
      net.held = route;
      await net.released;
      return route.abort("connectionreset").catch(() => {});
    }
    return route.continue().catch(() => {});
  });
  return net;
}

const chip = (name) => `${view} .upload-chip[data-name="${name}"]`;
const chipState = (who, name) => who.page.evaluate((sel) => {
  const el = document.querySelector(sel);
  return el ? { state: el.dataset.state, file: el.dataset.file, progress: el.querySelector("progress").value,
    meta: el.querySelector(".chip-meta").textContent } : null;
}, chip(name));
const chipIs = (who, name, state) => until(who, `${name}: ${state}`, ({ sel, want }) => {
  const el = document.querySelector(sel);
  return el && el.dataset.state === want ? { file: el.dataset.file, meta: el.querySelector(".chip-meta").textContent } : null;
}, { sel: chip(name), want: state });

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

await run.finish(async () => {
  const pngName = path.basename(args.png);
  const csvName = path.basename(args.csv);
  const ann = await open("ann", args["email-a"], { locale: "en-US" });
  const bob = await open("bob", args["email-b"], { locale: "zh-CN" });
  const net = network(ann);
  // The PNG reaches Ann's page through a fake address on the app's origin (the page may only
  // fetch from there), so the drop below carries the real file's bytes.
  const png = await readFile(args.png);
  await ann.page.route("**/test-fixture/*.png", (route) => route.fulfill({ body: png, contentType: "image/png" }));

  await step("drop: a PNG dropped on the chat uploads, through a cut connection", async () => {
    net.plan.push("cut");
    report.dropShown = await ann.page.evaluate(async ({ name, sel }) => {
      const bytes = await (await fetch("/test-fixture/dropped.png")).blob();
      const data = new DataTransfer();
      data.items.add(new File([bytes], name, { type: "image/png" }));
      const target = document.querySelector(`${sel} .message-scroll`);
      const fire = (type) => target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      fire("dragenter");
      fire("dragover");
      const shown = document.querySelector(`${sel} .chat`).classList.contains("dropping");
      const taken = !fire("drop");
      return { shown, taken, after: document.querySelector(`${sel} .chat`).classList.contains("dropping") };
    }, { name: pngName, sel: view });
    report.png = await chipIs(ann, pngName, "done");
    report.afterCut = { ...net.counts };
  });

  await step("picker: a CSV of two chunks pauses half way and resumes", async () => {
    net.plan.push("continue", "hold");
    await ann.page.setInputFiles(`${view} .attach-input`, args.csv);
    await run.poll("the second PATCH held", async () => net.held);
    const half = await chipState(ann, csvName);
    report.csvHalf = half;
    await shot(ann, "files-uploading-en");
    await ann.page.click(`${chip(csvName)} .chip-toggle`);
    report.csvPaused = await chipIs(ann, csvName, "paused");
    await shot(ann, "files-paused-en");
    net.release();
    const heads = net.counts.HEAD || 0;
    await ann.page.click(`${chip(csvName)} .chip-toggle`);
    report.csv = await chipIs(ann, csvName, "done");
    report.headsOnResume = (net.counts.HEAD || 0) - heads;
    report.sendEnabled = await ann.page.isEnabled(`${view} .composer button[type=submit]`);
  });

  await step("paste: an image pasted into the box becomes a chip, and is removed again", async () => {
    await ann.page.evaluate(async (sel) => {
      const canvas = document.createElement("canvas");
      canvas.width = 40;
      canvas.height = 30;
      const g = canvas.getContext("2d");
      g.fillStyle = "#c62828";
      g.fillRect(0, 0, 40, 30);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      const data = new DataTransfer();
      data.items.add(new File([blob], "pasted.png", { type: "image/png" }));
      document.querySelector(`${sel} .composer-input`).dispatchEvent(
        new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }, view);
    report.pasted = await chipIs(ann, "pasted.png", "done");
    await shot(ann, "files-chips-en");
    await ann.page.click(`${chip("pasted.png")} .chip-remove`);
    await until(ann, "the pasted chip gone", (sel) => !document.querySelector(sel), chip("pasted.png"));
    report.chipsBeforeSend = await ann.page.$$eval(`${view} .upload-chip`, (els) => els.map((e) => e.dataset.name));
  });

  await step("send: Bob sees the image decoded and the CSV's card", async () => {
    await ann.page.fill(`${view} .composer-input`, "Mock-up and numbers / 设计稿和数据");
    await ann.page.press(`${view} .composer-input`, "Enter");
    await until(ann, "the tray emptied", (sel) => document.querySelector(`${sel} .upload-tray`).hidden, view);
    report.bobImage = await until(bob, "the image decoded", (sel) => {
      const img = document.querySelector(`${sel} .message .attachment-image img`);
      return img && img.complete && img.naturalWidth
        ? { size: [img.naturalWidth, img.naturalHeight], from: new URL(img.src).pathname.split("/").pop() } : null;
    }, view);
    report.bobMessage = await bob.page.evaluate((sel) => {
      const m = [...document.querySelectorAll(`${sel} .message`)].pop();
      return {
        body: m.querySelector(".message-body")?.textContent,
        image: m.querySelector(".attachment-image .attachment-name")?.textContent,
        card: m.querySelector(".attachment-file .attachment-name")?.textContent,
        cardSize: m.querySelector(".attachment-file .muted")?.textContent,
        files: [...m.querySelectorAll(".attachment")].map((a) => Number(a.dataset.file)),
      };
    }, view);
    await shot(bob, "files-message-zh-CN");
  });

  await step("open and download: the image large, then both files saved", async () => {
    await bob.page.click(`${view} .attachment-image .image-open`);
    report.lightbox = await until(bob, "the large image", () => {
      const img = document.querySelector(".dialog .lightbox-image");
      return img && img.complete && img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : null;
    });
    await shot(bob, "files-lightbox-zh-CN");
    await bob.page.keyboard.press("Escape");
    await until(bob, "the dialog closed", () => !document.querySelector(".dialog"));
    report.pngDownload = await download(bob, `${view} .attachment-image .attachment-download`, "bob-image.png");
    report.csvDownload = await download(bob, `${view} .attachment-file`, "bob-data.csv");
  });

  await step("phone: the message with its files fits a phone-sized screen", async () => {
    const phone = await run.person("phone", { locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await run.signIn(phone, args["email-b"], args.password, channel);
    await phone.page.click(`.channel-link[data-channel="${channel}"]`);
    report.phoneImage = await until(phone, "the image on the phone", (sel) => {
      const img = document.querySelector(`${sel} .attachment-image img`);
      return img && img.complete && img.naturalWidth ? img.getBoundingClientRect().width : null;
    }, view);
    report.phoneFits = await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    await shot(phone, "phone-chat-files");
    await phone.context.close();
  });

  await step("recall: the files leave Bob's timeline", async () => {
    const mine = ann.page.locator(`${view} .message.mine`).last();
    await mine.hover();
    await mine.locator('.message-actions button[aria-label="Recall"]').click();
    // The app asks in its own dialog (confirmAction), not the browser's confirm().
    await ann.page.click(".dialog .confirm-ok");
    report.afterRecall = await until(bob, "the message recalled", (sel) => {
      const m = [...document.querySelectorAll(`${sel} .message`)].pop();
      return m && m.querySelector(".message-body.recalled")
        ? { attachments: m.querySelectorAll(".attachment").length, images: m.querySelectorAll("img").length } : null;
    }, view);
  });

  report.pageErrors = Object.values(report.logs).flat().filter((l) => l.startsWith("pageerror"));
});
