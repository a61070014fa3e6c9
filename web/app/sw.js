// The web app's service worker, served at `/sw.js` so that its scope is the whole origin. It
// keeps a copy of the app shell (the page, its scripts, style sheet and icons, and the SDK) and
// answers from the network first, from the copy only when the network fails: a server upgrade
// reaches people at once, and with no network the app still opens and shows its "reconnecting"
// state until the server answers again. Nothing under /v1 (the API, messages, files) is kept.

const CACHE = "parley-shell-v1";

/** What the app needs to open: fetched when the worker is installed. */
const SHELL = [
  "/",
  "/app/app.js", "/app/ui.js", "/app/i18n.js", "/app/icons.js", "/app/chat.js", "/app/meeting.js",
  "/app/minutes.js", "/app/admin.js", "/app/library.js", "/app/search.js", "/app/knowledge.js",
  "/app/article.js", "/app/markdown.js", "/app/upkeep.js", "/app/notifications.js", "/app/people.js", "/app/calls.js", "/app/emoji.js",
  "/app/thread.js", "/app/message.js", "/app/composer.js", "/app/attachments.js",
  "/app/app.css", "/app/icon.svg", "/app/icon-192.png", "/app/icon-512.png", "/app/manifest.webmanifest",
  "/sdk/parley.js", "/sdk/room.js", "/sdk/media.js", "/sdk/stats.js", "/sdk/common.js", "/sdk/files.js",
];

self.addEventListener("install", (event) => {
  // The API never comes here at all, where the browser can route around the worker.
  try {
    if (event.addRoutes) event.addRoutes({ condition: { urlPattern: "/v1/*" }, source: "network" }).catch(() => {});
  } catch {
    /* an older browser: the fetch handler below lets the API pass */
  }
  // One missing file must not stop the others from being kept.
  event.waitUntil(caches.open(CACHE)
    .then((cache) => Promise.allSettled(SHELL.map((path) => cache.add(path))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

/** The shell's files: the page and everything under /app/ and /sdk/. */
function inShell(url) {
  return url.origin === self.location.origin
    && (url.pathname === "/" || url.pathname.startsWith("/app/") || url.pathname.startsWith("/sdk/"));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!inShell(url)) return;
  // The page is kept under "/" whatever its query (the part after # never reaches us).
  const key = url.pathname === "/" ? "/" : url.pathname;
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(key, copy)).catch(() => {});
      }
      return response;
    } catch (err) {
      const kept = await caches.match(key);
      if (kept) return kept;
      throw err;
    }
  })());
});
