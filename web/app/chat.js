// A channel's messages with the composer, in the channel view and beside a call: history
// with older pages on scroll (and newer ones when opened at a message, as search.js does), live
// events, replies, edits, recall, pins, reactions, typing, "read by N of M" with who has not
// read, and read markers moved as the user sees messages.
// The list reads as a conversation: a sender's messages within five minutes of each other are
// one group (name and avatar once), a line marks each day and where the reader had left off,
// and buttons lead back to that line and to the present. Bodies are Markdown (markdown.js:
// DOM only, never HTML) with mentions lit up.
// The composer wraps the selection in Markdown from its toolbar, previews it, picks emoji,
// completes @mentions from the channel's members (sent as `mentions`), keeps a draft per
// channel, and edits the last message on Up.
// Files join a message from the attach button, a drop on the chat or a paste: each is uploaded
// at once (tus, resumable, see `Upload` in ui.js) and shown as a chip until it is sent.
// Threads: a reply kept in its thread (`thread_only`) is not shown in the list; its message
// shows "N replies" (kept current live, "· new" while the reader has not seen the newest of
// them in the thread), which opens the thread beside the list (thread.js, a ChatView of its own).

import { t, lang } from "./i18n.js";
import {
  h, mount, me, api, formatTime, formatSize, showError, toast, dialog, confirmAction,
  mediaUrl, Upload, downloadLink as fileLink, dropZone,
} from "./ui.js";
import { state, userName, channelName, canPost, renderSidebar } from "./app.js";
import { renderMarkdown } from "./markdown.js";
import { icon } from "./icons.js";
import { pickEmoji } from "./emoji.js";
import { avatar, showProfile, openDirect } from "./people.js";

const REACTIONS = ["👍", "✅", "❤️", "😂", "🎉", "👀"];
/** The server takes at most this many files with one message. */
const MAX_ATTACHMENTS = 20;
/** A sender's messages closer than this to the one before are shown as one group. */
const GROUP_MS = 5 * 60 * 1000;
/** Scrolled up more than this many screens from the newest: "Back to the present". */
const FAR_SCREENS = 1;
/** People offered at most by the @mention list. */
const MAX_SUGGESTIONS = 8;
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

  /**
   * One message's element; `grouped` under the one before from the same sender (no avatar or
   * name, its time beside it on hover or focus). Its height does not change when receipts
   * arrive (one fixed line).
   */
  node(m, grouped = false) {
    const mine = m.sender === me().id;
    const recalled = m.recalled_at !== null && m.recalled_at !== undefined;
    // In a thread, its replies need no quote of the first message.
    const replied = m.reply_to && !(this.thread && m.reply_to === this.thread.id) ? this.messages.get(m.reply_to) : null;
    const thread = this.thread ? null : this.threadState(m);
    const forMe = !mine && !recalled && ((m.mentions || []).includes(me().id) || Boolean(m.mention_channel));
    const when = new Date(m.created_at).toISOString();
    const tags = [
      m.priority === "urgent" ? h("span", { class: "tag urgent" }, t("message.urgent")) : null,
      m.pinned_at ? h("span", { class: "tag" }, icon("pin", { size: 12 }), " ", t("message.pinned")) : null,
      m.edited_at && !recalled ? h("span", { class: "muted" }, t("message.edited")) : null,
    ].filter(Boolean);
    const el = h("article", {
      class: `message${mine ? " mine" : ""}${m.priority === "urgent" ? " urgent" : ""}${grouped ? " grouped" : ""}${forMe ? " mentions-me" : ""}${thread && thread.unseenInThread ? " thread-unread" : ""}`,
      dataset: { id: m.id, seq: m.seq },
      tabindex: "0",
      "aria-label": `${userName(m.sender)}: ${recalled ? t("message.recalled") : summaryOf(m)}`,
    },
      grouped
        ? h("time", { class: "gutter-time", datetime: when, title: formatTime(m.created_at) }, clockTime(m.created_at))
        : this.senderAvatar(m.sender),
      h("div", { class: "message-main" },
        grouped && !tags.length ? null : h("div", { class: "message-head" },
          grouped ? null : [this.senderName(m.sender), h("time", { datetime: when }, formatTime(m.created_at))],
          tags),
        replied ? h("blockquote", { class: "reply-quote" }, userName(replied.sender), ": ",
          replied.body === null ? t("message.recalled") : summaryOf(replied).slice(0, 120)) : null,
        recalled
          ? h("div", { class: "message-body recalled" }, t("message.recalled"))
          : m.action && m.action.kind === "missed_call" ? this.missedCall(m)
            : m.body || !m.attachments?.length ? h("div", { class: "message-body" }, richText(m.body || "", mentionsOf(m))) : null,
        recalled ? null : this.attachmentList(m),
        m.action && m.action.kind === "join_bridge" && !recalled
          ? h("a", { class: "button small", href: `#/bridge/${m.channel}/${m.id}` }, icon("headset", { size: 16 }), t("ping.joinBridge")) : null,
        recalled ? null : linkPreview(m),
        this.reactions(m),
        thread && thread.count ? this.threadLink(m, thread) : null,
        mine && !recalled ? this.receiptLine(m) : null,
        mine && m.priority === "urgent" && m.ack_requested && !recalled ? this.rosterBox(m) : null),
      recalled ? null : this.actions(m, mine));
    this.nodes.set(m.id, el);
    return el;
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

  /** "N replies", the time of the last one, and "· new": opens the thread. */
  threadLink(m, { count, last, unseen }) {
    const replies = count === 1 ? t("thread.one") : t("thread.many", { n: count });
    const when = last ? t("thread.last", { time: formatTime(last.created_at) }) : null;
    const label = [replies, when, unseen ? t("thread.newLabel") : null].filter(Boolean).join(", ");
    return h("button", {
      type: "button", class: `thread-link${unseen ? " unseen" : ""}`,
      dataset: { threadOpen: "link", thread: m.id },
      "aria-label": t("thread.open", { what: label }),
      onclick: (e) => this.openThread(m, e.currentTarget),
    },
    icon("thread", { size: 16 }),
    h("span", { class: "thread-count" }, replies),
    when ? h("span", { class: "thread-last muted" }, when) : null,
    unseen ? h("span", { class: "thread-new" }, "· ", t("thread.new")) : null);
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

  /** The sender's picture, which opens their profile card (the server's own: a plain mark). */
  senderAvatar(sender) {
    const person = state.users.get(sender) || { id: sender, name: userName(sender) };
    const el = avatar(person);
    // A pointer's shortcut to the card; keyboards and screen readers use the name beside it.
    if (sender !== null && sender !== undefined) {
      el.classList.add("clickable");
      el.addEventListener("click", () => this.openProfile(sender));
    }
    return el;
  }

  senderName(sender) {
    if (sender === null || sender === undefined) return h("strong", null, userName(sender));
    return h("button", { type: "button", class: "sender-name", onclick: () => this.openProfile(sender) },
      h("strong", null, userName(sender)));
  }

  openProfile(id) {
    showProfile({ state, userName }, id, { openDirect: (user) => openDirect(state, user) }).catch(showError);
  }

  /** A ring nobody took: who called, and a button that rings them back into the meeting. */
  missedCall(m) {
    const caller = m.sender;
    const mine = caller === me().id;
    return h("div", { class: "message-body missed-call" },
      icon("phone", { size: 16 }), " ",
      mine ? t("call.missedByOthers") : t("call.missedFrom", { name: userName(caller) }),
      mine || !canPost(state.channels.get(m.channel)?.channel || {}) ? null : h("button", {
        type: "button", class: "small", dataset: { action: "call-back" },
        onclick: async () => {
          try {
            await api("POST", `/v1/channels/${m.channel}/ring`, { user_ids: [caller] });
            location.hash = `#/meet/${m.channel}`;
          } catch (error) {
            showError(error);
          }
        },
      }, icon("phone", { size: 14 }), " ", t("call.callBack")));
  }

  /** A message's files: images as a preview (opened large on a tap), others as a card. */
  attachmentList(m) {
    const list = m.attachments || [];
    if (!list.length) return null;
    return h("div", { class: "attachments" }, list.map((a) => (isImage(a.mime) ? imageAttachment(a) : fileCard(a))));
  }

  reactions(m) {
    const list = m.reactions || [];
    if (!list.length) return null;
    return h("div", { class: "reactions" }, list.map((r) => {
      const mineToo = r.users.includes(me().id);
      return h("button", {
        class: `reaction${mineToo ? " mine" : ""}`,
        "aria-pressed": String(mineToo),
        title: r.users.map(userName).join(", "),
        onclick: () => state.client.react(this.channel, m.id, r.emoji, !mineToo).catch(showError),
      }, r.emoji, " ", r.users.length);
    }));
  }

  /** "Read by N of M" from the members' read markers; the sender counts as neither. */
  receiptLine(m) {
    const marks = state.readState.get(this.channel);
    const line = h("button", {
      class: "receipt link",
      dataset: { receipt: m.id },
      onclick: () => this.showReceipts(m),
    });
    if (marks) {
      const others = [...marks.entries()].filter(([user]) => user !== m.sender);
      const read = others.filter(([, seq]) => seq >= m.seq).length;
      line.textContent = read === others.length && others.length
        ? t("receipt.allRead") : t("receipt.readBy", { n: read, m: others.length });
      line.dataset.read = String(read);
      line.dataset.of = String(others.length);
    } else {
      line.textContent = t("receipt.show");
    }
    return line;
  }

  async showReceipts(m) {
    try {
      const r = await state.client.receipts(this.channel, m.id);
      await dialog(t("receipt.title"), (close) => h("div", null,
        h("p", null, t("receipt.readBy", { n: r.read_by, m: r.of }),
          r.of ? ` (${Math.round((r.read_by / r.of) * 100)}%)` : ""),
        r.not_read.length ? [h("h3", null, t("receipt.notRead")),
          h("ul", null, r.not_read.map((u) => h("li", null, u.name)))] : null,
        h("div", { class: "dialog-actions" }, h("button", { onclick: () => close(null) }, t("close")))));
    } catch (err) {
      showError(err);
    }
  }

  rosterBox(m) {
    const roster = state.rosters.get(m.id);
    if (!roster) return h("div", { class: "roster muted" }, t("ping.rosterLoading"));
    const entries = [...roster.values()];
    const acked = entries.filter((e) => e.state === "acked").length;
    return h("div", { class: "roster", dataset: { roster: m.id } },
      h("div", { class: "roster-head" }, t("ping.acked", { n: acked, m: entries.length })),
      h("ul", null, entries.map((e) => h("li", { class: `roster-${e.state}`, dataset: { user: e.user_id, state: e.state } },
        h("span", { class: `dot state-${e.state}`, "aria-hidden": "true" }), e.name, " · ", t(`ping.state.${e.state}`),
        e.reminders ? h("span", { class: "muted" }, " · ", t("ping.reminders", { n: e.reminders })) : null))));
  }

  async loadRoster(m) {
    try {
      const reply = await state.client.roster(this.channel, m.id);
      state.rosters.set(m.id, new Map(reply.recipients.map((r) => [r.user_id, r])));
      this.rerender(m.id);
    } catch {
      /* not ours to see */
    }
  }

  actions(m, mine) {
    const c = this.summary && this.summary.channel;
    const mayPin = c && canPost(c);
    const act = (name, title, fn) => h("button", { type: "button", class: "icon", title, "aria-label": title, onclick: fn }, icon(name));
    const react = (emoji) => state.client.react(this.channel, m.id, emoji, true).catch(showError);
    // In a thread, replies answer its first message: neither quotes nor threads of their own.
    const threadAct = this.thread ? null : act("thread", t("thread.reply"), (e) => this.openThread(m, e.currentTarget));
    if (threadAct) threadAct.dataset.threadOpen = "action";
    return h("div", { class: "message-actions" },
      this.thread ? null : act("reply", t("message.reply"), () => this.setReply(m)),
      threadAct,
      h("details", {
        class: "react-menu",
        onkeydown: (e) => {
          if (e.key !== "Escape" || !e.currentTarget.open) return;
          // The Esc is the menu's: it does not close the thread around it too.
          e.preventDefault();
          e.currentTarget.open = false;
          e.currentTarget.querySelector("summary").focus();
        },
      },
        h("summary", { title: t("message.react"), "aria-label": t("message.react") }, icon("smile")),
        h("div", { class: "react-pick" }, REACTIONS.map((emoji) => h("button", {
          type: "button", class: "icon", title: t("message.reactWith", { emoji }), "aria-label": t("message.reactWith", { emoji }),
          onclick: (e) => {
            e.currentTarget.closest("details").open = false;
            react(emoji);
          },
        }, emoji)),
        h("button", {
          type: "button", class: "icon react-more", title: t("message.moreReactions"), "aria-label": t("message.moreReactions"),
          onclick: async (e) => {
            e.currentTarget.closest("details").open = false;
            const emoji = await pickEmoji(t("message.moreReactions"));
            if (emoji) react(emoji);
          },
        }, icon("plus")))),
      mayPin ? act("pin", m.pinned_at ? t("message.unpin") : t("message.pin"),
        () => state.client.pin(this.channel, m.id, !m.pinned_at).catch(showError)) : null,
      mine ? act("edit", t("message.edit"), () => this.startEdit(m)) : null,
      mine || me().role === "admin" ? act("trash", t("message.recall"), async () => {
        if (!(await confirmAction(t("message.recall"), t("message.recallConfirm"), t("message.recall")))) return;
        state.client.recall(this.channel, m.id).catch(showError);
      }) : null);
  }

  setReply(m) {
    if (!this.input) return;
    this.endEdit();
    this.replyTo = m;
    this.renderComposerState();
    this.input.focus();
  }

  /** Edit `m` in the box; what was being written waits, and comes back when the edit ends. */
  startEdit(m) {
    if (!this.input) return;
    if (!this.editing) this.stash = this.input.value;
    this.replyTo = null;
    this.editing = m;
    this.input.value = m.body || "";
    this.setPreview(false);
    this.renderComposerState();
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  /** Leave editing, with the draft that waited back in the box. */
  endEdit() {
    if (!this.editing) return;
    this.editing = null;
    this.input.value = this.stash || "";
    this.stash = null;
  }

  /** Esc or the context's ✕: no more editing or replying. */
  cancelContext() {
    this.endEdit();
    this.replyTo = null;
    this.renderComposerState();
    this.input.focus();
  }

  renderComposerState() {
    const m = this.replyTo || this.editing;
    mount(this.context, m ? [
      h("span", null, this.editing ? t("composer.editing") : t("composer.replyingTo", { name: userName(m.sender) })),
      h("button", {
        type: "button", class: "icon", title: t("cancel"), "aria-label": t("cancel"),
        onclick: () => this.cancelContext(),
      }, icon("close"))] : null);
    this.context.hidden = !m;
  }

  buildComposer() {
    const summary = this.summary;
    const channel = summary && summary.channel;
    if (channel && !canPost(channel)) {
      return h("div", { class: "composer readonly muted" }, t("composer.announcementOnly"));
    }
    const id = `${this.channel}-${Math.random().toString(36).slice(2, 6)}`;
    this.context = h("div", { class: "composer-context", hidden: true });
    this.suggest = h("ul", { class: "mention-list", id: `mentions-${id}`, role: "listbox", hidden: true, "aria-label": t("mention.list") });
    this.input = h("textarea", {
      class: "composer-input", rows: 1, id: `composer-${id}`,
      placeholder: t("composer.placeholder", { name: channel ? channelName(channel.id) : "" }),
      "aria-label": t("composer.label"),
      "aria-autocomplete": "list", "aria-controls": this.suggest.id,
      onkeydown: (e) => this.onKey(e),
      oninput: () => this.onInput(),
      onclick: () => this.suggestMentions(),
      onblur: () => setTimeout(() => this.closeSuggest(), 150),
    });
    this.input.value = localStorage.getItem(this.draftKey()) || "";
    this.input.addEventListener("paste", (e) => {
      const files = [...((e.clipboardData && e.clipboardData.files) || [])];
      if (!files.length) return;
      e.preventDefault();
      this.addFiles(files);
    });
    this.preview = h("div", { class: "composer-preview", hidden: true, tabindex: "0", role: "region", "aria-label": t("composer.preview") });
    this.urgent = h("input", { type: "checkbox", id: `urgent-${id}`, class: "urgent-toggle" });
    this.picker = h("input", {
      type: "file", multiple: true, hidden: true, class: "attach-input", tabindex: "-1",
      onchange: () => {
        this.addFiles([...this.picker.files]);
        this.picker.value = "";
      },
    });
    this.tray = h("div", { class: "upload-tray", hidden: true, role: "list", "aria-label": t("attach.list") });
    this.sendButton = h("button", { type: "submit", class: "primary", "aria-label": t("composer.send") }, t("composer.send"));
    const tool = (name, label, fn, key) => h("button", {
      type: "button", class: "icon", title: key ? `${label} (Ctrl+${key})` : label, "aria-label": label,
      dataset: { format: name },
      // The box keeps its selection: the button does not take the focus on a click.
      onmousedown: (e) => e.preventDefault(),
      onclick: fn,
    }, icon(name));
    this.previewButton = h("button", {
      type: "button", class: "preview-toggle", "aria-pressed": "false",
      onclick: () => this.setPreview(!this.previewing),
    }, icon("eye", { size: 16 }), t("composer.preview"));
    return h("form", {
      class: "composer",
      onsubmit: (e) => {
        e.preventDefault();
        this.submit();
      },
    },
      this.context,
      this.tray,
      h("div", { class: "composer-tools", role: "group", "aria-label": t("composer.tools") },
        tool("bold", t("composer.bold"), () => this.format("bold"), "B"),
        tool("italic", t("composer.italic"), () => this.format("italic"), "I"),
        tool("code", t("composer.code"), () => this.format("code"), "E"),
        tool("list", t("composer.list"), () => this.format("list")),
        tool("link", t("composer.link"), () => this.format("link"), "K"),
        this.previewButton),
      h("div", { class: "composer-row" },
        h("button", {
          type: "button", class: "attach", title: t("attach.button"), "aria-label": t("attach.button"),
          onclick: () => this.picker.click(),
        }, icon("clip")),
        this.picker,
        h("div", { class: "composer-box" }, this.suggest, this.input, this.preview),
        h("button", {
          type: "button", class: "attach emoji-open", title: t("composer.emoji"), "aria-label": t("composer.emoji"),
          onclick: () => this.insertEmoji(),
        }, icon("smile")),
        this.sendButton),
      this.compact ? null : h("label", { class: "urgent-label", for: this.urgent.id }, this.urgent,
        icon("alarm", { size: 16 }), t("composer.urgent")));
  }

  onKey(e) {
    if (!this.suggest.hidden && this.onSuggestKey(e)) return;
    const mod = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey;
    const formats = { b: "bold", i: "italic", e: "code", k: "link" };
    if (mod && formats[e.key.toLowerCase()]) {
      e.preventDefault();
      this.format(formats[e.key.toLowerCase()]);
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    } else if (e.key === "Escape" && (this.replyTo || this.editing)) {
      e.preventDefault();
      this.cancelContext();
    } else if (e.key === "ArrowUp" && !this.input.value && !this.editing && !e.isComposing) {
      const last = this.sorted().reverse().find((m) => m.sender === me().id && m.recalled_at == null && m.body !== null);
      if (last) {
        e.preventDefault();
        this.startEdit(last);
      }
    }
  }

  onInput() {
    this.saveDraft();
    this.suggestMentions();
    if (this.input.value && Date.now() - (this.lastTyping || 0) > 3000) {
      this.lastTyping = Date.now();
      state.client.typing(this.channel).catch(() => {});
    }
  }

  /** Where the box's draft waits: per user and channel. */
  draftKey() {
    return `parley.draft.${me().id}.${this.channel}`;
  }

  /** The box's text kept for this channel until sent (an edit is not a draft). */
  saveDraft() {
    if (this.editing || !this.input) return;
    const text = this.input.value;
    if (text.trim()) localStorage.setItem(this.draftKey(), text);
    else localStorage.removeItem(this.draftKey());
  }

  /** Wrap the selection (or the caret) in Markdown: `**bold**`, `*italic*`, code, a list, a link. */
  format(kind) {
    const el = this.input;
    if (this.previewing) this.setPreview(false);
    const { selectionStart: from, selectionEnd: to, value } = el;
    const picked = value.slice(from, to);
    let text;
    let select;
    if (kind === "list") {
      // Every line the selection touches becomes an item.
      const start = value.lastIndexOf("\n", from - 1) + 1;
      const lines = value.slice(start, to).split("\n").map((line) => (line.startsWith("- ") ? line : `- ${line}`));
      text = lines.join("\n");
      el.setRangeText(text, start, to, "end");
    } else if (kind === "link") {
      const label = picked || t("composer.linkText");
      text = `[${label}](https://)`;
      el.setRangeText(text, from, to, "end");
      // The address is what is left to type.
      select = [from + label.length + 3, from + text.length - 1];
    } else {
      const fence = kind === "code" && picked.includes("\n");
      const mark = fence ? "```" : { bold: "**", italic: "*", code: "`" }[kind];
      const open = fence ? `${mark}\n` : mark;
      const close = fence ? `\n${mark}` : mark;
      el.setRangeText(`${open}${picked}${close}`, from, to, "end");
      select = [from + open.length, from + open.length + picked.length];
    }
    el.focus();
    if (select) el.setSelectionRange(select[0], select[1]);
    this.saveDraft();
  }

  /** The box's Markdown as it will show, in place of the box (and back). */
  setPreview(on) {
    if (!this.input) return;
    this.previewing = on;
    this.previewButton.setAttribute("aria-pressed", String(on));
    this.previewButton.classList.toggle("active", on);
    const text = this.input.value.trim();
    mount(this.preview, on ? (text ? richText(this.input.value, this.mentionsIn(this.input.value)) : h("p", { class: "muted" }, t("composer.previewEmpty"))) : null);
    this.preview.hidden = !on;
    this.input.hidden = on;
    if (on) this.closeSuggest();
    (on ? this.preview : this.input).focus();
  }

  /** An emoji from the picker, put where the caret was. */
  async insertEmoji() {
    const { selectionStart: from, selectionEnd: to } = this.input;
    const emoji = await pickEmoji(t("composer.emoji"));
    if (this.previewing) this.setPreview(false);
    this.input.focus();
    if (!emoji) return;
    this.input.setRangeText(emoji, from, to, "end");
    this.saveDraft();
  }

  // --- @mentions ---------------------------------------------------------------------------

  /** The channel's members, asked for once. */
  async members() {
    if (!state.members.has(this.channel)) {
      const list = await api("GET", `/v1/channels/${this.channel}/members`);
      for (const m of list) {
        if (!state.users.has(m.user_id)) state.users.set(m.user_id, { id: m.user_id, name: m.name, role: m.role });
      }
      state.members.set(this.channel, list);
    }
    return state.members.get(this.channel);
  }

  /** `@channel` is there for a group's channels, not between two people. */
  mayMentionChannel() {
    const c = this.summary && this.summary.channel;
    return Boolean(c) && c.kind !== "direct";
  }

  /** The list of members whose name holds what follows the `@` before the caret. */
  async suggestMentions() {
    const el = this.input;
    const before = el.value.slice(0, el.selectionStart);
    const typed = /(^|[\s(（])@([^\s@]{0,32})$/u.exec(before);
    if (!typed || el.selectionStart !== el.selectionEnd) {
      this.closeSuggest();
      return;
    }
    const members = await this.members().catch(() => []);
    // The box may have moved on while the members came.
    if (el.value.slice(0, el.selectionStart) !== before) return;
    const query = typed[2].toLocaleLowerCase();
    const named = members.filter((m) => m.user_id !== me().id && m.name.toLocaleLowerCase().includes(query))
      .sort((x, y) => Number(!x.name.toLocaleLowerCase().startsWith(query)) - Number(!y.name.toLocaleLowerCase().startsWith(query))
        || x.name.localeCompare(y.name))
      .slice(0, MAX_SUGGESTIONS)
      .map((m) => ({ id: m.user_id, name: m.name, avatar: m.avatar }));
    if (this.mayMentionChannel() && "channel".startsWith(query)) named.push({ id: null, name: "channel" });
    if (!named.length) {
      this.closeSuggest();
      return;
    }
    this.suggestion = { options: named, active: 0, from: before.length - typed[2].length - 1, to: before.length };
    mount(this.suggest, named.map((o, i) => h("li", {
      id: `${this.suggest.id}-${i}`, role: "option", class: "mention-option", dataset: { user: o.id ?? "channel" },
      onmousedown: (e) => {
        e.preventDefault();
        this.pickMention(i);
      },
    },
      o.id === null
        ? [h("span", { class: "avatar small", "aria-hidden": "true" }, "@"), h("span", { class: "mention-name" }, "@channel"),
          h("span", { class: "muted" }, t("mention.channel"))]
        : [avatar(o, { size: "small" }),
          h("span", { class: "mention-name" }, o.name)])));
    this.suggest.hidden = false;
    this.showActive();
  }

  showActive() {
    const { active } = this.suggestion;
    [...this.suggest.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
    this.input.setAttribute("aria-activedescendant", `${this.suggest.id}-${active}`);
    this.suggest.children[active].scrollIntoView({ block: "nearest" });
  }

  /** Arrows move in the list, Enter or Tab picks, Esc closes it; `true` when the key was the list's. */
  onSuggestKey(e) {
    const s = this.suggestion;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      s.active = (s.active + (e.key === "ArrowDown" ? 1 : -1) + s.options.length) % s.options.length;
      this.showActive();
    } else if ((e.key === "Enter" || e.key === "Tab") && !e.isComposing && !e.shiftKey) {
      this.pickMention(s.active);
    } else if (e.key === "Escape") {
      this.closeSuggest();
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  /** `@Name ` in place of what was typed after the `@`. */
  pickMention(i) {
    const { options, from, to } = this.suggestion;
    this.input.setRangeText(`@${options[i].name} `, from, to, "end");
    this.closeSuggest();
    this.input.focus();
    this.saveDraft();
  }

  closeSuggest() {
    if (!this.suggest || this.suggest.hidden) return;
    this.suggest.hidden = true;
    this.suggestion = null;
    this.input.removeAttribute("aria-activedescendant");
  }

  /**
   * Whom `text` mentions: the members whose `@Name` is in it (the longest name where two begin
   * alike), and whether it says `@channel` where that is allowed.
   */
  mentionsIn(text) {
    const members = (state.members.get(this.channel) || []).filter((m) => m.user_id !== me().id)
      .sort((x, y) => y.name.length - x.name.length);
    const ids = new Set();
    let channelWide = false;
    for (let at = text.indexOf("@"); at >= 0; at = text.indexOf("@", at + 1)) {
      const hit = members.find((m) => text.startsWith(m.name, at + 1) && endsWord(text, at + 1 + m.name.length, m.name));
      if (hit) ids.add(hit.user_id);
      else if (this.mayMentionChannel() && text.startsWith("channel", at + 1) && endsWord(text, at + 8, "channel")) channelWide = true;
    }
    return { ids: [...ids], channelWide };
  }

  async submit() {
    if (!this.input) return;
    const body = this.input.value.trim();
    const editing = this.editing;
    // An edit changes the text alone; the files wait for the next message.
    const files = editing ? [] : this.uploads;
    if (!body && !files.length) return;
    if (files.some((u) => u.state !== "done")) {
      toast(t("attach.waiting"), "error");
      return;
    }
    const urgent = this.urgent && this.urgent.checked;
    const replyTo = this.replyTo;
    const mentions = this.mentionsIn(body);
    this.closeSuggest();
    if (this.previewing) this.setPreview(false);
    if (editing) {
      this.endEdit();
    } else {
      this.input.value = "";
      localStorage.removeItem(this.draftKey());
    }
    this.replyTo = null;
    if (this.urgent) this.urgent.checked = false;
    if (files.length) this.uploads = [];
    this.renderComposerState();
    this.renderUploads();
    try {
      if (editing) {
        await state.client.edit(this.channel, editing.id, body);
      } else {
        const sent = await this.post(body, { replyTo: replyTo ? replyTo.id : undefined, urgent, files, mentions });
        if (urgent) this.loadRoster({ id: sent.message_id });
        for (const upload of files) forgetPreview(upload);
      }
    } catch (err) {
      // Nothing is lost: the text comes back to the box (an edit to its editing), the files to the tray.
      if (editing) this.startEdit(editing);
      this.input.value = body;
      this.saveDraft();
      if (files.length) this.uploads = [...files, ...this.uploads];
      this.renderUploads();
      showError(err);
    }
  }

  /** Send a message; with files, the SDK's frame plus `attachments` (its `send` has no option for them). */
  post(body, { replyTo, threadOnly = false, urgent, files, mentions }) {
    const options = { replyTo, threadOnly, mentions: mentions.ids, mentionChannel: mentions.channelWide };
    if (!files.length) {
      return urgent ? state.client.sendUrgent(this.channel, body, options) : state.client.send(this.channel, body, options);
    }
    const frame = {
      type: "send", channel: this.channel, client_id: state.client.newClientId(), body,
      attachments: files.map((u) => u.fileId),
    };
    if (replyTo !== undefined) frame.reply_to = replyTo;
    if (threadOnly) frame.thread_only = true;
    if (mentions.ids.length) frame.mentions = mentions.ids;
    if (mentions.channelWide) frame.mention_channel = true;
    if (urgent) Object.assign(frame, { priority: "urgent", ack_requested: true });
    return state.client.request(frame);
  }

  // --- Files for the next message ------------------------------------------------------------

  /** Start uploading each file for this channel, each with its chip in the tray. */
  addFiles(files) {
    if (!this.tray || !files.length) return;
    const room = MAX_ATTACHMENTS - this.uploads.length;
    if (files.length > room) toast(t("attach.tooMany", { n: MAX_ATTACHMENTS }), "error");
    for (const file of files.slice(0, Math.max(0, room))) {
      const upload = new Upload(file, { channel: this.channel, onChange: () => this.renderUpload(upload) });
      upload.chip = this.chip(upload);
      this.uploads.push(upload);
      upload.start();
    }
    this.renderUploads();
  }

  /** One file's chip: preview or icon, name, size and progress, pause or resume, remove. */
  chip(upload) {
    const { file } = upload;
    const preview = isImage(file.type)
      ? h("img", { class: "chip-thumb", alt: "", src: (upload.preview = URL.createObjectURL(file)) })
      : fileIcon(file.name, file.type);
    const meta = h("span", { class: "chip-meta" });
    const bar = h("progress", { max: "1", "aria-label": file.name });
    const toggle = h("button", {
      type: "button", class: "icon chip-toggle",
      onclick: () => (upload.state === "uploading" ? upload.pause() : upload.resume()),
    });
    const remove = h("button", {
      type: "button", class: "icon chip-remove", title: t("attach.remove", { name: file.name }),
      "aria-label": t("attach.remove", { name: file.name }),
      onclick: () => {
        this.uploads = this.uploads.filter((u) => u !== upload);
        this.dropUpload(upload);
        this.renderUploads();
        this.input.focus();
      },
    }, icon("close"));
    const el = h("div", { class: "upload-chip", role: "listitem", dataset: { name: file.name } },
      preview,
      h("div", { class: "chip-main" }, h("span", { class: "chip-name", title: file.name }, file.name), meta, bar),
      toggle, remove);
    return { el, meta, bar, toggle };
  }

  /** Bring one chip up to date with its upload. */
  renderUpload(upload) {
    const c = upload.chip;
    if (!c) return;
    const { state: now, sent, file } = upload;
    c.el.dataset.state = now;
    if (upload.fileId) c.el.dataset.file = String(upload.fileId);
    c.bar.value = file.size ? sent / file.size : now === "done" ? 1 : 0;
    const sizes = now === "done" ? formatSize(file.size) : `${formatSize(sent)} / ${formatSize(file.size)}`;
    c.meta.textContent = now === "failed" ? t("attach.failed", { reason: upload.error.message })
      : now === "paused" ? `${t("attach.paused")} · ${sizes}` : sizes;
    c.toggle.hidden = now === "done" || now === "removed";
    const label = now === "uploading" ? t("attach.pause") : now === "failed" ? t("attach.retry") : t("attach.resume");
    mount(c.toggle, icon(now === "uploading" ? "pause" : now === "failed" ? "retry" : "play"));
    c.toggle.title = label;
    c.toggle.setAttribute("aria-label", `${label}: ${file.name}`);
    this.renderSendState();
  }

  renderUploads() {
    if (!this.tray) return;
    mount(this.tray, this.uploads.map((u) => u.chip.el));
    this.tray.hidden = !this.uploads.length;
    for (const upload of this.uploads) this.renderUpload(upload);
    this.renderSendState();
  }

  /** Send waits for every chosen file to be uploaded. */
  renderSendState() {
    const waiting = this.uploads.some((u) => u.state !== "done");
    this.sendButton.disabled = waiting;
    this.sendButton.title = waiting ? t("attach.waiting") : "";
  }

  dropUpload(upload) {
    upload.remove();
    forgetPreview(upload);
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

// --- Attachments ---------------------------------------------------------------------------

const isImage = (mime) => typeof mime === "string" && mime.startsWith("image/");

/** What a message says, for labels and quotes: its text, else its files' names. */
function summaryOf(m) {
  if (m.body) return m.body;
  const names = (m.attachments || []).map((a) => a.name);
  return names.length ? `📎 ${names.join(", ")}` : "";
}

// --- Days, times and text ---------------------------------------------------------------------

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

/** The time of day alone, for a message in a group. */
const clockTime = (ms) => new Date(ms).toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });

/** Whether a name ending at `end` ends there as a word (a Chinese name may run on into text). */
function endsWord(text, end, name) {
  const next = text[end];
  return next === undefined || !/[\p{L}\p{N}_]/u.test(next) || /\p{Script=Han}$/u.test(name);
}

/** Whom a message names: `@Name` of each mentioned member, and `@channel`; mine marked. */
function mentionsOf(m) {
  const ids = (m.mentions || []).map((id) => ({ text: `@${userName(id)}`, me: id === me().id }));
  if (m.mention_channel) ids.push({ text: "@channel", me: true });
  return ids;
}

/**
 * Text as Markdown (markdown.js builds DOM, never HTML), its links opening in a new tab and
 * the `@Name`s of `mentions` (`[{text, me}]`, or `mentionsIn`'s answer) lit up.
 */
function richText(text, mentions) {
  const md = renderMarkdown(text);
  for (const a of md.querySelectorAll("a[href]")) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  const names = Array.isArray(mentions) ? mentions : [
    ...mentions.ids.map((id) => ({ text: `@${userName(id)}`, me: id === me().id })),
    ...(mentions.channelWide ? [{ text: "@channel", me: true }] : []),
  ];
  if (names.length) markMentions(md, names.sort((x, y) => y.text.length - x.text.length));
  return md;
}

/** Link → a promise of its preview (or null), asked of the server once per page load. */
const previews = new Map();
/** The first web link of a message (outside code), for its preview card. */
const LINK = /https?:\/\/[^\s<>"'`，。；：！？、（）【】“”‘’]+/;

/**
 * A card under the message with the title, description and site of the page its first link
 * leads to, as the server read it; nothing when the page gives none.
 */
function linkPreview(m) {
  if (!m.body || m.action) return null;
  const text = m.body.replace(/```[\s\S]*?```/g, "").replace(/`[^`]*`/g, "");
  const found = LINK.exec(text);
  if (!found) return null;
  const url = found[0].replace(/[).,;:!?]+$/, "");
  if (!previews.has(url)) {
    previews.set(url, api("GET", `/v1/link-preview?url=${encodeURIComponent(url)}`).catch(() => null));
  }
  const slot = h("div", { class: "link-preview-slot" });
  previews.get(url).then((p) => {
    if (!p || !p.title) return;
    mount(slot, h("a", {
      class: "link-preview", href: p.url, target: "_blank", rel: "noopener noreferrer",
      dataset: { preview: url },
    },
    p.site_name ? h("span", { class: "link-preview-site" }, p.site_name) : null,
    h("strong", { class: "link-preview-title" }, p.title),
    p.description ? h("span", { class: "link-preview-text" }, p.description) : null));
  });
  return slot;
}

/** Each `@Name` of `names` in the text of `root` (outside code and links) in a `.mention`. */
function markMentions(root, names) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    if (!walker.currentNode.parentElement.closest("code, a")) texts.push(walker.currentNode);
  }
  for (const node of texts) {
    const s = node.data;
    const parts = [];
    let done = 0;
    for (let at = s.indexOf("@"); at >= 0; at = s.indexOf("@", at + 1)) {
      const hit = names.find((n) => s.startsWith(n.text, at));
      if (!hit) continue;
      parts.push(s.slice(done, at), h("span", { class: `mention${hit.me ? " mention-me" : ""}` }, hit.text));
      done = at + hit.text.length;
      at = done - 1;
    }
    if (parts.length) node.replaceWith(...parts.filter((p) => p !== ""), s.slice(done));
  }
}

function forgetPreview(upload) {
  if (upload.preview) URL.revokeObjectURL(upload.preview);
  upload.preview = null;
}

const contentPath = (a, download) => `/v1/files/${a.id}/content${download ? "?download=true" : ""}`;

/** A link to a file that downloads it (`downloadLink` in ui.js). */
const downloadLink = (a, attrs, ...children) => fileLink(contentPath(a, true), a.name, attrs, ...children);

/**
 * An image's preview (its thumbnail when the server made one) in a box of fixed height, so
 * nothing below it moves when it loads. One the browser cannot show becomes a file card.
 */
function imageAttachment(a) {
  const img = h("img", { alt: a.name, decoding: "async", dataset: { file: a.id } });
  mediaUrl(a.thumbnail ? `/v1/files/${a.id}/thumbnail` : contentPath(a, false)).then((url) => { img.src = url; }, () => {});
  img.addEventListener("error", () => figure.replaceWith(fileCard(a)), { once: true });
  const figure = h("figure", { class: "attachment attachment-image", dataset: { file: a.id } },
    h("button", {
      type: "button", class: "image-open", title: t("attach.open", { name: a.name }),
      "aria-label": t("attach.open", { name: a.name }),
      onclick: () => openImage(a),
    }, img),
    h("figcaption", null,
      h("span", { class: "attachment-name", title: a.name }, a.name),
      h("span", { class: "muted" }, formatSize(a.size)),
      downloadLink(a, { class: "attachment-download", title: t("attach.download", { name: a.name }),
        "aria-label": t("attach.download", { name: a.name }) }, icon("download", { size: 16 }))));
  return figure;
}

/** The image at full size in a dialog, with its download. */
async function openImage(a) {
  const img = h("img", { class: "lightbox-image", alt: a.name });
  img.src = await mediaUrl(contentPath(a, false)).catch(() => "");
  await dialog(a.name, (close) => h("div", { class: "lightbox" }, img,
    h("div", { class: "dialog-actions" },
      downloadLink(a, { class: "button" }, icon("download", { size: 16 }), t("attach.save")),
      h("button", { type: "button", onclick: () => close(null) }, t("close")))));
}

/** Any other file: an icon for its kind, its name and size; the whole card downloads it. */
function fileCard(a) {
  return downloadLink(a, {
    class: "attachment attachment-file", dataset: { file: a.id },
    title: t("attach.download", { name: a.name }), "aria-label": t("attach.download", { name: a.name }),
  },
  fileIcon(a.name, a.mime),
  h("span", { class: "file-text" },
    h("span", { class: "attachment-name" }, a.name),
    h("span", { class: "muted" }, formatSize(a.size))),
  h("span", { class: "file-get", "aria-hidden": "true" }, icon("download")));
}

/** A page with a folded corner (drawn by app.css), its extension on it, coloured by kind. */
export function fileIcon(name, mime) {
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 && name.length - dot <= 6 ? name.slice(dot + 1).toUpperCase() : "";
  const kind = /pdf/.test(mime || "") || ext === "PDF" ? "pdf"
    : /^(DOCX?|ODT|RTF|PAGES)$/.test(ext) ? "doc"
      : /^(XLSX?|CSV|ODS|NUMBERS)$/.test(ext) ? "sheet"
        : /^(PPTX?|ODP|KEY)$/.test(ext) ? "slides"
          : /^(ZIP|RAR|7Z|GZ|TGZ|TAR|XZ|BZ2)$/.test(ext) ? "archive"
            : /^(audio|video)\//.test(mime || "") ? "media"
              : isImage(mime) ? "image" : "other";
  return h("span", { class: "file-icon", dataset: { ext: ext.slice(0, 4), kind }, "aria-hidden": "true" });
}
