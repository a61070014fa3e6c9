// A channel's messages with the composer, in the channel view and beside a call: history
// with older pages on scroll (and newer ones when opened at a message, as search.js does), live
// events, replies, edits, recall, pins, reactions, typing, "read by N of M" with who has not
// read, and read markers moved as the user sees messages.
// The list reads as a conversation: a sender's messages within five minutes of each other are
// one group (name and avatar once), a line marks each day and where the reader had left off,
// and buttons lead back to that line and to the present.
// A ChatView is this list, plus the methods of message.js (one message's element) and of
// composer.js (the box below, its @mentions, drafts and files), mixed into its prototype.
// Threads: a reply kept in its thread (`thread_only`) is not shown in the list; its message
// shows "N replies" (kept current live, "· new" while the reader has not seen the newest of
// them in the thread), which opens the thread beside the list (thread.js, a ChatView of its own).

import { t, lang } from "./i18n.js";
import { h, mount, me, showError, toast, dropZone } from "./ui.js";
import { state, userName, renderSidebar } from "./app.js";
import { icon } from "./icons.js";
import { MessageParts } from "./message.js";
import { ComposerParts } from "./composer.js";

/** A sender's messages closer than this to the one before are shown as one group. */
const GROUP_MS = 5 * 60 * 1000;
/** Scrolled up more than this many screens from the newest: "Back to the present". */
const FAR_SCREENS = 1;
/** Threads whose newest seen reply is remembered, at most (the oldest go first). */
const MAX_SEEN_THREADS = 500;
const seenKey = () => `parley.threadSeen.${me().id}`;

function seenThreads() {
  try {
    return JSON.parse(localStorage.getItem(seenKey()) || "{}") || {};
  } catch {
    return {};
  }
}

/** The highest `seq` of a reply the reader has seen in the thread of `root` (0: none). */
export function threadSeen(channel, root) {
  return seenThreads()[`${channel}:${root}`] || 0;
}

/** Remember that the reader has seen the thread of `root` up to reply `seq`; `true` when that is news. */
export function markThreadSeen(channel, root, seq) {
  const seen = seenThreads();
  const key = `${channel}:${root}`;
  if ((seen[key] || 0) >= seq) return false;
  delete seen[key];
  seen[key] = seq;
  const keys = Object.keys(seen);
  for (const old of keys.slice(0, Math.max(0, keys.length - MAX_SEEN_THREADS))) delete seen[old];
  localStorage.setItem(seenKey(), JSON.stringify(seen));
  return true;
}

/**
 * A channel's messages with the composer: used by the channel view and beside a meeting.
 * Follows the channel's events while open; marks read what the user has seen.
 */
export class ChatView {
  /**
   * `focusSeq`: open at this message (scrolled to and lit up) rather than at the newest.
   * `thread`: the first message of the thread this view shows (ThreadView in thread.js).
   */
  constructor(el, channel, { compact = false, focusSeq = null, thread = null } = {}) {
    this.thread = thread;
    /** The thread open beside this view (a ThreadView), and what opened it. */
    this.threadView = null;
    this.el = el;
    this.channel = channel;
    this.compact = compact;
    this.focusSeq = focusSeq;
    /** message id → message */
    this.messages = new Map();
    /** message id → its element */
    this.nodes = new Map();
    this.typing = new Map();
    this.replyTo = null;
    this.editing = null;
    this.hasMore = false;
    /**
     * Opened at a message: newer ones exist than those loaded. Until the pages below reach the
     * newest, live messages wait in `messages` unshown (beyond `edge`, the newest loaded seq).
     */
    this.hasNewer = false;
    this.edge = 0;
    this.closed = false;
    // Where the reader had read to when the channel opened, and its end then: the "New
    // messages" line goes above the first message from someone else between the two.
    const summary = this.summary;
    this.readAtOpen = summary ? summary.read_seq : 0;
    this.endAtOpen = summary && summary.unread > 0 ? summary.last_seq : this.readAtOpen;
    /** The "New messages" line while it is shown, and the last message shown. */
    this.unreadLine = null;
    this.lastShown = null;
    /** Files chosen for the next message, in order: `Upload`s with their chips. */
    this.uploads = [];
    this.list = h("div", { class: "messages", role: "log", "aria-live": "polite", "aria-label": t("chat.messages") });
    this.scroller = h("div", { class: "message-scroll", onscroll: () => this.onScroll() }, this.list);
    this.newPill = h("button", { class: "new-pill", hidden: true, onclick: () => this.scrollToEnd() }, t("chat.newMessages"));
    this.jumpUnread = h("button", { type: "button", class: "jump jump-unread", hidden: true, onclick: () => this.toFirstUnread() },
      icon("arrowUp", { size: 16 }), t("chat.jumpUnread"));
    this.present = h("button", { type: "button", class: "jump jump-present", hidden: true, onclick: () => this.scrollToEnd() },
      icon("arrowDown", { size: 16 }), t("chat.backToPresent"));
    this.typingLine = h("div", { class: "typing-line", "aria-live": "polite" });
    this.composer = this.buildComposer();
    this.root = h("div", { class: `chat${compact ? " compact" : ""}`, dataset: { drop: t("attach.drop") } },
      h("div", { class: "message-pane" }, this.scroller, this.jumpUnread, this.newPill, this.present),
      this.typingLine, this.composer);
    // Files dropped on the chat go with the next message.
    if (this.tray) this.stopDrops = dropZone(this.root, () => true, (files) => this.addFiles(files));
    mount(el, this.root);
    state.views.add(this);
    this.typingTimer = setInterval(() => this.renderTyping(), 1000);
    this.onVisible = () => this.markRead();
    document.addEventListener("visibilitychange", this.onVisible);
    this.load().catch(showError);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.threadView) this.threadView.close();
    this.saveDraft();
    state.views.delete(this);
    clearInterval(this.typingTimer);
    document.removeEventListener("visibilitychange", this.onVisible);
    if (this.stopDrops) this.stopDrops();
    // Files chosen but not sent go with the view: uploads stop, finished ones go to the trash.
    for (const upload of this.uploads) this.dropUpload(upload);
  }

  get summary() {
    return state.channels.get(this.channel);
  }

  async load() {
    const summary = this.summary;
    // For @mentions: who may be named here.
    this.members().catch(() => {});
    if (summary && summary.channel.member_count <= 20) {
      const reply = await state.client.readState(this.channel).catch(() => null);
      if (reply) state.readState.set(this.channel, new Map(reply.members.map((m) => [m.user_id, m.read_seq])));
    }
    if (this.focusSeq !== null) return this.loadAround(this.focusSeq);
    const reply = await state.client.history(this.channel, { limit: 50 });
    if (this.closed) return;
    this.hasMore = reply.has_more;
    this.hasNewer = false;
    for (const m of reply.messages) this.messages.set(m.id, m);
    this.renderAll();
    this.scrollToEnd();
    this.markRead();
    this.loadRosters(reply.messages);
  }

  /** The acknowledgement rosters of the user's own urgent pings among `messages`. */
  loadRosters(messages) {
    for (const m of messages) {
      if (m.sender === me().id && m.priority === "urgent" && m.ack_requested) this.loadRoster(m);
    }
  }

  /** The messages around `seq`, half before and half after, with `seq` brought into view. */
  async loadAround(seq, { quiet = false } = {}) {
    const [older, newer] = await Promise.all([
      state.client.history(this.channel, { beforeSeq: seq + 1, limit: 25 }),
      state.client.history(this.channel, { fromSeq: seq + 1, toSeq: Number.MAX_SAFE_INTEGER, limit: 25 }),
    ]);
    if (this.closed) return;
    this.hasMore = older.has_more;
    this.hasNewer = newer.has_more;
    const loaded = [...older.messages, ...newer.messages];
    this.edge = Math.max(seq, ...loaded.map((m) => m.seq));
    for (const m of loaded) this.messages.set(m.id, m);
    this.renderAll();
    if (!quiet && !this.reveal(seq)) toast(t("chat.messageGone"), "error");
    this.markRead();
    this.loadRosters(loaded);
  }

  /**
   * Scroll to the message with `seq` and light it up for a moment; `false` when it is not
   * loaded. Keyboard focus goes to it, so the next Tab is from where the user is reading.
   */
  reveal(seq) {
    const m = [...this.messages.values()].find((x) => x.seq === seq);
    // A reply kept in its thread shows there.
    if (m && !this.shows(m) && this.messages.has(m.reply_to)) {
      this.openThread(this.messages.get(m.reply_to), null);
      return true;
    }
    const node = m && this.nodes.get(m.id);
    if (!node || !node.isConnected) return false;
    node.scrollIntoView({ block: "center" });
    node.focus({ preventScroll: true });
    node.classList.add("found");
    setTimeout(() => node.classList.remove("found"), 2500);
    return true;
  }

  /** Go to a message here: at once when it is loaded, else after loading the pages around it. */
  goTo(seq) {
    if (this.reveal(seq)) return;
    this.focusSeq = seq;
    this.messages.clear();
    this.load().catch(showError);
  }

  async loadOlder() {
    if (!this.hasMore || this.loadingOlder) return;
    this.loadingOlder = true;
    const first = Math.min(...[...this.messages.values()].map((m) => m.seq));
    try {
      const reply = await state.client.history(this.channel, { beforeSeq: first, limit: 50 });
      if (this.closed) return;
      this.hasMore = reply.has_more;
      // Keep what the user was reading where it was: the first message in view stays put.
      const top = this.scroller.getBoundingClientRect().top;
      const anchor = [...this.nodes.entries()].find(([, node]) => node.getBoundingClientRect().bottom > top);
      const offset = anchor ? anchor[1].getBoundingClientRect().top : 0;
      for (const m of reply.messages) this.messages.set(m.id, m);
      this.renderAll();
      const moved = anchor && this.nodes.get(anchor[0]);
      if (moved) this.scroller.scrollTop += moved.getBoundingClientRect().top - offset;
      this.updateJumps();
    } finally {
      this.loadingOlder = false;
    }
  }

  /** The loaded messages in order; live ones past a gap to the newest wait unshown. */
  sorted() {
    return [...this.messages.values()]
      .filter((m) => this.shows(m) && (!this.hasNewer || m.seq <= this.edge))
      .sort((a, b) => a.seq - b.seq);
  }

  /** Whether `m` shows in this list: a reply kept in its thread shows in the thread alone. */
  shows(m) {
    return !m.thread_only;
  }

  /** Whether `m` goes on in `prev`'s group: same sender, soon after, neither urgent. */
  continues(prev, m) {
    return m.sender !== null && prev.sender === m.sender
      && m.created_at - prev.created_at < GROUP_MS && m.priority !== "urgent" && prev.priority !== "urgent";
  }

  /** The next page below, when opened at a message; reaching the newest shows what waited. */
  async loadNewer() {
    if (!this.hasNewer || this.loadingNewer) return;
    this.loadingNewer = true;
    try {
      const reply = await state.client.history(this.channel, {
        fromSeq: this.edge + 1, toSeq: Number.MAX_SAFE_INTEGER, limit: 50,
      });
      if (this.closed) return;
      this.hasNewer = reply.has_more;
      for (const m of reply.messages) {
        this.messages.set(m.id, m);
        this.edge = Math.max(this.edge, m.seq);
      }
      // Pages come in below what is read: it stays where it is.
      const top = this.scroller.scrollTop;
      this.renderAll();
      this.scroller.scrollTop = top;
      this.markRead();
    } finally {
      this.loadingNewer = false;
    }
  }

  atEnd() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }

  scrollToEnd() {
    if (this.hasNewer) {
      // The newest are not loaded: load them as on opening the channel.
      this.focusSeq = null;
      this.messages.clear();
      this.load().catch(showError);
      return;
    }
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.newPill.hidden = true;
    this.markRead();
    this.updateJumps();
  }

  onScroll() {
    if (this.scroller.scrollTop < 80) this.loadOlder().catch(showError);
    const s = this.scroller;
    if (this.hasNewer && s.scrollHeight - s.scrollTop - s.clientHeight < 80) this.loadNewer().catch(showError);
    if (this.atEnd()) {
      this.newPill.hidden = true;
      this.markRead();
    }
    this.updateJumps();
  }

  /** Whether messages the reader had not read when the channel opened are above what is loaded. */
  unreadAbove() {
    const first = this.sorted()[0];
    return this.endAtOpen > this.readAtOpen && this.hasMore && !this.unreadLine && Boolean(first) && first.seq > this.readAtOpen;
  }

  /**
   * "Jump to first unread" while the "New messages" line is above the view (or not loaded yet);
   * "Back to the present" when far up from the newest, unless the new-messages pill says it.
   */
  updateJumps() {
    const s = this.scroller;
    const line = this.unreadLine && this.unreadLine.isConnected ? this.unreadLine : null;
    const above = line ? line.getBoundingClientRect().bottom < s.getBoundingClientRect().top : this.unreadAbove();
    this.jumpUnread.hidden = !above;
    const far = this.hasNewer || s.scrollHeight - s.scrollTop - s.clientHeight > s.clientHeight * FAR_SCREENS;
    this.present.hidden = !far || !this.newPill.hidden;
  }

  /** Bring the "New messages" line to the top of the view, loading the pages around it first if need be. */
  async toFirstUnread() {
    if (!this.unreadLine || !this.unreadLine.isConnected) {
      this.messages.clear();
      await this.loadAround(this.readAtOpen, { quiet: true }).catch(showError);
    }
    const line = this.unreadLine;
    if (!line) return;
    line.scrollIntoView({ block: "start" });
    const first = line.nextElementSibling;
    if (first && first.classList.contains("message")) first.focus({ preventScroll: true });
    this.updateJumps();
  }

  markRead() {
    const summary = this.summary;
    if (!summary || document.visibilityState !== "visible" || !this.atEnd() || this.hasNewer) return;
    if (summary.read_seq >= summary.last_seq && summary.unread === 0) return;
    const seq = summary.last_seq;
    summary.read_seq = seq;
    summary.unread = 0;
    renderSidebar();
    state.client.markRead(this.channel, seq).catch(() => {});
  }

  renderAll() {
    this.nodes.clear();
    this.unreadLine = null;
    const sorted = this.sorted();
    // The line goes in only where the messages before it are loaded too.
    this.readEdgeLoaded = !this.hasMore || (sorted.length > 0 && sorted[0].seq <= this.readAtOpen);
    const items = [];
    let prev = null;
    for (const m of sorted) {
      items.push(...this.itemsFor(m, prev));
      prev = m;
    }
    this.lastShown = prev;
    mount(this.list, this.hasMore ? h("div", { class: "muted center" }, t("chat.scrollForOlder")) : null, items,
      items.length ? null : h("div", { class: "empty" }, t("chat.empty")),
      this.hasNewer ? h("div", { class: "muted center" }, t("chat.scrollForNewer")) : null);
  }

  /**
   * What shows for `m` after `prev`: a line when a new day starts, the "New messages" line above
   * the first one the reader had not read, then the message, in `prev`'s group if it continues it.
   */
  itemsFor(m, prev) {
    const out = [];
    const newDay = !prev || new Date(prev.created_at).toDateString() !== new Date(m.created_at).toDateString();
    if (newDay) {
      const label = dayLabel(m.created_at);
      out.push(h("div", { class: "day-line", role: "separator", "aria-label": label }, h("span", null, label)));
    }
    const unread = !this.unreadLine && this.readEdgeLoaded && m.sender !== me().id
      && m.seq > this.readAtOpen && m.seq <= this.endAtOpen;
    if (unread) {
      this.unreadLine = h("div", { class: "unread-line", role: "separator", "aria-label": t("chat.unreadLine") },
        h("span", null, t("chat.unreadLine")));
      out.push(this.unreadLine);
    }
    const grouped = !newDay && !unread && this.continues(prev, m);
    out.push(this.node(m, grouped));
    return out;
  }

  rerender(id) {
    const old = this.nodes.get(id);
    const m = this.messages.get(id);
    if (old && m) old.replaceWith(this.node(m, old.classList.contains("grouped")));
  }

  // --- Threads ---------------------------------------------------------------------------------

  /**
   * The thread of `m` as far as is known here: how many replies (the server's count, or those
   * loaded when more), the last one loaded, and whether replies from others came after what the
   * reader has seen of it (`unseen`; `unseenInThread` for those kept in the thread alone). The
   * thread open beside the list counts as seen.
   */
  threadState(m) {
    const seen = threadSeen(this.channel, m.id);
    const open = this.threadView && this.threadView.thread.id === m.id;
    let count = 0;
    let last = null;
    let unseen = false;
    let unseenInThread = false;
    for (const r of this.messages.values()) {
      if (r.reply_to !== m.id) continue;
      count += 1;
      if (!last || r.seq > last.seq) last = r;
      if (!open && r.sender !== me().id && r.seq > seen) {
        unseen = true;
        if (r.thread_only) unseenInThread = true;
      }
    }
    return { count: Math.max(m.reply_count || 0, count), last, unseen, unseenInThread };
  }

  /**
   * Open the thread of `root` beside the list (thread.js), in place of any other; `opener`
   * gets the focus back when it closes.
   */
  async openThread(root, opener) {
    const open = this.threadView;
    if (open && open.thread.id === root.id) {
      open.focusComposer();
      return;
    }
    if (open) open.close({ refocus: false });
    const { ThreadView } = await import("./thread.js");
    if (this.closed || (this.threadView && this.threadView.thread.id === root.id)) return;
    if (this.threadView) this.threadView.close({ refocus: false });
    this.threadOpener = opener ? opener.dataset.threadOpen : null;
    this.threadView = new ThreadView(this, root);
    this.rerender(root.id);
  }

  /** The thread beside the list closed: its message shows what is left unseen; focus goes back. */
  threadClosed(view, { refocus = true } = {}) {
    if (this.threadView !== view) return;
    this.threadView = null;
    const root = view.thread.id;
    this.rerender(root);
    if (!refocus || this.closed) return;
    const node = this.nodes.get(root);
    const opener = node && this.threadOpener ? node.querySelector(`[data-thread-open="${this.threadOpener}"]`) : null;
    const target = opener || node;
    if (target && target.isConnected) target.focus();
  }

  onEvent(event) {
    if (event.channel !== this.channel && event.type !== "ping_update") return;
    switch (event.type) {
      case "message": {
        const wasAtEnd = this.atEnd();
        const fresh = !this.messages.has(event.message.id);
        this.messages.set(event.message.id, event.message);
        this.typing.delete(event.message.sender);
        this.renderTyping();
        if (fresh && event.message.reply_to) this.countReply(event.message);
        if (!this.shows(event.message)) break;
        if (this.hasNewer) {
          // Past the gap below: it shows when the pages reach it, or when the pill (or the
          // user's own message) loads the newest.
          if (event.message.sender === me().id) this.scrollToEnd();
          else this.newPill.hidden = false;
          break;
        }
        const empty = this.list.querySelector(".empty");
        if (empty) empty.remove();
        this.list.append(...this.itemsFor(event.message, this.lastShown));
        this.lastShown = event.message;
        if (wasAtEnd || event.message.sender === me().id) this.scrollToEnd();
        else this.newPill.hidden = false;
        this.updateJumps();
        break;
      }
      case "message_edited":
        this.patch(event.message_id, { body: event.body, edited_at: event.edited_at });
        break;
      case "message_recalled":
        this.patch(event.message_id, { body: null, recalled_at: event.recalled_at });
        break;
      case "message_pinned":
        this.patch(event.message_id, { pinned_at: event.pinned ? event.at : null });
        break;
      case "reaction_changed": {
        const m = this.messages.get(event.message_id);
        if (!m) break;
        const list = (m.reactions || []).map((r) => ({ emoji: r.emoji, users: [...r.users] }));
        let entry = list.find((r) => r.emoji === event.emoji);
        if (!entry) list.push((entry = { emoji: event.emoji, users: [] }));
        entry.users = entry.users.filter((u) => u !== event.user_id);
        if (event.added) entry.users.push(event.user_id);
        this.patch(event.message_id, { reactions: list.filter((r) => r.users.length) });
        break;
      }
      case "member_read":
        for (const m of this.messages.values()) {
          if (m.sender === me().id && m.seq <= event.read_seq) this.rerender(m.id);
        }
        break;
      case "typing":
        this.typing.set(event.user_id, Date.now() + event.expires_in_ms);
        this.renderTyping();
        break;
      case "ping_update":
        if (this.messages.has(event.message_id)) this.rerender(event.message_id);
        break;
      case "reload":
        this.focusSeq = null;
        this.messages.clear();
        this.load().catch(showError);
        break;
      default:
        break;
    }
  }

  /** A new reply: its message counts one more, and shows the reply's time and mark. */
  countReply(reply) {
    const root = this.messages.get(reply.reply_to);
    if (!root) return;
    root.reply_count = (root.reply_count || 0) + 1;
    this.rerender(root.id);
  }

  patch(id, fields) {
    const m = this.messages.get(id);
    if (!m) return;
    Object.assign(m, fields);
    this.rerender(id);
  }

  renderTyping() {
    const now = Date.now();
    for (const [user, until] of this.typing) if (until < now) this.typing.delete(user);
    const names = [...this.typing.keys()].map(userName);
    this.typingLine.textContent = names.length ? t("chat.typing", { names: names.join(", ") }) : "";
  }
}

/** ChatView gets the methods of `parts` (a class used as a set of methods), as if written in it. */
function mixIn(parts) {
  for (const name of Object.getOwnPropertyNames(parts.prototype)) {
    if (name !== "constructor") Object.defineProperty(ChatView.prototype, name, Object.getOwnPropertyDescriptor(parts.prototype, name));
  }
}
mixIn(MessageParts);
mixIn(ComposerParts);

// --- Days ---------------------------------------------------------------------------------------

/** "Today", "Yesterday", else the date in the reader's language (with its year when not this one). */
function dayLabel(ms) {
  const day = new Date(ms);
  const today = new Date();
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((midnight(today) - midnight(day)) / 86_400_000);
  if (days === 0) return t("chat.today");
  if (days === 1) return t("chat.yesterday");
  return day.toLocaleDateString(lang(), {
    weekday: "long", month: "long", day: "numeric",
    year: day.getFullYear() === today.getFullYear() ? undefined : "numeric",
  });
}
