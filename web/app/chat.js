// A channel's messages with the composer, in the channel view and beside a call: history
// with older pages on scroll (and newer ones when opened at a message, as search.js does), live
// events, replies, edits, recall, pins, reactions, typing, "read by N of M" with who has not
// read, and read markers moved as the user sees messages.
// Files join a message from the attach button, a drop on the chat or a paste: each is uploaded
// at once (tus, resumable, see `Upload` in ui.js) and shown as a chip until it is sent.

import { t } from "./i18n.js";
import {
  h, mount, me, formatTime, formatSize, initials, colour, showError, toast, dialog, mediaUrl, Upload,
  downloadLink as fileLink, dropZone,
} from "./ui.js";
import { state, userName, channelName, canPost, renderSidebar } from "./app.js";

const REACTIONS = ["👍", "✅", "❤️", "😂", "🎉", "👀"];
/** The server takes at most this many files with one message. */
const MAX_ATTACHMENTS = 20;

/**
 * A channel's messages with the composer: used by the channel view and beside a meeting.
 * Follows the channel's events while open; marks read what the user has seen.
 */
export class ChatView {
  /** `focusSeq`: open at this message (scrolled to and lit up) rather than at the newest. */
  constructor(el, channel, { compact = false, focusSeq = null } = {}) {
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
    /** Files chosen for the next message, in order: `Upload`s with their chips. */
    this.uploads = [];
    this.list = h("div", { class: "messages", role: "log", "aria-live": "polite", "aria-label": t("chat.messages") });
    this.scroller = h("div", { class: "message-scroll", onscroll: () => this.onScroll() }, this.list);
    this.newPill = h("button", { class: "new-pill", hidden: true, onclick: () => this.scrollToEnd() }, t("chat.newMessages"));
    this.typingLine = h("div", { class: "typing-line", "aria-live": "polite" });
    this.composer = this.buildComposer();
    this.root = h("div", { class: `chat${compact ? " compact" : ""}`, dataset: { drop: t("attach.drop") } },
      this.scroller, this.newPill, this.typingLine, this.composer);
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
    this.closed = true;
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
  async loadAround(seq) {
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
    if (!this.reveal(seq)) toast(t("chat.messageGone"), "error");
    this.markRead();
    this.loadRosters(loaded);
  }

  /**
   * Scroll to the message with `seq` and light it up for a moment; `false` when it is not
   * loaded. Keyboard focus goes to it, so the next Tab is from where the user is reading.
   */
  reveal(seq) {
    const m = [...this.messages.values()].find((x) => x.seq === seq);
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
      this.hasMore = reply.has_more;
      const before = this.scroller.scrollHeight;
      for (const m of reply.messages) this.messages.set(m.id, m);
      this.renderAll();
      // Keep what the user was reading where it was.
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
    } finally {
      this.loadingOlder = false;
    }
  }

  /** The loaded messages in order; live ones past a gap to the newest wait unshown. */
  sorted() {
    return [...this.messages.values()]
      .filter((m) => !this.hasNewer || m.seq <= this.edge)
      .sort((a, b) => a.seq - b.seq);
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
  }

  onScroll() {
    if (this.scroller.scrollTop < 80) this.loadOlder().catch(showError);
    const s = this.scroller;
    if (this.hasNewer && s.scrollHeight - s.scrollTop - s.clientHeight < 80) this.loadNewer().catch(showError);
    if (this.atEnd()) {
      this.newPill.hidden = true;
      this.markRead();
    }
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
    const items = this.sorted().map((m) => this.node(m));
    mount(this.list, this.hasMore ? h("div", { class: "muted center" }, t("chat.scrollForOlder")) : null, items,
      items.length ? null : h("div", { class: "empty" }, t("chat.empty")),
      this.hasNewer ? h("div", { class: "muted center" }, t("chat.scrollForNewer")) : null);
  }

  rerender(id) {
    const old = this.nodes.get(id);
    const m = this.messages.get(id);
    if (old && m) old.replaceWith(this.node(m));
  }

  /** One message's element. Its height does not change when receipts arrive (one fixed line). */
  node(m) {
    const mine = m.sender === me().id;
    const recalled = m.recalled_at !== null && m.recalled_at !== undefined;
    const replied = m.reply_to ? this.messages.get(m.reply_to) : null;
    const el = h("article", {
      class: `message${mine ? " mine" : ""}${m.priority === "urgent" ? " urgent" : ""}`,
      dataset: { id: m.id, seq: m.seq },
      tabindex: "0",
      "aria-label": `${userName(m.sender)}: ${recalled ? t("message.recalled") : summaryOf(m)}`,
    },
      h("span", { class: "avatar", style: `background:${colour(m.sender)}`, "aria-hidden": "true" }, initials(userName(m.sender))),
      h("div", { class: "message-main" },
        h("div", { class: "message-head" },
          h("strong", null, userName(m.sender)),
          h("time", { datetime: new Date(m.created_at).toISOString() }, formatTime(m.created_at)),
          m.priority === "urgent" ? h("span", { class: "tag urgent" }, t("message.urgent")) : null,
          m.pinned_at ? h("span", { class: "tag" }, "📌 " + t("message.pinned")) : null,
          m.edited_at && !recalled ? h("span", { class: "muted" }, t("message.edited")) : null),
        replied ? h("blockquote", { class: "reply-quote" }, userName(replied.sender), ": ",
          replied.body === null ? t("message.recalled") : summaryOf(replied).slice(0, 120)) : null,
        recalled || m.body || !m.attachments?.length
          ? h("div", { class: `message-body${recalled ? " recalled" : ""}` }, recalled ? t("message.recalled") : m.body) : null,
        recalled ? null : this.attachmentList(m),
        m.action && m.action.kind === "join_bridge" && !recalled
          ? h("a", { class: "button small", href: `#/bridge/${m.channel}/${m.id}` }, "🎧 " + t("ping.joinBridge")) : null,
        this.reactions(m),
        mine && !recalled ? this.receiptLine(m) : null,
        mine && m.priority === "urgent" && m.ack_requested && !recalled ? this.rosterBox(m) : null),
      recalled ? null : this.actions(m, mine));
    this.nodes.set(m.id, el);
    return el;
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
    const act = (label, title, fn) => h("button", { class: "icon", title, "aria-label": title, onclick: fn }, label);
    return h("div", { class: "message-actions" },
      act("↩", t("message.reply"), () => this.setReply(m)),
      h("details", { class: "react-menu" },
        h("summary", { title: t("message.react"), "aria-label": t("message.react") }, "☺"),
        h("div", { class: "react-pick" }, REACTIONS.map((emoji) => h("button", {
          class: "icon",
          onclick: (e) => {
            e.target.closest("details").open = false;
            state.client.react(this.channel, m.id, emoji, true).catch(showError);
          },
        }, emoji)))),
      mayPin ? act("📌", m.pinned_at ? t("message.unpin") : t("message.pin"),
        () => state.client.pin(this.channel, m.id, !m.pinned_at).catch(showError)) : null,
      mine ? act("✎", t("message.edit"), () => this.startEdit(m)) : null,
      mine || me().role === "admin" ? act("⌫", t("message.recall"), async () => {
        if (!confirm(t("message.recallConfirm"))) return;
        state.client.recall(this.channel, m.id).catch(showError);
      }) : null);
  }

  setReply(m) {
    this.editing = null;
    this.replyTo = m;
    this.renderComposerState();
    this.input.focus();
  }

  startEdit(m) {
    this.replyTo = null;
    this.editing = m;
    this.input.value = m.body;
    this.renderComposerState();
    this.input.focus();
  }

  renderComposerState() {
    const m = this.replyTo || this.editing;
    mount(this.context, m ? [
      h("span", null, this.editing ? t("composer.editing") : t("composer.replyingTo", { name: userName(m.sender) })),
      h("button", {
        class: "icon", "aria-label": t("cancel"),
        onclick: () => {
          if (this.editing) this.input.value = "";
          this.replyTo = null;
          this.editing = null;
          this.renderComposerState();
        },
      }, "✕")] : null);
    this.context.hidden = !m;
  }

  buildComposer() {
    const summary = this.summary;
    const channel = summary && summary.channel;
    if (channel && !canPost(channel)) {
      return h("div", { class: "composer readonly muted" }, t("composer.announcementOnly"));
    }
    this.context = h("div", { class: "composer-context", hidden: true });
    this.input = h("textarea", {
      class: "composer-input", rows: 1, id: `composer-${this.channel}-${Math.random().toString(36).slice(2, 6)}`,
      placeholder: t("composer.placeholder", { name: channel ? channelName(channel.id) : "" }),
      "aria-label": t("composer.label"),
      onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        } else if (e.key === "Escape" && (this.replyTo || this.editing)) {
          this.replyTo = null;
          this.editing = null;
          this.renderComposerState();
        }
      },
      oninput: () => {
        if (this.input.value && Date.now() - (this.lastTyping || 0) > 3000) {
          this.lastTyping = Date.now();
          state.client.typing(this.channel).catch(() => {});
        }
      },
    });
    this.input.addEventListener("paste", (e) => {
      const files = [...((e.clipboardData && e.clipboardData.files) || [])];
      if (!files.length) return;
      e.preventDefault();
      this.addFiles(files);
    });
    this.urgent = h("input", { type: "checkbox", id: `urgent-${this.channel}-${Math.random().toString(36).slice(2, 6)}`, class: "urgent-toggle" });
    this.picker = h("input", {
      type: "file", multiple: true, hidden: true, class: "attach-input", tabindex: "-1",
      onchange: () => {
        this.addFiles([...this.picker.files]);
        this.picker.value = "";
      },
    });
    this.tray = h("div", { class: "upload-tray", hidden: true, role: "list", "aria-label": t("attach.list") });
    this.sendButton = h("button", { type: "submit", class: "primary", "aria-label": t("composer.send") }, t("composer.send"));
    return h("form", {
      class: "composer",
      onsubmit: (e) => {
        e.preventDefault();
        this.submit();
      },
    },
      this.context,
      this.tray,
      h("div", { class: "composer-row" },
        h("button", {
          type: "button", class: "attach", title: t("attach.button"), "aria-label": t("attach.button"),
          onclick: () => this.picker.click(),
        }, "📎"),
        this.picker,
        this.input,
        this.sendButton),
      this.compact ? null : h("label", { class: "urgent-label", for: this.urgent.id }, this.urgent, " 🚨 ", t("composer.urgent")));
  }

  async submit() {
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
    this.input.value = "";
    this.replyTo = null;
    this.editing = null;
    if (this.urgent) this.urgent.checked = false;
    if (files.length) this.uploads = [];
    this.renderComposerState();
    this.renderUploads();
    try {
      if (editing) {
        await state.client.edit(this.channel, editing.id, body);
      } else {
        const sent = await this.post(body, { replyTo: replyTo ? replyTo.id : undefined, urgent, files });
        if (urgent) this.loadRoster({ id: sent.message_id });
        for (const upload of files) forgetPreview(upload);
      }
    } catch (err) {
      // Nothing is lost: the text comes back to the box, the files to the tray.
      this.input.value = body;
      if (files.length) this.uploads = [...files, ...this.uploads];
      this.renderUploads();
      showError(err);
    }
  }

  /** Send a message; with files, the SDK's frame plus `attachments` (its `send` has no option for them). */
  post(body, { replyTo, urgent, files }) {
    const options = { replyTo };
    if (!files.length) {
      return urgent ? state.client.sendUrgent(this.channel, body, options) : state.client.send(this.channel, body, options);
    }
    const frame = {
      type: "send", channel: this.channel, client_id: state.client.newClientId(), body,
      attachments: files.map((u) => u.fileId),
    };
    if (replyTo !== undefined) frame.reply_to = replyTo;
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
    }, "✕");
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
    c.toggle.textContent = now === "uploading" ? "⏸" : now === "failed" ? "↻" : "▶";
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
        this.messages.set(event.message.id, event.message);
        this.typing.delete(event.message.sender);
        this.renderTyping();
        if (this.hasNewer) {
          // Past the gap below: it shows when the pages reach it, or when the pill (or the
          // user's own message) loads the newest.
          if (event.message.sender === me().id) this.scrollToEnd();
          else this.newPill.hidden = false;
          break;
        }
        const node = this.node(event.message);
        const empty = this.list.querySelector(".empty");
        if (empty) empty.remove();
        this.list.append(node);
        if (wasAtEnd || event.message.sender === me().id) this.scrollToEnd();
        else this.newPill.hidden = false;
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
        "aria-label": t("attach.download", { name: a.name }) }, "⬇")));
  return figure;
}

/** The image at full size in a dialog, with its download. */
async function openImage(a) {
  const img = h("img", { class: "lightbox-image", alt: a.name });
  img.src = await mediaUrl(contentPath(a, false)).catch(() => "");
  await dialog(a.name, (close) => h("div", { class: "lightbox" }, img,
    h("div", { class: "dialog-actions" },
      downloadLink(a, { class: "button" }, "⬇ ", t("attach.save")),
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
  h("span", { class: "file-get", "aria-hidden": "true" }, "⬇"));
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
