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

/** A stable colour for a user id. */
export function colour(id) {
  return `hsl(${(Number(id) * 137) % 360}, 55%, 45%)`;
}

// --- Toasts ----------------------------------------------------------------------------------

/** Show a short message at the bottom; errors stay a little longer. */
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
