// The composer of a ChatView (chat.js): a box that wraps the selection in Markdown from its
// toolbar (and Ctrl+B, I, E, K), previews it, picks emoji, completes @mentions from the channel's
// members (sent as `mentions`), keeps a draft per channel, replies, and edits the last message on
// Up. Files join a message from the attach button, a drop on the chat or a paste: each is
// uploaded at once (tus, resumable, see `Upload` in ui.js) and shown as a chip until it is sent.
// These are methods of ChatView (mixed into its prototype by chat.js), so the box's state lives
// on the view (`this.input`, `this.uploads`...) and ThreadView (thread.js) overrides some of them.

import { t } from "./i18n.js";
import { h, mount, me, api, formatSize, showError, toast, Upload } from "./ui.js";
import { state, userName, channelName, canPost } from "./app.js";
import { icon } from "./icons.js";
import { pickEmoji } from "./emoji.js";
import { avatar } from "./people.js";
import { richText } from "./message.js";
import { fileIcon, isImage } from "./attachments.js";

/** The server takes at most this many files with one message. */
const MAX_ATTACHMENTS = 20;
/** People offered at most by the @mention list. */
const MAX_SUGGESTIONS = 8;

/** ChatView's methods for its composer (see chat.js). */
export class ComposerParts {
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
}

/** Whether a name ending at `end` ends there as a word (a Chinese name may run on into text). */
function endsWord(text, end, name) {
  const next = text[end];
  return next === undefined || !/[\p{L}\p{N}_]/u.test(next) || /\p{Script=Han}$/u.test(name);
}

function forgetPreview(upload) {
  if (upload.preview) URL.revokeObjectURL(upload.preview);
  upload.preview = null;
}
