// The Parley web app: sign-in, the sidebar of channels, the message view, urgent pings, and the
// routes to meetings (meeting.js), minutes and tasks (minutes.js), the file library (library.js),
// the knowledge base (knowledge.js, article.js), the inbox (notifications.js) and administration
// (admin.js). The search box (search.js) stays at the top of the sidebar.
// The shell also owns: the channel header (its less-used actions fold into a "More" menu on a
// phone), browser notifications while the tab is hidden (not while the user is "dnd", not for a
// channel muted here), the unread total in the tab's title, the keyboard (Ctrl/⌘+K switches
// channel, "?" lists the shortcuts), and the service worker that lets the app open offline.
// Everything live goes through the SDK's ParleyClient, which resumes after a network drop with
// nothing lost and nothing shown twice.

import { ParleyClient } from "/sdk/parley.js";
import { t, lang, setLang, LANGS } from "./i18n.js";
import {
  h, mount, api, token, me, signedIn, signIn, signOut, onSignedOut, formatTime,
  toast, showError, dialog,
} from "./ui.js";
import { icon } from "./icons.js";
import { renderMeeting, renderBridge, leaveCall } from "./meeting.js";
import { renderTasks, renderMeetings, renderMinutes } from "./minutes.js";
import { renderAdmin, renderDashboard } from "./admin.js";
import { ChatView } from "./chat.js";
import { renderLibrary } from "./library.js";
import { renderKnowledge } from "./knowledge.js";
import { renderArticle } from "./article.js";
import { searchBox, openSearch } from "./search.js";
import { avatar, editProfile, showProfile, openDirect, renderBrowse } from "./people.js";
import { initCalls, onCallEvent, callBar, liveMark, ringDialog } from "./calls.js";
import {
  renderNotifications, notificationText, notificationHref, notificationArrived, loadUnread, permissionCard,
} from "./notifications.js";

const CATEGORY_ORDER = ["department", "project", "customer", "supplier", "partner", "temporary"];

/** Everything the app knows, kept current by the client's events. */
export const state = {
  /** @type {ParleyClient | null} */
  client: null,
  connection: "connecting",
  /** channel id → the `channels` summary ({channel, last_seq, read_seq, unread, last_message}) */
  channels: new Map(),
  /** user id → {id, name} as far as we know them */
  users: new Map(),
  /** user id → presence state */
  presence: new Map(),
  /** user id → their status text ("" when none) */
  statusText: new Map(),
  /** channel id → members */
  members: new Map(),
  /** message id → the urgent ping waiting for my acknowledgement */
  pings: new Map(),
  /** message id → Map(user id → roster entry), for pings I sent */
  rosters: new Map(),
  /** channel id → Map(user id → read_seq), for small channels */
  readState: new Map(),
  /** the open chat views, which follow their channel's events */
  views: new Set(),
  current: null,
  /** unread notifications in the inbox (notifications.js) */
  notifUnread: 0,
};

/** What the other modules get: the live state and a few operations. */
export const ctx = {
  state,
  get client() {
    return state.client;
  },
  userName,
  members: channelMembers,
  chat: (el, channel, options) => new ChatView(el, channel, options),
  navigate: (hash) => {
    location.hash = hash;
  },
  channelName,
};

// --- Start ---------------------------------------------------------------------------------

const root = document.getElementById("app");
document.documentElement.lang = lang();
document.title = "Parley";

onSignedOut(() => {
  if (state.client) state.client.close();
  state.client = null;
  showSignIn();
});

if (signedIn()) start();
else showSignIn();
registerServiceWorker();
document.addEventListener("visibilitychange", () => updateTitle());

/** The service worker (`/sw.js`) keeps the app shell, so the app opens without a network. */
function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => console.warn("service worker", err));
}

function showSignIn(error) {
  const email = h("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const message = h("p", { class: "form-error", role: "alert" }, error || "");
  const form = h("form", {
    class: "signin",
    onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = "";
      try {
        // A server busy checking other passwords (a crowd signing in at nine) says when to
        // come back: wait that long and try again, a few times, before saying so.
        for (let attempt = 0; ; attempt++) {
          try {
            await signIn(email.value.trim(), password.value);
            break;
          } catch (err) {
            if (err.code !== "unavailable" || !err.retryAfter || attempt >= 4) throw err;
            message.textContent = t("signin.busy");
            await new Promise((r) => setTimeout(r, err.retryAfter * 1000 * (1 + Math.random())));
          }
        }
        start();
      } catch (err) {
        message.textContent = err.code === "rate_limited"
          ? t("signin.throttled", { n: err.retryAfter || 1 })
          : err.code === "invalid_credentials" || err.status === 401
            ? t("signin.failed") : err.message;
      }
    },
  },
    h("img", { src: "/app/icon.svg", alt: "", class: "signin-logo" }),
    h("h1", null, t("signin.title")),
    h("label", { for: "email" }, t("signin.email")), email,
    h("label", { for: "password" }, t("signin.password")), password,
    message,
    h("button", { type: "submit", class: "primary" }, t("signin.submit")),
    languageSwitch());
  mount(root, h("main", { class: "signin-page" }, form));
  email.focus();
}

function languageSwitch() {
  return h("select", {
    class: "lang", "aria-label": t("lang.choose"),
    onchange: (e) => {
      setLang(e.target.value);
      location.reload();
    },
  }, LANGS.map(([code, label]) => h("option", { value: code, selected: code === lang() }, label)));
}

async function start() {
  const user = me();
  state.users.set(user.id, user);
  mount(root,
    h("div", { class: "shell" },
      // The search box is made once and kept: the sidebar's other parts are drawn again on
      // every event, which would take the keyboard (and a half-typed Chinese word) from it.
      h("aside", { class: "sidebar", "aria-label": t("nav.sidebar") },
        h("header", { class: "side-header", id: "side-header" }),
        searchBox(),
        h("div", { class: "side-body", id: "sidebar" })),
      h("main", { class: "main", id: "main", tabindex: "-1" })),
    h("div", { class: "banners", id: "banners", "aria-live": "assertive" }),
    h("div", { class: "connection", id: "connection", role: "status", "aria-live": "polite" }),
    h("div", { class: "toasts", id: "toasts" }));
  const client = new ParleyClient({ url: location.origin, token });
  state.client = client;
  initCalls({ state, userName, channelName, renderSidebar });
  client.on("connection", ({ state: s }) => showConnection(s));
  client.on("*", onEvent);
  client.on("error", (e) => showError(e));
  try {
    await client.connect();
  } catch (err) {
    showError(err);
    return;
  }
  await Promise.all([loadChannels(), loadDirectory(), loadUnread()]);
  renderSidebar();
  // Pings still waiting arrived with the resume, before the names were known.
  renderBanners();
  window.addEventListener("hashchange", route);
  route();
  // Browser notifications are asked for by the sidebar's card (permissionCard), after a click.
}

function showConnection(s) {
  state.connection = s;
  const el = document.getElementById("connection");
  if (!el) return;
  el.dataset.state = s;
  el.textContent = s === "reconnecting" ? t("connection.reconnecting")
    : s === "connecting" ? t("connection.connecting") : "";
  if (s === "open") {
    // The resume replayed what was missed; counts may still have changed (read elsewhere).
    loadChannels().then(() => {
      renderSidebar();
      renderBanners();
    }).catch(() => {});
  }
}

async function loadChannels() {
  const reply = await state.client.channels();
  for (const summary of reply.channels) state.channels.set(summary.channel.id, summary);
}

async function loadDirectory() {
  if (me().role === "guest") return;
  try {
    const users = await api("GET", "/v1/users");
    for (const u of users) state.users.set(u.id, u);
  } catch {
    /* a guest or a restricted directory: names come from channel members */
  }
  await refreshPresence();
}

async function refreshPresence() {
  const ids = [...state.users.keys()].slice(0, 500);
  if (!ids.length) return;
  const reply = await state.client.presence(ids).catch(() => null);
  for (const p of (reply && reply.users) || []) {
    state.presence.set(p.user_id, p.state);
    state.statusText.set(p.user_id, p.status_text || "");
  }
}

export function userName(id) {
  if (id === null || id === undefined) return t("user.system");
  const u = state.users.get(id);
  return u ? u.name : `#${id}`;
}

async function channelMembers(channel) {
  if (!state.members.has(channel)) {
    const members = await api("GET", `/v1/channels/${channel}/members`);
    for (const m of members) {
      if (!state.users.has(m.user_id)) state.users.set(m.user_id, { id: m.user_id, name: m.name, role: m.role });
    }
    state.members.set(channel, members);
  }
  return state.members.get(channel);
}

/** A direct channel is shown by the other member's name. */
export function channelName(channel) {
  const summary = state.channels.get(channel);
  if (!summary) return `#${channel}`;
  const c = summary.channel;
  if (c.kind === "direct") {
    const members = state.members.get(channel);
    const other = members && members.find((m) => m.user_id !== me().id);
    if (other) return other.name;
  }
  return c.name;
}

// --- Routing --------------------------------------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const main = document.getElementById("main");
  if (parts[0] !== "meet" && parts[0] !== "bridge") leaveCall();
  for (const view of state.views) view.close();
  state.current = null;
  document.body.dataset.route = parts[0] || "home";
  const id = Number(parts[1]);
  try {
    switch (parts[0]) {
      case "c":
        // `#/c/12/m/7`: the channel opened at the message with seq 7 (a search result).
        state.current = id;
        openChannel(main, id, parts[2] === "m" ? Number(parts[3]) || null : null);
        break;
      case "meet":
        state.current = id;
        renderMeeting(main, ctx, id);
        break;
      case "bridge":
        state.current = id;
        renderBridge(main, ctx, id, Number(parts[2]));
        break;
      case "tasks":
        // `#/tasks/5`: "My tasks" at task 5 (a search result).
        renderTasks(main, ctx, id || null);
        break;
      case "meetings":
        renderMeetings(main, ctx);
        break;
      case "minutes":
        // `#/minutes/3/t/130`: the meeting's page with its recording at 130 s (a search result).
        renderMinutes(main, ctx, id, parts[2] === "t" ? Number(parts[3]) : null);
        break;
      case "files":
        renderLibrary(main, parts);
        break;
      case "kb":
        renderKnowledge(main, parts);
        break;
      case "articles":
        renderArticle(main, parts);
        break;
      case "admin":
        renderAdmin(main, ctx, parts[1] || "users");
        break;
      case "dashboard":
        renderDashboard(main, ctx);
        break;
      case "notifications":
        renderNotifications(main);
        break;
      case "browse":
        renderBrowse(main, { onJoined: joinedChannel });
        break;
      default: {
        const first = sortedChannels()[0];
        if (first && window.matchMedia("(min-width: 721px)").matches) {
          location.replace(`#/c/${first.channel.id}`);
        } else if (first) {
          mount(main, h("div", { class: "empty" }, t("home.pick")));
        } else {
          mount(main, h("section", { class: "page home-empty" }, noChannels({ heading: "h1" })));
        }
      }
    }
  } catch (err) {
    showError(err);
  }
  renderSidebar();
}

// --- Sidebar --------------------------------------------------------------------------------

function sortedChannels() {
  return [...state.channels.values()]
    .filter((s) => !s.channel.archived)
    .sort((a, b) => lastActivity(b) - lastActivity(a));
}

const lastActivity = (s) => (s.last_message ? s.last_message.created_at : s.channel.created_at);

export function renderSidebar() {
  const el = document.getElementById("sidebar");
  const head = document.getElementById("side-header");
  if (!el || !head) return;
  const user = me();
  const all = sortedChannels();
  const direct = all.filter((s) => s.channel.kind === "direct");
  const groups = new Map();
  for (const s of all.filter((s) => s.channel.kind !== "direct")) {
    const key = s.channel.kind === "announcement" ? "announcement" : s.channel.category;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  const order = ["announcement", ...CATEGORY_ORDER];
  const sections = order.filter((k) => groups.has(k)).map((k) =>
    h("section", { class: "side-section" },
      h("h2", null, t(`category.${k}`)),
      h("ul", null, groups.get(k).map(channelLink))));
  // Direct channels' names need their members; fetch the ones we lack, then draw again.
  const missing = direct.filter((s) => !state.members.has(s.channel.id));
  if (missing.length) {
    Promise.all(missing.map((s) => channelMembers(s.channel.id))).then(renderSidebar, () => {});
  }
  const myState = state.presence.get(user.id) || "online";
  const mine = state.users.get(user.id) || user;
  mount(head,
    avatar(mine),
    h("div", { class: "me" },
      // The name opens your profile; its visible text is its accessible name.
      h("button", {
        type: "button", class: "profile-open", title: t("people.editProfile"),
        dataset: { action: "edit-profile" }, onclick: openProfileEditor,
      }, h("strong", null, mine.name)),
      h("select", {
        class: "presence-select", "aria-label": t("presence.choose"),
        onchange: (e) => {
          const chosen = e.target.value;
          state.client.setPresence({ state: chosen }).then(() => state.presence.set(user.id, chosen), showError);
        },
      }, ["online", "away", "dnd"].map((s) => h("option", { value: s, selected: s === myState }, t(`presence.${s}`))))),
    h("button", { class: "icon", title: t("signout"), "aria-label": t("signout"), onclick: () => signOut() }, signOutIcon()));
  const inbox = state.notifUnread;
  mount(el,
    h("nav", { class: "side-nav", "aria-label": t("nav.main") },
      navLink("#/notifications", [t("nav.notifications"), inbox ? [
        h("span", { class: "badge nav-badge", "aria-hidden": "true" }, inbox > 99 ? "99+" : inbox),
        h("span", { class: "sr-only" }, t("notif.unread", { n: inbox }))] : null]),
      navLink("#/tasks", t("nav.tasks")),
      navLink("#/meetings", t("nav.meetings")),
      navLink("#/files", t("nav.files")),
      navLink("#/kb", t("nav.kb"), "#/articles/"),
      user.role !== "guest" ? navLink("#/browse", t("browse.nav")) : null,
      user.role === "admin" || user.role === "dept_admin" ? navLink("#/admin", t("nav.admin")) : null,
      user.role === "admin" ? navLink("#/dashboard", t("nav.dashboard")) : null),
    h("div", { class: "side-actions" },
      h("button", { onclick: newDirect }, icon("plus"), t("channel.newDirect")),
      user.role !== "guest" ? h("button", { onclick: newGroup }, icon("plus"), t("channel.newGroup")) : null),
    permissionCard(),
    h("div", { class: "side-scroll" },
      sections,
      direct.length ? h("section", { class: "side-section" },
        h("h2", null, t("category.direct")),
        h("ul", null, direct.map(channelLink))) : null,
      all.length ? null : noChannels({ heading: "h2" })),
    h("footer", { class: "side-footer" },
      languageSwitch(),
      h("button", {
        type: "button", class: "icon shortcuts-open", title: t("keys.title"), "aria-label": t("keys.title"),
        "aria-keyshortcuts": "?", onclick: showShortcuts,
      }, icon("keyboard"))));
  updateTitle();
}

/** A door with an arrow leaving it (icons.js has no sign-out icon), in icons.js's style. */
function signOutIcon() {
  const svg = icon("plus");
  svg.replaceChildren(...["M14 4h5v16h-5", "M10 8l-4 4 4 4", "M6 12h10"].map((d) => {
    const path = document.createElementNS(svg.namespaceURI, "path");
    path.setAttribute("d", d);
    return path;
  }));
  return svg;
}

/**
 * The tab's title: the unread total first, "(3) Parley", so a background tab shows it. The open
 * channel counts only while the tab is hidden (when it is seen, it is read).
 */
function updateTitle() {
  let total = state.notifUnread || 0;
  const hidden = document.visibilityState !== "visible";
  for (const s of state.channels.values()) {
    if (!s.channel.archived && (hidden || state.current !== s.channel.id)) total += s.unread || 0;
  }
  const title = total ? `(${total > 999 ? "999+" : total}) Parley` : "Parley";
  if (document.title !== title) document.title = title;
}

/**
 * What to do with no channel yet, in the sidebar and on the home page: admins create one or
 * invite people first; members message someone or browse while they ask to be added; guests ask
 * whoever invited them.
 */
function noChannels({ heading }) {
  const user = me();
  const admin = user.role === "admin" || user.role === "dept_admin";
  const guest = user.role === "guest";
  const text = admin ? t("empty.admin") : guest ? t("empty.guest") : t("empty.member");
  return h("div", { class: "no-channels" },
    h(heading, null, admin ? t("empty.adminTitle") : t("empty.memberTitle")),
    h("p", null, text),
    h("div", { class: "no-channels-actions" },
      admin ? h("button", { type: "button", class: "primary", onclick: newGroup, dataset: { action: "create-channel" } },
        icon("plus"), t("empty.createChannel")) : null,
      admin ? h("a", { class: "button", href: "#/admin/users", dataset: { action: "invite" } }, icon("people"), t("empty.invite")) : null,
      !admin && !guest ? h("button", { type: "button", onclick: newDirect, dataset: { action: "message-someone" } },
        icon("chat"), t("empty.message")) : null,
      !guest ? h("a", { class: "button", href: "#/browse", dataset: { action: "browse" } }, icon("search"), t("browse.nav")) : null,
      !guest ? h("a", { class: "button", href: "#/kb" }, icon("book"), t("empty.browse")) : null));
}

/** A section's link, shown as the current one on its pages (and on those under `also`). */
function navLink(href, label, also = null) {
  const active = location.hash.startsWith(href) || Boolean(also && location.hash.startsWith(also));
  return h("a", { href, class: active ? "active" : null, "aria-current": active ? "page" : null }, label);
}

function channelLink(summary) {
  const c = summary.channel;
  const active = state.current === c.id;
  let dot = null;
  if (c.kind === "direct") {
    const members = state.members.get(c.id);
    const other = members && members.find((m) => m.user_id !== me().id);
    const p = (other && state.presence.get(other.user_id)) || "offline";
    dot = [h("span", { class: `dot presence-${p}`, title: t(`presence.${p}`) }), h("span", { class: "sr-only" }, t(`presence.${p}`))];
  }
  const unread = active ? 0 : summary.unread;
  return h("li", null,
    h("a", {
      href: `#/c/${c.id}`,
      class: `channel-link${active ? " active" : ""}${unread ? " has-unread" : ""}`,
      "aria-current": active ? "page" : null,
      dataset: { channel: c.id },
    },
      dot || h("span", { class: "hash", "aria-hidden": "true" }, c.kind === "announcement" ? icon("megaphone", { size: 14 }) : "#"),
      h("span", { class: "name" }, channelName(c.id)),
      liveMark(c.id),
      isMuted(c.id) ? h("span", { class: "muted-icon", title: t("shell.mutedTag") }, icon("speaker-off", { size: 14 }),
        h("span", { class: "sr-only" }, t("shell.mutedTag"))) : null,
      unread ? [h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : unread),
        h("span", { class: "sr-only" }, t("channel.unread", { n: unread }))] : null));
}

async function pickUsers(title, { single }) {
  const users = [...state.users.values()].filter((u) => u.id !== me().id && !u.disabled);
  return dialog(title, (close) => {
    const name = h("input", { id: "group-name", required: !single });
    const open = h("input", { id: "group-open", type: "checkbox" });
    const list = h("div", { class: "pick-list", role: "group", "aria-label": t("channel.members") },
      users.map((u) => h("label", { class: "pick" },
        h("input", { type: single ? "radio" : "checkbox", name: "pick", value: u.id }),
        " ", u.name, h("span", { class: "muted" }, " ", u.email || ""))));
    return h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        const chosen = [...list.querySelectorAll("input:checked")].map((i) => Number(i.value));
        if (!chosen.length) return;
        close({ name: name.value.trim(), members: chosen, open: open.checked });
      },
    },
      single ? null : [h("label", { for: "group-name" }, t("channel.name")), name,
        h("label", { class: "check", for: "group-open" }, open, " ", t("channel.openLabel"))],
      users.length ? list : h("p", { class: "muted" }, t("channel.nobody")),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "primary" }, t("create"))));
  });
}

async function newDirect() {
  const chosen = await pickUsers(t("channel.newDirect"), { single: true });
  if (!chosen) return;
  const existing = [...state.channels.values()].find((s) => s.channel.kind === "direct"
    && (state.members.get(s.channel.id) || []).some((m) => m.user_id === chosen.members[0]));
  if (existing) {
    location.hash = `#/c/${existing.channel.id}`;
    return;
  }
  await createChannel({ name: "direct", kind: "direct", category: "project", members: chosen.members });
}

async function newGroup() {
  const chosen = await pickUsers(t("channel.newGroup"), { single: false });
  if (!chosen) return;
  await createChannel({ name: chosen.name, kind: "group", category: "project", members: chosen.members, open: chosen.open });
}

async function createChannel(body) {
  try {
    const channel = await api("POST", "/v1/channels", body);
    // `channel_joined` adds it too; add it now so the link works at once.
    if (!state.channels.has(channel.id)) {
      state.channels.set(channel.id, { channel, last_seq: 0, read_seq: 0, unread: 0, last_message: null });
    }
    location.hash = `#/c/${channel.id}`;
  } catch (err) {
    showError(err);
  }
}

// --- Events ---------------------------------------------------------------------------------

function onEvent(event) {
  if (onCallEvent(event)) return;
  switch (event.type) {
    case "message": {
      const summary = state.channels.get(event.channel);
      if (summary) {
        summary.last_seq = Math.max(summary.last_seq, event.seq);
        summary.last_message = event.message;
        const mine = event.message.sender === me().id;
        const looking = state.current === event.channel && document.visibilityState === "visible";
        if (!mine && !looking) summary.unread += 1;
      }
      if (isPingForMe(event.message)) showPing(event.message, false);
      else notifyMessage(event.channel, event.message);
      renderSidebar();
      break;
    }
    case "message_edited":
    case "message_recalled":
    case "message_pinned":
    case "reaction_changed": {
      const summary = state.channels.get(event.channel);
      if (summary) summary.last_seq = Math.max(summary.last_seq, event.seq);
      if (event.type === "message_recalled" && state.pings.has(event.message_id)) {
        dropPing(event.message_id);
      }
      break;
    }
    case "read_marker": {
      const summary = state.channels.get(event.channel);
      if (summary) {
        summary.read_seq = event.read_seq;
        summary.unread = event.unread;
        renderSidebar();
      }
      break;
    }
    case "member_read": {
      const marks = state.readState.get(event.channel);
      if (marks) marks.set(event.user_id, Math.max(marks.get(event.user_id) || 0, event.read_seq));
      break;
    }
    case "presence_changed":
      state.presence.set(event.user_id, event.state);
      state.statusText.set(event.user_id, event.status_text || "");
      renderSidebar();
      break;
    case "pending_pings":
      for (const ping of event.pings) showPing(ping, false);
      break;
    case "ping_reminder":
      showPing(event.message, true);
      break;
    case "ping_update": {
      const roster = state.rosters.get(event.message_id);
      if (roster) roster.set(event.recipient.user_id, event.recipient);
      break;
    }
    case "channel_joined":
      if (!state.channels.has(event.channel.id)) {
        state.channels.set(event.channel.id, { channel: event.channel, last_seq: 0, read_seq: 0, unread: 0, last_message: null });
      }
      renderSidebar();
      break;
    case "channel_left":
      state.channels.delete(event.channel);
      if (state.current === event.channel) location.hash = "#/";
      renderSidebar();
      break;
    case "notification":
      onNotification(event.notification);
      break;
    case "user_updated":
      userUpdated(event.user);
      break;
    default:
      break;
  }
  for (const view of state.views) view.onEvent(event);
}

/** Someone's name, title, time zone or picture changed: redraw what shows them. */
function userUpdated(card) {
  state.users.set(card.id, { ...(state.users.get(card.id) || {}), ...card, title: card.title, time_zone: card.time_zone, avatar: card.avatar });
  for (const members of state.members.values()) {
    for (const m of members) {
      if (m.user_id === card.id) {
        m.name = card.name;
        m.avatar = card.avatar;
      }
    }
  }
  if (card.id === me().id) me().name = card.name;
  renderSidebar();
  renderBanners();
  for (const view of state.views) view.renderAll();
}

async function openProfileEditor() {
  await editProfile(ctx, {
    onSaved: (user) => userUpdated(user),
    setStatus: (text) => state.client.setPresence({ status_text: text }),
    statusText: state.statusText.get(me().id) || "",
  });
}

/** A channel joined from "Browse channels": in the sidebar at once, and opened. */
function joinedChannel(channel) {
  if (!state.channels.has(channel.id)) {
    state.channels.set(channel.id, { channel, last_seq: 0, read_seq: 0, unread: 0, last_message: null });
  }
  toast(t("browse.joined", { name: channel.name }));
  location.hash = `#/c/${channel.id}`;
}

function onNotification(n) {
  const text = notificationText(n);
  // The notice opens what it is about (an article, a task, minutes...).
  const href = notificationHref(n);
  toast(href ? h("a", { class: "toast-link", href, dataset: { kind: n.kind, article: n.article ? n.article.id : null } }, text) : text);
  notificationArrived(n);
  notify("Parley", text, href);
}

// --- Browser notifications ------------------------------------------------------------------

const MUTED_KEY = "parley.mutedChannels";

/** Channels muted on this device: their messages still count as unread but never pop up. */
function mutedChannels() {
  try {
    return new Set(JSON.parse(localStorage.getItem(MUTED_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

export const isMuted = (channel) => mutedChannels().has(channel);

function setMuted(channel, muted) {
  const set = mutedChannels();
  if (muted) set.add(channel);
  else set.delete(channel);
  localStorage.setItem(MUTED_KEY, JSON.stringify([...set]));
}

/** Someone else's message, while this tab is hidden: a browser notification (unless muted). */
function notifyMessage(channel, message) {
  if (!message || message.sender === me().id || message.recalled_at) return;
  if (isMuted(channel)) return;
  const mentioned = (message.mentions || []).includes(me().id);
  const title = t(mentioned ? "notif.mention" : "notif.message", { name: userName(message.sender), channel: channelName(channel) });
  notify(title, message.body || t("notif.attachment"), `#/c/${channel}`);
}

/**
 * A browser notification, only while the tab is hidden (a visible one shows it already), never
 * while my presence is "dnd"; urgent pings (`urgent`) reach a hidden tab even then, because their
 * sender asked for an acknowledgement. A click brings the tab forward at `href`.
 */
function notify(title, body, href = null, { urgent = false } = {}) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible") return;
  if (!urgent && state.presence.get(me().id) === "dnd") return;
  try {
    const shown = new Notification(title, { body: body || "", tag: href || title, icon: "/app/icon-192.png" });
    if (href) {
      shown.onclick = () => {
        window.focus();
        location.hash = href;
      };
    }
  } catch {
    /* some browsers allow notifications only from a service worker */
  }
}

// --- Urgent pings ---------------------------------------------------------------------------

function isPingForMe(message) {
  if (!message || message.priority !== "urgent" || !message.ack_requested) return false;
  if (message.sender === me().id || message.recalled_at) return false;
  const mentions = message.mentions || [];
  return mentions.length === 0 || mentions.includes(me().id);
}

function showPing(message, reminder) {
  const fresh = !state.pings.has(message.id);
  state.pings.set(message.id, message);
  renderBanners();
  if (!state.users.has(message.sender)) {
    // A guest has no directory: the channel's members name the sender.
    channelMembers(message.channel).then(renderBanners).catch(() => {});
  }
  if (fresh || reminder) {
    beep();
    notify(t("ping.title", { name: userName(message.sender) }), message.body, `#/c/${message.channel}`, { urgent: true });
  }
}

function dropPing(id) {
  state.pings.delete(id);
  renderBanners();
}

function renderBanners() {
  const el = document.getElementById("banners");
  if (!el) return;
  mount(el, [...state.pings.values()].map((ping) => {
    const bridge = ping.action && ping.action.kind === "join_bridge";
    return h("div", { class: "ping-banner", role: "alert", dataset: { message: ping.id } },
      h("span", { class: "ping-icon", "aria-hidden": "true" }, icon("alarm", { size: 22 })),
      h("div", { class: "ping-text" },
        h("strong", null, t("ping.title", { name: userName(ping.sender) })),
        " · ", h("span", { class: "muted-light" }, channelName(ping.channel)),
        h("p", null, ping.body || "")),
      bridge ? h("button", {
        class: "ping-join",
        onclick: async () => {
          await acknowledge(ping);
          location.hash = `#/bridge/${ping.channel}/${ping.id}`;
        },
      }, icon("headset"), t("ping.joinBridge")) : null,
      h("button", { class: "ping-ack primary", onclick: () => acknowledge(ping) }, t("ping.ack")));
  }));
}

async function acknowledge(ping) {
  try {
    await state.client.ack(ping.channel, ping.id);
    dropPing(ping.id);
  } catch (err) {
    if (err.code === "not_found") dropPing(ping.id);
    else showError(err);
  }
}

let audio = null;
/** A short two-tone alert, where the browser lets a page make sound. */
function beep() {
  try {
    audio ??= new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660, 880].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.15, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch {
    /* no audio allowed before a user gesture: the banner and notification remain */
  }
}

// --- The channel view -----------------------------------------------------------------------

async function openChannel(main, id, focusSeq) {
  const summary = state.channels.get(id);
  if (!summary) {
    mount(main, h("div", { class: "empty" }, t("channel.notFound")));
    return;
  }
  const c = summary.channel;
  const members = await channelMembers(id).catch(() => []);
  const label = (text) => h("span", { class: "label" }, text);
  const muteButton = h("button", {
    type: "button", class: "header-action mute-toggle", dataset: { action: "mute" },
    onclick: () => {
      const muted = !isMuted(id);
      setMuted(id, muted);
      drawMute(muted);
      renderSidebar();
      toast(t(muted ? "shell.muted" : "shell.unmuted"));
    },
  });
  const drawMute = (muted) => {
    muteButton.setAttribute("aria-pressed", String(muted));
    muteButton.title = t("shell.muteTitle");
    mount(muteButton, icon(muted ? "speaker-off" : "speaker"), label(t("shell.mute")));
  };
  drawMute(isMuted(id));
  // The less-used actions: beside the title on a wide screen, in the "More" menu on a phone.
  const more = headerMenu(
    canPost(c) ? h("button", { type: "button", class: "header-action", onclick: () => openBridge(id), dataset: { action: "bridge" } },
      icon("headset"), label(t("bridge.open"))) : null,
    h("a", { class: "button header-action", href: `#/files/channel/${id}`, dataset: { action: "library" } },
      icon("folder"), label(t("channel.files"))),
    h("button", { type: "button", class: "header-action", onclick: () => showPins(id), dataset: { action: "pins" } },
      icon("pin"), label(t("channel.pins"))),
    h("button", { type: "button", class: "header-action", onclick: () => showMembers(id, members), dataset: { action: "members" } },
      icon("people"), label(t("channel.members"))),
    canPost(c) && members.length > 1
      ? h("button", { type: "button", class: "header-action", onclick: () => ringDialog(id, members), dataset: { action: "ring" } },
        icon("phone"), label(t("call.ring")))
      : null,
    muteButton);
  const header = h("header", { class: "view-header channel-header" },
    h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")),
    h("div", { class: "title" },
      h("h1", null, channelName(id)),
      h("span", { class: "muted member-count" }, t("channel.memberCount", { n: c.member_count }))),
    // On a phone the sidebar, and the search box at its top, is a screen away.
    h("button", { class: "icon search-open", title: t("search.label"), "aria-label": t("search.label"), onclick: openSearch }, icon("search")),
    c.kind !== "announcement" || canPost(c)
      ? h("a", { class: "button meeting-open", href: `#/meet/${id}`, dataset: { action: "meeting" } },
        icon("video"), h("span", { class: "label" }, t("meeting.startOrJoin")))
      : null,
    more);
  const body = h("div", { class: "chat-host" });
  mount(main, h("section", { class: "channel-view" }, header, callBar(id), body));
  new ChatView(body, id, { focusSeq });
}

/**
 * The header's overflow: on a wide screen its items sit in the header (the toggle is hidden and
 * the menu is laid out inline); below 720 px the "More" button opens them as a menu, which
 * closes on Esc, on a click outside it and once an item is chosen.
 */
function headerMenu(...items) {
  const menuId = `header-menu-${Math.random().toString(36).slice(2, 8)}`;
  const toggle = h("button", {
    type: "button", class: "icon more-toggle", title: t("shell.more"), "aria-label": t("shell.more"),
    "aria-haspopup": "true", "aria-expanded": "false", "aria-controls": menuId,
  }, icon("more"));
  const menu = h("div", { class: "header-menu", id: menuId, role: "group", "aria-label": t("shell.moreActions") }, items);
  const wrap = h("div", { class: "header-more" }, toggle, menu);
  const setOpen = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    wrap.classList.toggle("open", open);
    if (open) {
      document.addEventListener("pointerdown", outside, true);
      document.addEventListener("keydown", onKey, true);
      const first = menu.querySelector("button, a");
      if (first) first.focus();
    } else {
      document.removeEventListener("pointerdown", outside, true);
      document.removeEventListener("keydown", onKey, true);
    }
  };
  const outside = (e) => {
    if (!wrap.contains(e.target)) setOpen(false);
  };
  const onKey = (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      setOpen(false);
      toggle.focus();
    } else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && menu.contains(document.activeElement)) {
      e.preventDefault();
      const all = [...menu.querySelectorAll("button, a")];
      const at = all.indexOf(document.activeElement);
      all[(at + (e.key === "ArrowDown" ? 1 : all.length - 1)) % all.length].focus();
    }
  };
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  // Choosing an item closes the menu (the item's own click runs first).
  menu.addEventListener("click", () => {
    if (wrap.classList.contains("open")) setTimeout(() => setOpen(false));
  });
  window.addEventListener("hashchange", () => setOpen(false), { once: true });
  return wrap;
}

export function canPost(channel) {
  if (channel.kind !== "announcement") return true;
  return me().role === "admin" || channel.created_by === me().id;
}

async function openBridge(channel) {
  const ok = await dialog(t("bridge.open"), (close) => {
    const text = h("textarea", { id: "bridge-text", rows: 2, placeholder: t("bridge.defaultText") });
    const moderated = h("input", { id: "bridge-moderated", type: "checkbox" });
    return h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        close({ body: text.value.trim() || undefined, moderated: moderated.checked });
      },
    }, h("p", null, t("bridge.explain")), h("label", { for: "bridge-text" }, t("bridge.text")), text,
      h("label", { class: "check" }, moderated, " ", t("bridge.moderated")),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "primary danger" }, t("bridge.openNow"))));
  });
  if (!ok) return;
  try {
    const opened = await api("POST", `/v1/channels/${channel}/bridge`, ok);
    location.hash = `#/bridge/${channel}/${opened.message_id}`;
  } catch (err) {
    showError(err);
  }
}

async function showPins(channel) {
  try {
    const reply = await state.client.pins(channel);
    await dialog(t("channel.pins"), (close) => h("div", null,
      reply.messages.length
        ? h("ul", { class: "pin-list" }, reply.messages.map((m) => h("li", null,
          h("strong", null, userName(m.sender)), " ", h("span", { class: "muted" }, formatTime(m.created_at)),
          h("p", null, m.body === null ? t("message.recalled") : m.body))))
        : h("p", { class: "muted" }, t("channel.noPins")),
      h("div", { class: "dialog-actions" }, h("button", { onclick: () => close(null) }, t("close")))));
  } catch (err) {
    showError(err);
  }
}

async function showMembers(channel, members) {
  await dialog(t("channel.members"), (close) => h("div", null,
    h("ul", { class: "member-list" }, members.map((m) => {
      const p = state.presence.get(m.user_id) || "offline";
      return h("li", null, h("span", { class: `dot presence-${p}`, "aria-label": t(`presence.${p}`) }), " ",
        avatar({ id: m.user_id, name: m.name, avatar: m.avatar }, { size: "small" }), " ",
        h("button", {
          type: "button", class: "link member-name", dataset: { user: String(m.user_id) },
          onclick: () => {
            close(null);
            showProfile(ctx, m.user_id, { openDirect: (user) => openDirect(state, user) }).catch(showError);
          },
        }, m.name),
        h("span", { class: "muted" }, " · ", t(`role.${m.role}`)));
    })),
    h("div", { class: "dialog-actions" }, h("button", { onclick: () => close(null) }, t("close")))));
}

// --- Keyboard: the channel switcher and the shortcuts sheet -------------------------------

const typingIn = (el) => el instanceof HTMLElement
  && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

document.addEventListener("keydown", (e) => {
  // Signed out, or a dialog open (it keeps the keyboard, and Esc closes it).
  if (!state.client || e.defaultPrevented || document.querySelector(".backdrop")) return;
  const modK = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "k";
  if (modK) {
    e.preventDefault();
    openSwitcher();
  } else if (e.key === "?" && !e.ctrlKey && !e.metaKey && !e.altKey && !typingIn(e.target)) {
    e.preventDefault();
    showShortcuts();
  }
});

/** Ctrl/⌘+K: type part of a channel's name, arrows choose, Enter opens. */
async function openSwitcher() {
  const channels = sortedChannels();
  const chosen = await dialog(t("switcher.title"), (close) => {
    let matches = channels;
    let at = 0;
    const list = h("ul", { class: "switcher-list", id: "switcher-list", role: "listbox", "aria-label": t("nav.sidebar") });
    const input = h("input", {
      type: "text", id: "switcher-input", class: "switcher-input", autocomplete: "off", spellcheck: "false",
      role: "combobox", "aria-expanded": "true", "aria-controls": "switcher-list", "aria-autocomplete": "list",
      "aria-label": t("switcher.label"), "aria-describedby": "switcher-hint", placeholder: t("switcher.label"),
      oninput: () => draw(),
      onkeydown: (e) => {
        if (e.isComposing) return;
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          if (matches.length) at = (at + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
          mark();
        } else if (e.key === "Enter") {
          e.preventDefault();
          if (matches[at]) close(matches[at].channel.id);
        }
      },
    });
    const mark = () => {
      list.querySelectorAll("[role=option]").forEach((el, i) => el.setAttribute("aria-selected", String(i === at)));
      const current = list.children[at];
      if (current && current.id) {
        input.setAttribute("aria-activedescendant", current.id);
        current.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    };
    const draw = () => {
      const q = input.value.trim().toLowerCase();
      matches = channels.filter((s) => channelName(s.channel.id).toLowerCase().includes(q));
      at = 0;
      mount(list, matches.length ? matches.map((s, i) => h("li", {
        id: `switcher-${s.channel.id}`, role: "option", class: "switcher-item", dataset: { channel: s.channel.id },
        onclick: () => close(s.channel.id),
        onpointermove: () => {
          at = i;
          mark();
        },
      }, h("span", { class: "hash", "aria-hidden": "true" }, s.channel.kind === "direct" ? "@" : "#"),
      h("span", { class: "name" }, channelName(s.channel.id)),
      s.unread ? h("span", { class: "badge" }, s.unread > 99 ? "99+" : s.unread) : null))
        : h("li", { class: "muted switcher-none", role: "presentation" }, t("switcher.none")));
      mark();
    };
    draw();
    return h("div", { class: "switcher" }, input, h("p", { class: "muted switcher-hint", id: "switcher-hint" }, t("switcher.hint")), list);
  });
  if (chosen) location.hash = `#/c/${chosen}`;
}

/** "?": the keyboard shortcuts, the chat's among them. */
function showShortcuts() {
  const mod = isMac ? "⌘" : "Ctrl";
  const rows = [
    [[mod, "K"], t("keys.switcher")],
    [["/"], t("keys.search")],
    [["?"], t("keys.help")],
    [["Esc"], t("keys.escape")],
    [["↑"], t("keys.editLast")],
    [["Enter"], t("keys.send")],
    [["Shift", "Enter"], t("keys.newline")],
  ];
  return dialog(t("keys.title"), (close) => h("div", { class: "shortcuts" },
    h("dl", null, rows.map(([keys, text]) => h("div", { class: "shortcut" },
      h("dt", null, keys.map((k, i) => [i ? " + " : "", h("kbd", null, k)])),
      h("dd", null, text)))),
    h("div", { class: "dialog-actions" }, h("button", { type: "button", onclick: () => close(null) }, t("close")))));
}
