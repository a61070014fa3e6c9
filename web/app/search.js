// The search box at the top of the sidebar: "/" outside a text field takes the keyboard to it
// (Ctrl+K and ⌘K switch channel: app.js). Results come as the user types (`GET /v1/search`, a moment after
// the last key; an answer to an older query is dropped): messages, each with its channel,
// sender and time; files of the library, each with its name, uploader and last change; the
// minutes of meetings, each with the meeting's title, who changed them last and when; and
// tasks, each with its title, creator and last change; and knowledge-base articles, each with
// its title; all with the server's snippet, whose
// matched words are marked. "More" pages on; a query the server cannot read shows its message,
// which says what to change. A message opens its channel at it (`#/c/{channel}/m/{seq}`,
// ChatView's `focusSeq`); a file opens its folder with its row lit up (`#/files/{folder}/f/{file}`);
// minutes open their meeting's page (`#/minutes/{meeting}`); a task opens "My tasks" with its
// row lit up (`#/tasks/{task}`); an article opens for reading (`#/articles/{id}`). Server text
// only ever becomes text nodes.

import { t } from "./i18n.js";
import { h, mount, api, formatTime } from "./ui.js";
import { state, userName, channelName, ctx } from "./app.js";
import { fileIcon } from "./attachments.js";
import { revealFile } from "./library.js";
import { revealTask } from "./minutes.js";
import { icon } from "./icons.js";

/** Quiet time after the last key before searching. */
const DEBOUNCE_MS = 250;
/** Results per page (the server allows up to 50). */
const PAGE = 20;

/** The box on the page now (a new one after signing in again), for the shortcuts. */
let box = null;

/** The search field with its results panel; made once per sign-in, never drawn again. */
export function searchBox() {
  box = new SearchBox();
  return box.el;
}

/** Focus the search box; on a phone showing a view, first go back to the sidebar it is in. */
export function openSearch() {
  if (!box || !box.el.isConnected) return;
  const focus = () => {
    box.input.focus();
    box.input.select();
  };
  if (box.input.offsetParent) {
    focus();
  } else {
    window.addEventListener("hashchange", focus, { once: true });
    location.hash = "#/";
  }
}

const typingIn = (el) => el instanceof HTMLElement
  && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

document.addEventListener("keydown", (e) => {
  // A dialog keeps the keyboard until it closes.
  if (!box || !box.el.isConnected || e.defaultPrevented || document.querySelector(".backdrop")) return;
  const slash = e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !typingIn(e.target);
  if (slash) {
    e.preventDefault();
    openSearch();
  }
});

document.addEventListener("pointerdown", (e) => {
  if (box && box.el.isConnected && !box.el.contains(e.target)) box.close();
});

class SearchBox {
  constructor() {
    /** The query the shown results answer, and what they are so far. */
    this.query = "";
    this.results = [];
    /** Bumped by each request: an answer to an earlier one is dropped. */
    this.asked = 0;
    this.timer = null;
    this.input = h("input", {
      type: "search", class: "search-input", id: "search-input", autocomplete: "off", spellcheck: "false",
      enterkeyhint: "search", placeholder: t("search.label"), "aria-label": t("search.label"),
      "aria-describedby": "search-help", "aria-controls": "search-panel", "aria-keyshortcuts": "/",
      oninput: () => this.schedule(),
      onfocus: () => this.open(),
      onkeydown: (e) => this.onInputKey(e),
    });
    this.status = h("p", { class: "search-status", role: "status", "aria-live": "polite" });
    this.error = h("p", { class: "search-error", role: "alert", hidden: true });
    this.list = h("ul", { class: "search-results", "aria-label": t("search.results") });
    this.more = h("button", { type: "button", class: "search-more", hidden: true, onclick: () => this.fetchMore() });
    this.tips = tips();
    this.panel = h("div", {
      class: "search-panel", id: "search-panel", role: "region", "aria-label": t("search.results"), hidden: true,
      onkeydown: (e) => this.onPanelKey(e),
    }, this.status, this.error, this.list, this.more, this.tips);
    this.el = h("div", {
      class: "side-search", role: "search",
      // Tabbing out of the box and its results closes them; a click elsewhere does too (above).
      onfocusout: (e) => e.relatedTarget && !this.el.contains(e.relatedTarget) && this.close(),
    },
    h("div", { class: "search-field" },
      h("span", { class: "search-icon", "aria-hidden": "true" }, icon("search", { size: 16 })),
      this.input,
      h("kbd", { class: "search-key", "aria-hidden": "true" }, "/")),
    this.panel);
  }

  open() {
    this.tips.open = !this.input.value.trim();
    this.panel.hidden = false;
  }

  close() {
    this.panel.hidden = true;
  }

  onInputKey(e) {
    if (e.isComposing) return;
    if (e.key === "Enter") {
      e.preventDefault();
      this.search();
    } else if (e.key === "ArrowDown") {
      const first = this.list.querySelector("a");
      if (first) {
        e.preventDefault();
        first.focus();
      }
    } else if (e.key === "Escape") {
      // Closes the results, then leaves the field; the query stays for the next visit.
      e.preventDefault();
      if (!this.panel.hidden) this.close();
      else this.input.blur();
    }
  }

  /** Arrows move between the results (and "more"); Escape goes back to the field. */
  onPanelKey(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      this.input.focus();
      return;
    }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const stops = [...this.list.querySelectorAll("a"), ...(this.more.hidden ? [] : [this.more])];
    const at = stops.indexOf(document.activeElement);
    if (at < 0) return;
    e.preventDefault();
    if (e.key === "ArrowUp" && at === 0) this.input.focus();
    else stops[Math.min(stops.length - 1, Math.max(0, at + (e.key === "ArrowDown" ? 1 : -1)))].focus();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.search(), DEBOUNCE_MS);
  }

  /** The first page for what the field says now. */
  async search() {
    clearTimeout(this.timer);
    const q = this.input.value.trim();
    const asked = ++this.asked;
    this.open();
    if (!q) {
      this.query = "";
      this.showPage([], 0, false);
      return;
    }
    this.list.setAttribute("aria-busy", "true");
    if (q !== this.query) this.status.textContent = t("search.searching");
    try {
      const page = await this.ask(q, 0);
      if (asked !== this.asked) return;
      this.query = q;
      this.showPage(page.results, page.total, false);
    } catch (err) {
      if (asked !== this.asked) return;
      this.query = q;
      this.showError(err);
    }
  }

  /** The next page of the same query, below the others; the keyboard goes to its first result. */
  async fetchMore() {
    const asked = ++this.asked;
    this.more.disabled = true;
    try {
      const page = await this.ask(this.query, this.results.length);
      if (asked !== this.asked) return;
      const first = this.showPage(page.results, page.total, true);
      if (first) first.focus();
    } catch (err) {
      if (asked === this.asked) this.showError(err);
    } finally {
      this.more.disabled = false;
    }
  }

  ask(q, offset) {
    const params = new URLSearchParams({
      q, offset: String(offset), limit: String(PAGE),
      // Minutes ahead of UTC, so `before:` and `after:` days start at the user's midnight.
      utc_offset: String(-new Date().getTimezoneOffset()),
    });
    return api("GET", `/v1/search?${params}`);
  }

  /** Show a page of results (after the others with `more`); returns the first new result's link. */
  showPage(results, total, more) {
    this.error.hidden = true;
    this.list.removeAttribute("aria-busy");
    this.results = more ? [...this.results, ...results] : results;
    const items = results.map((r) => this.item(r));
    if (more) this.list.append(...items);
    else mount(this.list, items);
    this.status.textContent = !this.query ? ""
      : total === 0 ? t("search.none", { q: this.query })
        : total === 1 ? t("search.one") : t("search.total", { n: total });
    const left = total - this.results.length;
    this.more.hidden = left <= 0 || results.length === 0;
    this.more.textContent = t("search.more", { n: left });
    this.tips.open = !this.query;
    this.nameUnknown(results);
    return items.length ? items[0].querySelector("a") : null;
  }

  /** The server's reason, which says what to change in the query; nothing else is shown. */
  showError(err) {
    this.results = [];
    mount(this.list);
    this.list.removeAttribute("aria-busy");
    this.more.hidden = true;
    this.status.textContent = "";
    this.error.textContent = err.code === "unavailable" ? t("search.off") : err.message;
    this.error.hidden = false;
    // The query language is what an invalid query needs.
    this.tips.open = err.code === "invalid_query";
  }

  /** One result: where and who and when, then the snippet with its matched words marked. */
  item(r) {
    if (r.type === "file") return this.fileItem(r);
    if (r.type === "minutes") return this.minutesItem(r);
    if (r.type === "task") return this.taskItem(r);
    if (r.type === "article") return this.articleItem(r);
    const href = `#/c/${r.channel_id}/m/${r.seq}`;
    return h("li", null,
      h("a", {
        class: "search-result", href, dataset: { id: r.id, channel: r.channel_id, seq: r.seq },
        onclick: (e) => {
          this.close();
          // Already there (the same result again): hashchange will not come, so go directly.
          if (location.hash !== href) return;
          e.preventDefault();
          const view = [...state.views].find((v) => v.channel === r.channel_id && !v.compact);
          if (view) view.goTo(r.seq);
        },
      },
      // A system message has no sender: the field is absent.
      h("span", { class: "search-meta" },
        h("span", { class: "search-channel", dataset: { channel: r.channel_id } }, channelName(r.channel_id)),
        h("span", { class: "search-sender", dataset: r.sender_id == null ? {} : { user: r.sender_id } }, userName(r.sender_id)),
        h("time", { datetime: new Date(r.created_at).toISOString() }, formatTime(r.created_at))),
      snippet(r)));
  }

  /**
   * A file of the library: its name over the library, its uploader and when it last changed,
   * then the snippet. The folder's name would take a request per result, so the library stands
   * for it; the folder opens at the file.
   */
  fileItem(r) {
    const href = `#/files/${r.folder_id}/f/${r.id}`;
    return h("li", null,
      h("a", {
        class: "search-result search-file", href, dataset: { id: r.id, type: "file", folder: r.folder_id },
        onclick: (e) => {
          this.close();
          // Already there: hashchange will not come, so show the file again directly.
          if (location.hash !== href) return;
          e.preventDefault();
          revealFile(r.folder_id, r.id);
        },
      },
      fileIcon(r.title || "", ""),
      h("span", { class: "search-title" }, r.title),
      h("span", { class: "search-meta" },
        h("span", { class: "search-folder" }, icon("folder", { size: 14 }), t("search.library")),
        h("span", { class: "search-sender", dataset: r.sender_id == null ? {} : { user: r.sender_id } }, userName(r.sender_id)),
        h("time", { datetime: new Date(r.created_at).toISOString() }, formatTime(r.created_at))),
      snippet(r)));
  }

  /** A meeting's minutes: the meeting's title (untitled ones go by their number), then the snippet. */
  minutesItem(r) {
    const meeting = r.meeting_id ?? r.id;
    // At the moment in the recording where the words were said, when the server knows it.
    const at = r.recording_offset_secs;
    return this.recordItem(r, {
      href: at === null || at === undefined ? `#/minutes/${meeting}` : `#/minutes/${meeting}/t/${Math.floor(at)}`, kind: "minutes", icon: "≡", place: t("search.minutes"),
      title: r.title || t("search.meeting", { id: meeting }), dataset: { meeting },
      // Already on that page: nothing to do but close.
      again: () => {},
    });
  }

  /** A task: its title, then the snippet; it opens "My tasks" at its row. */
  taskItem(r) {
    return this.recordItem(r, {
      href: `#/tasks/${r.id}`, kind: "task", icon: "✓", place: t("search.task"),
      title: r.title, dataset: r.meeting_id == null ? {} : { meeting: r.meeting_id },
      again: () => revealTask(r.id),
    });
  }

  /** A knowledge-base article: its title, then the snippet; it opens the article. */
  articleItem(r) {
    return this.recordItem(r, {
      href: `#/articles/${r.id}`, kind: "article", icon: "¶", place: t("search.article"),
      title: r.title, dataset: r.space_id == null ? {} : { space: r.space_id },
      // Already reading it: nothing to do but close.
      again: () => {},
    });
  }

  /**
   * A result that is a thing of its own (minutes, a task, an article): an icon of its kind beside its title,
   * what kind it is, who changed it and when, then the snippet. `again` is for the result that
   * points where the app already is, as hashchange will not come.
   */
  recordItem(r, { href, kind, icon, place, title, dataset, again }) {
    return h("li", null,
      h("a", {
        class: `search-result search-record search-${kind}`, href, dataset: { id: r.id, type: kind, ...dataset },
        onclick: (e) => {
          this.close();
          if (location.hash !== href) return;
          e.preventDefault();
          again();
        },
      },
      h("span", { class: "search-kind-icon", dataset: { kind }, "aria-hidden": "true" }, icon),
      h("span", { class: "search-title" }, title),
      h("span", { class: "search-meta" },
        h("span", { class: "search-place" }, place),
        r.sender_id == null ? null : h("span", { class: "search-sender", dataset: { user: r.sender_id } }, userName(r.sender_id)),
        h("time", { datetime: new Date(r.created_at).toISOString() }, formatTime(r.created_at))),
      snippet(r)));
  }

  /**
   * A guest has no directory, and a direct channel is named by its other member: fetch the
   * members of the channels whose names are missing, then put the names in. (A file's
   * uploader, a task's creator or the last editor of minutes a guest does not know stays a
   * number: no channel says who they are.)
   */
  nameUnknown(results) {
    const channels = new Set(results
      .filter((r) => r.type === "message")
      .filter((r) => (r.sender_id != null && !state.users.has(r.sender_id))
        || (state.channels.get(r.channel_id)?.channel.kind === "direct" && !state.members.has(r.channel_id)))
      .map((r) => r.channel_id));
    if (!channels.size) return;
    Promise.allSettled([...channels].map((c) => ctx.members(c))).then(() => {
      for (const el of this.list.querySelectorAll(".search-sender[data-user]")) el.textContent = userName(Number(el.dataset.user));
      for (const el of this.list.querySelectorAll(".search-channel")) el.textContent = channelName(Number(el.dataset.channel));
    });
  }
}

/** A result's snippet, its matched words marked. */
function snippet(r) {
  // An article's text is Markdown: its marks (`**`, `##`, backticks) are left out of the passage.
  const plain = r.type === "article"
    ? (text) => text.replace(/\*\*|__|~~|`+|(^|\s)#{1,6}(?=\s)/g, "$1")
    : (text) => text;
  return h("span", { class: "search-snippet" },
    (r.snippet || []).map((part) => (part.hit ? h("mark", null, plain(part.text)) : plain(part.text))));
}

/** The query language: the filters on one line, opened to an example and a word for each. */
function tips() {
  const rows = [
    ["预算 report", t("search.tip.words")],
    ['"budget report"', t("search.tip.phrase")],
    ["-draft", t("search.tip.exclude")],
    ["in:channel", t("search.tip.in")],
    ["in:folder", t("search.tip.inFolder")],
    ["from:person", t("search.tip.from")],
    ["has:file", t("search.tip.file")],
    ["type:message", t("search.tip.typeMessage")],
    ["type:file", t("search.tip.typeFile")],
    ["type:minutes", t("search.tip.typeMinutes")],
    ["type:task", t("search.tip.typeTask")],
    ["type:article", t("search.tip.typeArticle")],
    ["before:2026-06-30", t("search.tip.before")],
    ["after:2026-01-01", t("search.tip.after")],
  ];
  return h("details", { class: "search-tips" },
    h("summary", { id: "search-help" }, t("search.tips"), " ",
      ['"…"', "-…", "in:", "from:", "has:file", "type:", "before:", "after:"].map((f) => [h("code", null, f), " "])),
    h("dl", null, rows.map(([example, text]) => [h("dt", null, h("code", null, example)), h("dd", null, text)])));
}
