// What the browser test scripts share: their command line and how Chromium is started.

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
