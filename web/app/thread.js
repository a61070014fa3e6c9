// A message's thread in a panel beside the channel's list (issue 23): the first message, then
// its replies (`history` with `replies_to`, then live replies), and a composer of its own that
// keeps a reply in the thread unless "Also send to channel" is ticked. It is a ChatView (chat.js)
// of the same channel, so messages render, react, edit and recall as in the list, and the box
// formats, mentions, takes files and keeps a draft (per thread).
// The reader's place: the newest reply seen here, per thread and user (`markThreadSeen`), is
// what the list's "· new" is measured against. A desktop shows the panel to the right of the
// list; a phone shows it over the channel. Esc or ✕ closes it, and the focus goes back to what
// opened it.

import { t } from "./i18n.js";
import { h, me } from "./ui.js";
import { state, channelName } from "./app.js";
import { icon } from "./icons.js";
import { ChatView, markThreadSeen, threadSeen } from "./chat.js";

/** A thread holds at most this many replies per page of `history` (the server's limit). */
const REPLIES = 200;

export class ThreadView extends ChatView {
  /** The thread of `root`, a message shown by `parent` (the channel's ChatView), in a panel beside it. */
  constructor(parent, root) {
    const body = h("div", { class: "thread-host" });
    const close = h("button", {
      type: "button", class: "icon thread-close", title: t("thread.close"), "aria-label": t("thread.close"),
    }, icon("close"));
    const excerpt = (root.body || "").replace(/\s+/g, " ").trim().slice(0, 60);
    const panel = h("aside", {
      class: "thread-panel", role: "complementary",
      "aria-label": excerpt ? t("thread.panel", { text: excerpt }) : t("thread.title"),
      dataset: { thread: root.id },
    },
    h("header", { class: "thread-header" },
      icon("thread", { size: 18 }),
      h("h2", null, t("thread.title")),
      h("span", { class: "muted thread-channel" }, channelName(parent.channel)),
      close),
    body);
    parent.el.append(panel);
    super(body, parent.channel, { compact: true, thread: { ...root } });
    this.parent = parent;
    this.panel = panel;
    close.addEventListener("click", () => this.close());
    // Esc anywhere in the panel closes it, unless something in it (the @list, an edit, a
    // menu) took the key first.
    panel.addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || e.defaultPrevented || e.isComposing) return;
      e.preventDefault();
      this.close();
    });
    this.focusComposer();
  }

  /** The box, else (where only some may post) the close button. */
  focusComposer() {
    (this.input || this.panel.querySelector(".thread-close")).focus();
  }

  close({ refocus = true } = {}) {
    if (this.closed) return;
    super.close();
    this.panel.remove();
    this.parent.threadClosed(this, { refocus });
  }

  draftKey() {
    return `parley.draft.${me().id}.${this.channel}.thread.${this.thread.id}`;
  }

  /** The first message, then its replies oldest first. */
  async load() {
    this.members().catch(() => {});
    const reply = await state.client.history(this.channel, { repliesTo: this.thread.id, limit: REPLIES });
    if (this.closed) return;
    this.hasMore = false;
    this.hasNewer = false;
    this.messages.clear();
    this.messages.set(this.thread.id, this.thread);
    for (const m of reply.messages) this.messages.set(m.id, m);
    // "New messages" goes above the first reply from others the reader had not seen here.
    this.readAtOpen = Math.max(this.seenSeq(), this.thread.seq);
    this.endAtOpen = this.newestReply();
    this.renderAll();
    this.scrollToEnd();
  }

  shows(m) {
    return m.id === this.thread.id || m.reply_to === this.thread.id;
  }

  /** The replies start a group of their own under the first message. */
  continues(prev, m) {
    return prev.id !== this.thread.id && super.continues(prev, m);
  }

  /** A line between the first message and its replies. */
  itemsFor(m, prev) {
    const items = super.itemsFor(m, prev);
    if (prev && prev.id === this.thread.id) {
      items.unshift(h("div", { class: "thread-divider", role: "separator", "aria-label": t("thread.replies") },
        h("span", null, t("thread.replies"))));
    }
    return items;
  }

  newestReply() {
    let seq = 0;
    for (const m of this.messages.values()) if (m.id !== this.thread.id && m.seq > seq) seq = m.seq;
    return seq;
  }

  seenSeq() {
    return threadSeen(this.channel, this.thread.id);
  }

  /** Not the channel's read marker: the thread's, once its newest reply is in view. */
  markRead() {
    if (!this.parent || document.visibilityState !== "visible" || !this.atEnd()) return;
    const seq = this.newestReply();
    if (seq && markThreadSeen(this.channel, this.thread.id, seq)) this.parent.rerender(this.thread.id);
  }

  /** Only this thread's new replies join it; edits, reactions and recalls as in the list. */
  onEvent(event) {
    if (event.type === "message" && event.channel === this.channel && event.message.reply_to !== this.thread.id) return;
    super.onEvent(event);
  }

  buildComposer() {
    const form = super.buildComposer();
    if (!this.input) return form;
    this.input.placeholder = t("thread.placeholder");
    this.input.setAttribute("aria-label", t("thread.composer"));
    this.alsoChannel = h("input", { type: "checkbox", id: `${this.input.id}-also`, class: "also-channel-toggle" });
    form.append(h("label", { class: "also-channel", for: this.alsoChannel.id }, this.alsoChannel, t("thread.alsoChannel")));
    return form;
  }

  /** Every reply answers the first message; kept in the thread unless "Also send to channel". */
  async post(body, options) {
    const threadOnly = !this.alsoChannel.checked;
    const sent = await super.post(body, { ...options, replyTo: this.thread.id, threadOnly, urgent: false });
    this.alsoChannel.checked = false;
    return sent;
  }
}
