// What the browser test scripts share: their command line, the page they load, and how
// Chromium is started.

import http from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

/** `--name value` pairs from the command line, as an object. */
export function parseArgs(argv = process.argv.slice(2)) {
  return Object.fromEntries(
    argv.reduce((pairs, arg, i, all) => {
      if (arg.startsWith("--")) pairs.push([arg.slice(2), all[i + 1]]);
      return pairs;
    }, []),
  );
}

/** Debian's Chromium, or the one `CHROMIUM` names. */
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

/**
 * Headless Chromium flags for meeting tests: fake camera and microphone granted without a
 * prompt, nothing in the background, and `disableFeatures` (WebRtcHideLocalIpsWithMdns by
 * default) turned off. `extra` flags are added at the end.
 */
export function chromiumFlags(disableFeatures = ["WebRtcHideLocalIpsWithMdns"], extra = []) {
  return [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--disable-features=${disableFeatures.join(",")}`,
    ...extra,
  ];
}

/**
 * Serve `meeting.html` (beside these scripts) at http://127.0.0.1:PORT/, an origin secure
 * enough for getUserMedia. Returns the origin and the server (close it when done).
 */
export async function serveMeetingPage() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const page = await readFile(path.join(here, "meeting.html"));
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, server };
}
