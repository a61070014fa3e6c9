// One message of a ChatView (chat.js) as it shows in the list: its sender's picture and name
// (opening their profile card), or only its time when it goes on a group; tags for urgent,
// pinned and edited; the quote of what it answers; its body as Markdown (markdown.js: DOM only,
// never HTML) with mentions lit up; a missed call's ring back; its files and link preview
// (attachments.js); reactions; "N replies" to its thread; for the sender, "read by N of M" with
// who has not read, and an urgent ping's acknowledgements; and its actions on hover or focus.
// These are methods of ChatView (mixed into its prototype by chat.js), so they read the view's
// messages, channel and thread through `this`.

import { t, lang } from "./i18n.js";
import { h, me, formatTime, showError, dialog, confirmAction } from "./ui.js";
import { state, userName, canPost } from "./app.js";
import { renderMarkdown } from "./markdown.js";
import { icon } from "./icons.js";
import { pickEmoji } from "./emoji.js";
import { avatar, showProfile, openDirect } from "./people.js";
import { attachmentList, linkPreview } from "./attachments.js";
import { ring } from "./calls.js";

const REACTIONS = ["👍", "✅", "❤️", "😂", "🎉", "👀"];

/** ChatView's methods for one message (see chat.js). */
export class MessageParts {
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
        recalled ? null : attachmentList(m),
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
    // "· " keeps the visible words apart, as the label says them ("1 reply, last reply …").
    when ? h("span", { class: "thread-last muted" }, "· ", when) : null,
    unseen ? h("span", { class: "thread-new" }, "· ", t("thread.new")) : null);
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
        // Rings them into the meeting with the "Ringing… Hang up" note, like any ring.
        onclick: () => ring(m.channel, [caller]),
      }, icon("phone", { size: 14 }), " ", t("call.callBack")));
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
}

/** What a message says, for labels and quotes: its text, else its files' names. */
function summaryOf(m) {
  if (m.body) return m.body;
  const names = (m.attachments || []).map((a) => a.name);
  return names.length ? `📎 ${names.join(", ")}` : "";
}

/** The time of day alone, for a message in a group. */
const clockTime = (ms) => new Date(ms).toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });

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
export function richText(text, mentions) {
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
