// What every part of the web app shares: building DOM, the signed-in session and its tokens,
// REST calls, small formatting helpers and toasts. No framework: the app is plain ES modules
// served from the binary, so it needs no build step.

import { t } from "./i18n.js";

/**
 * Build an element. `attrs` keys starting with `on` are listeners; `style` is set through the
 * CSSOM (the server's Content-Security-Policy refuses inline style attributes); `class`,
 * `dataset` and any other attribute are set as given; `null`/`false` children are skipped.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style") {
      el.style.cssText = String(value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "hidden" || key === "selected") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- The session: tokens kept in localStorage, refreshed before they expire ----------------

const SESSION_KEY = "parley.session";

/** @type {{access_token: string, refresh_token: string, expires_at: number, user: any} | null} */
let session = load();
let refreshing = null;
const signedOut = new Set();

function load() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function store(pair) {
  session = {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + pair.expires_in * 1000,
    user: pair.user,
  };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export const me = () => session && session.user;
export const signedIn = () => Boolean(session);
/** Called when the session ends (signed out here, or the refresh token was refused). */
export const onSignedOut = (fn) => signedOut.add(fn);

export async function signIn(email, password) {
  const pair = await api("POST", "/v1/auth/login", { email, password }, { anonymous: true });
  store(pair);
  return pair.user;
}

export async function signOut() {
  if (session) {
    await api("POST", "/v1/auth/logout", null).catch(() => {});
  }
  forget();
}

function forget() {
  session = null;
  localStorage.removeItem(SESSION_KEY);
  for (const fn of signedOut) fn();
}

/** A valid access token, refreshed first when it expires within a minute. */
export async function token() {
  if (!session) throw new ApiError(401, "unauthenticated", t("error.signedOut"));
  if (session.expires_at - Date.now() > 60_000) return session.access_token;
  return refresh();
}

function refresh() {
  refreshing ??= (async () => {
    try {
      const response = await fetch("/v1/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: session.refresh_token }),
      });
      if (response.status === 401 || response.status === 403) {
        forget();
        throw new ApiError(401, "token_expired", t("error.signedOut"));
      }
      if (!response.ok) throw await errorOf(response);
      store(await response.json());
      return session.access_token;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export class ApiError extends Error {
  constructor(status, code, message, details, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
    /** Seconds to wait before trying again (`rate_limited`, a busy server), or null. */
    this.retryAfter = retryAfter ?? null;
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  const error = (body && body.error) || {};
  return new ApiError(response.status, error.code || "http_" + response.status,
    error.message || response.statusText, error.details, error.retry_after);
}

/**
 * A REST call as the signed-in user. JSON in and out; `raw` sends a body as it is (CSV).
 * An expired token is refreshed and the call made once more.
 */
export async function api(method, path, body, { anonymous = false, raw = null, contentType } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (!anonymous) headers.authorization = "Bearer " + (await token());
    let payload;
    if (raw !== null) {
      payload = raw;
      headers["content-type"] = contentType || "text/plain";
    } else if (body !== null && body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    const response = await fetch(path, { method, headers, body: payload });
    if (response.status === 401 && !anonymous && attempt === 0) {
      await refresh();
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }
}

/** A media URL playable by `<audio>`/`<video>`, which cannot send headers. */
export async function mediaUrl(path) {
  return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(await token())}`;
}

// --- Uploads (tus 1.0) -------------------------------------------------------------------------

const TUS_VERSION = "1.0.0";
/** Bytes per PATCH: progress moves once a chunk is in, and a cut loses at most this much. */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Waits (ms) before each new try after a network error or a busy server; then it fails. */
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

/** Base64 of a string's UTF-8 bytes, as `Upload-Metadata` values are. */
function base64Utf8(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One file sent to `/v1/uploads` with tus 1.0: created with its name (or `name`, as for a new
 * version of a file named otherwise) and `channel`, making it an attachment, or `folder`, putting
 * it in the library (with `comment`, said of the version); then sent in chunks. A network error,
 * a busy server or an offset the server disagrees with is followed by `HEAD`, which says where
 * the upload stands, and the rest goes from there; `pause()` stops at once and `resume()` does
 * the same. `onChange` is called on every step; `state` is `uploading`, `paused`, `failed` (with
 * `error`), `done` (with `fileId`) or `removed`.
 */
export class Upload {
  constructor(file, { channel = null, folder = null, name = null, comment = "", onChange = () => {} } = {}) {
    this.file = file;
    this.channel = channel;
    this.folder = folder;
    this.name = name || file.name || "file";
    this.comment = comment;
    this.onChange = onChange;
    this.state = "paused";
    /** Bytes the server has, as it last said. */
    this.sent = 0;
    /** The upload's URL once created. */
    this.url = null;
    this.fileId = null;
    this.error = null;
    /** Bumped by pause/remove: a loop started before gives up. */
    this.generation = 0;
    this.controller = null;
  }

  start() {
    this.resume();
    return this;
  }

  pause() {
    if (this.state !== "uploading") return;
    this.generation += 1;
    this.state = "paused";
    this.controller?.abort();
    this.onChange(this);
  }

  resume() {
    if (this.state === "uploading" || this.state === "done" || this.state === "removed") return;
    this.generation += 1;
    this.state = "uploading";
    this.error = null;
    this.onChange(this);
    this.run(this.generation, Boolean(this.url));
  }

  /** Stop and forget: the unfinished upload is terminated, a finished file put in the trash. */
  remove() {
    const wasDone = this.state === "done";
    this.generation += 1;
    this.state = "removed";
    this.controller?.abort();
    if (wasDone && this.fileId) api("DELETE", `/v1/files/${this.fileId}`, null).catch(() => {});
    else if (this.url) this.request("DELETE", this.url).catch(() => {});
  }

  async run(generation, locate) {
    const live = () => this.generation === generation;
    let failures = 0;
    while (live() && this.state === "uploading") {
      try {
        if (!this.url) await this.create();
        else if (locate) await this.locate();
        else await this.patch();
        locate = false;
        failures = 0;
      } catch (err) {
        if (!live()) return;
        // `423` is a busy upload (it says when to retry) or a file someone holds the edit
        // lock of (it does not: that waits for a person, so the upload fails with the reason).
        const again = !(err instanceof ApiError) || err.status >= 500 || [409, 429].includes(err.status)
          || (err.status === 423 && err.retryAfter !== null);
        if (!again || failures >= RETRY_MS.length) {
          this.state = "failed";
          this.error = err instanceof ApiError ? err : new ApiError(0, "network", t("attach.networkError"));
          this.onChange(this);
          return;
        }
        await sleep(err.retryAfter ? err.retryAfter * 1000 : RETRY_MS[failures]);
        failures += 1;
        locate = Boolean(this.url);
      }
    }
  }

  async create() {
    const meta = [`filename ${base64Utf8(this.name)}`];
    if (this.channel !== null) meta.push(`channel ${base64Utf8(String(this.channel))}`);
    if (this.folder !== null) meta.push(`folder ${base64Utf8(String(this.folder))}`);
    if (this.comment) meta.push(`comment ${base64Utf8(this.comment)}`);
    const response = await this.request("POST", "/v1/uploads", {
      "upload-length": String(this.file.size),
      "upload-metadata": meta.join(","),
    });
    this.url = response.headers.get("location");
    this.sent = 0;
    this.took(response);
  }

  /** `HEAD`: where the server's copy stands. A vanished upload (expired) starts over. */
  async locate() {
    try {
      const response = await this.request("HEAD", this.url);
      this.sent = Number(response.headers.get("upload-offset")) || 0;
      this.took(response);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      this.url = null;
      this.sent = 0;
    }
  }

  async patch() {
    const end = Math.min(this.file.size, this.sent + CHUNK_BYTES);
    const response = await this.request("PATCH", this.url, {
      "upload-offset": String(this.sent),
      "content-type": "application/offset+octet-stream",
    }, this.file.slice(this.sent, end));
    this.sent = Number(response.headers.get("upload-offset")) || end;
    this.took(response);
  }

  /** Progress, and the file once the server made it. */
  took(response) {
    const id = response.headers.get("parley-file-id");
    if (this.state === "removed") {
      // Removed while this request was on its way: what it made goes too.
      if (id) api("DELETE", `/v1/files/${id}`, null).catch(() => {});
      else if (this.url) this.request("DELETE", this.url).catch(() => {});
      return;
    }
    if (id) {
      this.fileId = Number(id);
      this.sent = this.file.size;
      this.state = "done";
    }
    this.onChange(this);
  }

  /** One tus request as the signed-in user; an expired token is refreshed once. */
  async request(method, url, headers = {}, body = undefined) {
    this.controller = new AbortController();
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url, {
        method, body, signal: this.controller.signal,
        headers: { ...headers, authorization: "Bearer " + (await token()), "tus-resumable": TUS_VERSION },
      });
      if (response.status === 401 && attempt === 0) {
        await refresh();
        continue;
      }
      if (!response.ok) throw await errorOf(response);
      return response;
    }
  }
}

/**
 * A link that downloads what `path` serves (`…/content?download=true`), saved as `name`. A link
 * cannot send headers, so the address carries the access token (as media do); a click signs it
 * afresh, since a page may stay open for hours.
 */
export function downloadLink(path, name, attrs, ...children) {
  const link = h("a", { ...attrs, download: name }, ...children);
  mediaUrl(path).then((url) => { link.href = url; }, () => {});
  link.addEventListener("click", (e) => {
    e.preventDefault();
    mediaUrl(path).then((url) => {
      link.href = url;
      h("a", { href: url, download: name }).click();
    }, showError);
  });
  return link;
}

// --- Formatting ------------------------------------------------------------------------------

export function formatTime(ms) {
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString(document.documentElement.lang, {
        month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      });
}

export function formatDate(ms) {
  return new Date(ms).toLocaleDateString(document.documentElement.lang, {
    year: "numeric", month: "short", day: "numeric",
  });
}

/** Bytes as people read them: `812 B`, `48.2 KB`, `1.5 MB` (powers of 1024). */
export function formatSize(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let n = Number(bytes) || 0;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || n >= 100 ? 0 : 1;
  return `${n.toLocaleString(document.documentElement.lang, { maximumFractionDigits: digits })} ${units[unit]}`;
}

/** Seconds as `m:ss` or `h:mm:ss`. */
export function formatOffset(secs) {
  const s = Math.max(0, Math.floor(secs));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** Initials for an avatar: the first two letters of a Latin name, the first character otherwise. */
export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/);
  if (/^[\p{Script=Latin}]/u.test(words[0])) {
    return words.slice(0, 2).map((w) => w[0].toUpperCase()).join("");
  }
  return Array.from(words[0])[0] || "?";
}

/**
 * A stable colour for a user id, behind their white initials: its hue spread by the id, darkened
 * until the initials have a contrast of at least 4.5:1 (WCAG AA; yellows, greens and cyans are
 * too light at the usual lightness).
 */
export function colour(id) {
  const hue = (Number(id) * 137) % 360;
  const sat = 0.55;
  const linear = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  let light = 45;
  for (; light > 20; light -= 1) {
    // HSL to RGB (CSS Color 4), then the relative luminance against white's 1.
    const l = light / 100;
    const a = sat * Math.min(l, 1 - l);
    const f = (n) => {
      const k = (n + hue / 30) % 12;
      return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    };
    const lum = 0.2126 * linear(f(0)) + 0.7152 * linear(f(8)) + 0.0722 * linear(f(4));
    if (1.05 / (lum + 0.05) >= 4.6) break;
  }
  return `hsl(${hue}, 55%, ${light}%)`;
}

// --- Toasts ----------------------------------------------------------------------------------

/** Show a short message at the bottom; errors stay a little longer. */
/**
 * Take files dropped on `root` while `open()` says so (`onFiles(files)`), with the class
 * `dropping` on it while they hover; files dropped anywhere else in the page are ignored
 * rather than opened by the browser in the app's place. Returns what stops it.
 * @param {HTMLElement} root
 * @param {() => boolean} open
 * @param {(files: File[]) => void} onFiles
 * @returns {() => void}
 */
export function dropZone(root, open, onFiles) {
  let depth = 0;
  const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  const ignore = (e) => {
    if (!carriesFiles(e) || (root.contains(e.target) && open())) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "none";
  };
  document.addEventListener("dragover", ignore);
  document.addEventListener("drop", ignore);
  const over = (e) => {
    if (!carriesFiles(e) || !open()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    root.classList.add("dropping");
  };
  root.addEventListener("dragenter", (e) => {
    if (carriesFiles(e)) depth += 1;
    over(e);
  });
  root.addEventListener("dragover", over);
  root.addEventListener("dragleave", (e) => {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) root.classList.remove("dropping");
  });
  root.addEventListener("drop", (e) => {
    if (!carriesFiles(e) || !open()) return;
    e.preventDefault();
    depth = 0;
    root.classList.remove("dropping");
    onFiles([...e.dataTransfer.files]);
  });
  return () => {
    document.removeEventListener("dragover", ignore);
    document.removeEventListener("drop", ignore);
  };
}

export function toast(text, kind = "info") {
  const host = document.getElementById("toasts");
  if (!host) return;
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  host.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

/** A caught error as a toast, with the server's message when there is one. */
export function showError(error) {
  console.error(error);
  toast(error && error.message ? error.message : String(error), "error");
}

/** A modal dialog; resolves with what `build(close)` passes to close, or null when dismissed. */
export function dialog(title, build) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const close = (value) => {
      backdrop.remove();
      if (previous && previous.focus) previous.focus();
      resolve(value ?? null);
    };
    const box = h("div", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-label": title },
      h("h2", null, title), build(close));
    const backdrop = h("div", {
      class: "backdrop",
      onclick: (e) => e.target === backdrop && close(null),
      onkeydown: (e) => e.key === "Escape" && close(null),
    }, box);
    document.body.append(backdrop);
    const first = box.querySelector("input, select, textarea, button");
    if (first) first.focus();
  });
}

/**
 * The app's own confirmation for a destructive action (never the browser's confirm()): resolves
 * true when the person presses the action's button, false on Cancel, Esc or a click outside.
 */
export async function confirmAction(title, text, action, { danger = true } = {}) {
  const answer = await dialog(title, (close) => h("div", { class: "confirm" },
    h("p", null, text),
    h("div", { class: "dialog-actions" },
      h("button", { type: "button", onclick: () => close(false) }, t("cancel")),
      h("button", {
        type: "button",
        class: danger ? "danger confirm-ok" : "confirm-ok",
        onclick: () => close(true),
      }, action))));
  return answer === true;
}
