// The inbox (`#/notifications`): what the server told this user (`GET /v1/notifications`, newest
// first, "Show older" pages back with `before`), the unread ones marked, each a link to what it
// is about (a task, minutes or a recording, a file, an article); "Mark all read" and "Mark read"
// (`POST /v1/notifications/read`: "Mark all read" with `up_to`, an item's button with its `ids`).
// The sidebar's badge counts the unread ones (`state.notifUnread`),
// kept current by the `notification` event and by what this page marks.
// Also here: the words and link for one notification (the toasts and browser notifications use
// them too), and the polite question asking to show browser notifications, put only after a
// click, never on load.

import { t } from "./i18n.js";
import { h, mount, api, formatTime, showError } from "./ui.js";
import { icon } from "./icons.js";
import { state, userName, renderSidebar } from "./app.js";

/** Notifications per page. */
const PAGE = 30;
/** Longest part of someone's comment quoted in a notice. */
const QUOTE_CHARS = 120;
const ASKED_KEY = "parley.notify.asked";

/** What a notification says, in the user's language. */
export function notificationText(n) {
  let text = t(`notification.${n.kind}`, {
    title: n.task ? n.task.title : n.article ? n.article.title : "",
    by: n.by ? userName(n.by) : "",
    name: n.file ? n.file.name : "",
    version: n.file ? n.file.version : "",
  });
  const comment = n.article && n.article.comment;
  if (comment) {
    const quoted = comment.length > QUOTE_CHARS ? `${comment.slice(0, QUOTE_CHARS)}…` : comment;
    text = t("notification.withComment", { text, comment: quoted });
  }
  return text;
}

/** Where a notification leads: the app's route for what it is about, or null. */
export function notificationHref(n) {
  if (n.task) return `#/tasks/${n.task.id}`;
  if (n.article) return `#/articles/${n.article.id}`;
  if (n.file) return n.file.folder ? `#/files/${n.file.folder}/f/${n.file.id}` : "#/files";
  if (n.meeting_id) return `#/minutes/${n.meeting_id}`;
  if (n.message) return `#/c/${n.message.channel}`;
  return null;
}

const KIND_ICONS = {
  task_assigned: "check", task_due_soon: "alarm", task_overdue: "alarm", minutes_published: "notes",
  recording_started: "video", recording_finished: "video", recording_failed: "warning", file_version: "folder",
};
const kindIcon = (kind) => KIND_ICONS[kind] || (kind.startsWith("article_") ? "book" : "bell");

/** The unread count for the sidebar's badge, asked once after sign-in. */
export async function loadUnread() {
  try {
    const reply = await api("GET", "/v1/notifications?unread=true&limit=1");
    state.notifUnread = reply.unread;
  } catch {
    /* a guest or an app token without an inbox: no badge */
  }
}

/** The page on screen now, to follow the `notification` event. */
let page = null;

/** A notification pushed live: counted, and shown at the top of the open inbox. */
export function notificationArrived(n) {
  state.notifUnread = (state.notifUnread || 0) + 1;
  if (page && page.root.isConnected) page.prepend(n);
  renderSidebar();
}

export function renderNotifications(main) {
  page = new Inbox(main);
}

class Inbox {
  constructor(main) {
    /** The notifications shown, newest first. */
    this.items = [];
    this.list = h("ul", { class: "notif-list", "aria-label": t("notif.title") });
    this.status = h("p", { class: "muted notif-status", role: "status" });
    this.more = h("button", { type: "button", class: "notif-more", hidden: true, onclick: () => this.load(true) }, t("notif.older"));
    this.markAll = h("button", {
      type: "button", class: "small", dataset: { action: "mark-all-read" },
      onclick: () => this.markRead(this.items.length ? this.items[0].id : null),
    }, icon("check"), h("span", null, t("notif.markAll")));
    this.root = h("section", { class: "page notifications" },
      h("header", { class: "view-header" },
        h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")),
        h("div", { class: "title" }, h("h1", null, t("notif.title"))),
        this.markAll),
      permissionCard({ inline: true }),
      this.status, this.list, this.more);
    mount(main, this.root);
    this.load(false);
  }

  async load(older) {
    const before = older && this.items.length ? `&before=${this.items[this.items.length - 1].id}` : "";
    try {
      const reply = await api("GET", `/v1/notifications?limit=${PAGE}${before}`);
      this.items = older ? [...this.items, ...reply.notifications] : reply.notifications;
      this.more.hidden = reply.notifications.length < PAGE;
      state.notifUnread = reply.unread;
      renderSidebar();
      this.draw();
    } catch (err) {
      this.status.textContent = err.message;
    }
  }

  prepend(n) {
    if (this.items.some((i) => i.id === n.id)) return;
    this.items.unshift(n);
    this.draw();
  }

  draw() {
    const unread = this.items.filter((n) => !n.read_at).length;
    this.markAll.disabled = !state.notifUnread;
    this.status.textContent = this.items.length
      ? (state.notifUnread ? t("notif.unread", { n: state.notifUnread }) : t("notif.allRead"))
      : t("notif.empty");
    mount(this.list, this.items.map((n) => this.item(n)));
    this.list.hidden = !this.items.length;
    this.more.disabled = false;
    return unread;
  }

  item(n) {
    const href = notificationHref(n);
    const text = notificationText(n);
    const unread = !n.read_at;
    const body = [
      h("span", { class: "notif-icon" }, icon(kindIcon(n.kind))),
      h("span", { class: "notif-main" },
        h("span", { class: "notif-text" }, text),
        h("time", { class: "notif-time", datetime: new Date(n.created_at).toISOString() }, formatTime(n.created_at))),
      unread ? h("span", { class: "notif-new" }, t("notif.new")) : null,
    ];
    return h("li", { class: `notif${unread ? " unread" : ""}`, dataset: { id: n.id, kind: n.kind } },
      href ? h("a", { class: "notif-link", href }, body) : h("div", { class: "notif-link" }, body),
      unread ? h("button", {
        type: "button", class: "small notif-read", title: t("notif.markReadTitle"), dataset: { action: "mark-read" },
        onclick: () => this.markRead(n.id, { one: true }),
      }, t("notif.markRead")) : null);
  }

  /** Notification `id` read (`one`), or everything up to it; on the server and here. */
  async markRead(id, { one = false } = {}) {
    if (id === null) return;
    try {
      await api("POST", "/v1/notifications/read", one ? { ids: [id] } : { up_to: id });
      const now = Date.now();
      for (const n of this.items) if ((one ? n.id === id : n.id <= id) && !n.read_at) n.read_at = now;
      // Newer unread ones than `id` stay unread; ask the server for the count.
      const reply = await api("GET", "/v1/notifications?unread=true&limit=1");
      state.notifUnread = reply.unread;
      renderSidebar();
      this.draw();
    } catch (err) {
      showError(err);
    }
  }
}

// --- Browser notifications: asked for politely, once ----------------------------------------

export const browserNotifications = () => "Notification" in window;

/**
 * A card asking whether to show browser notifications while Parley is in the background, with
 * "Turn on" and "Not now"; the browser's own question comes only from that click. In the sidebar
 * it shows until answered once; on the inbox page (`inline`) it stays while permission is not
 * given, and says so when the browser blocks it.
 */
export function permissionCard({ inline = false } = {}) {
  if (!browserNotifications()) return null;
  const permission = Notification.permission;
  if (permission === "granted") return null;
  if (permission === "denied") return inline ? h("p", { class: "muted notif-blocked" }, t("notif.blocked")) : null;
  if (!inline && localStorage.getItem(ASKED_KEY)) return null;
  const card = h("div", { class: `notify-ask${inline ? " inline" : ""}`, role: "group", "aria-label": t("notif.enable") },
    h("p", null, icon("bell"), " ", t("notif.ask")),
    h("div", { class: "notify-ask-actions" },
      h("button", {
        type: "button", class: "primary small", dataset: { action: "notify-on" },
        onclick: async () => {
          localStorage.setItem(ASKED_KEY, "1");
          await Notification.requestPermission().catch(() => null);
          card.remove();
          renderSidebar();
        },
      }, t("notif.askYes")),
      inline ? null : h("button", {
        type: "button", class: "small", dataset: { action: "notify-later" },
        onclick: () => {
          localStorage.setItem(ASKED_KEY, "1");
          card.remove();
        },
      }, t("notif.askNo"))));
  return card;
}
