// Calls from a channel: what is on now ("Meeting in progress · 3 in it · Join", in the channel
// and beside it in the sidebar), ringing people into the meeting, and the incoming-call screen
// with accept and decline (and a tone) while someone rings you.

import { t } from "./i18n.js";
import { h, mount, api, me, showError, toast, dialog } from "./ui.js";
import { icon } from "./icons.js";
import { avatar } from "./people.js";

/** channel id → Map(room name → RoomInfo) of its open meeting and bridge. */
export const live = new Map();
/** ring id → the incoming ring on screen, with its element and tone. */
const incoming = new Map();
/** ring id → my outgoing ring and its "Ringing…" note. */
const outgoing = new Map();
/** What the rest of the app gives: the live state, names, the sidebar's redraw. */
let app = null;

export function initCalls(context) {
  app = context;
}

/**
 * A channel's calls with someone in them. A ring opens the meeting before anyone joins, and an
 * empty room stays open a while after the last one left: neither is "in progress".
 */
function occupied(channel) {
  return [...(live.get(channel) || new Map()).values()].filter((room) => room.num_participants > 0);
}

/** The people in a channel's calls now (0 when none is open). */
export function peopleIn(channel) {
  return occupied(channel).reduce((n, room) => n + room.num_participants, 0);
}

export function isLive(channel) {
  return occupied(channel).length > 0;
}

/** Read a channel's open calls (when its view opens; events keep them current after). */
export async function loadCalls(channel) {
  const rooms = await api("GET", `/v1/channels/${channel}/calls`).catch(() => null);
  if (!rooms) return;
  live.set(channel, new Map(rooms.map((r) => [r.name, r])));
  redraw(channel);
}

/** A `/v1/ws` event about calls; true when it was one. */
export function onCallEvent(event) {
  switch (event.type) {
    case "channel_call": {
      if (!live.has(event.channel)) live.set(event.channel, new Map());
      live.get(event.channel).set(event.room.name, event.room);
      redraw(event.channel);
      return true;
    }
    case "channel_call_ended": {
      live.get(event.channel)?.delete(event.room);
      redraw(event.channel);
      return true;
    }
    case "ring":
      showIncoming(event.ring);
      return true;
    case "ring_updated":
      ringUpdated(event.ring);
      return true;
    default:
      return false;
  }
}

/** Every live bar of `channel` on the page, and the sidebar's mark. */
function redraw(channel) {
  for (const bar of document.querySelectorAll(`.call-bar[data-channel="${channel}"]`)) fillBar(bar, channel);
  if (app && app.renderSidebar) app.renderSidebar();
}

/** The bar a channel shows while its meeting or bridge is open; empty otherwise. */
export function callBar(channel) {
  const bar = h("div", { class: "call-bar", dataset: { channel: String(channel) }, role: "status", "aria-live": "polite" });
  fillBar(bar, channel);
  loadCalls(channel);
  return bar;
}

function fillBar(bar, channel) {
  const rooms = occupied(channel);
  bar.hidden = rooms.length === 0;
  mount(bar, ...rooms.map((room) => {
    const bridge = room.name.startsWith("bridge-");
    return h("div", { class: `call-bar-item${bridge ? " bridge" : ""}`, dataset: { room: room.name } },
      icon(bridge ? "headset" : "video", { size: 18 }),
      h("span", { class: "call-bar-text" },
        t(bridge ? "call.bridgeLive" : "call.meetingLive", { n: room.num_participants })),
      bridge ? null
        : h("a", { class: "button small primary", href: `#/meet/${channel}`, dataset: { action: "join-call" } },
          t("call.join")));
  }));
}

/** The sidebar's mark beside a channel with a call on. */
export function liveMark(channel) {
  if (!isLive(channel)) return null;
  return h("span", { class: "live-mark", title: t("call.live"), role: "img", "aria-label": t("call.live") },
    icon("video", { size: 14 }));
}

// --- Ringing ----------------------------------------------------------------------------------

/**
 * Ask whom to ring (the channel's other members, all ticked), ring them, and go to the meeting.
 * `members` are the channel's `{user_id, name, avatar}`.
 */
export async function ringDialog(channel, members) {
  const others = members.filter((m) => m.user_id !== me().id);
  if (!others.length) return;
  const boxes = others.map((m) => h("input", {
    type: "checkbox", checked: true, value: String(m.user_id), id: `ring-${m.user_id}`,
  }));
  const chosen = await dialog(t("call.ringTitle"), (close) => h("form", {
    class: "ring-form",
    onsubmit: (e) => {
      e.preventDefault();
      close(boxes.filter((b) => b.checked).map((b) => Number(b.value)));
    },
  },
  h("p", { class: "muted" }, t("call.ringExplain")),
  h("ul", { class: "ring-list" }, ...others.map((m, i) => h("li", null,
    h("label", { for: `ring-${m.user_id}`, class: "check" }, boxes[i], " ",
      avatar({ id: m.user_id, name: m.name, avatar: m.avatar }, { size: "small" }), " ", m.name)))),
  h("div", { class: "dialog-actions" },
    h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
    h("button", { type: "submit", class: "primary", dataset: { action: "ring-now" } },
      icon("phone", { size: 16 }), " ", t("call.ringNow")))));
  if (!chosen || !chosen.length) return;
  await ring(channel, chosen);
}

/** Ring `users` into the channel's meeting, show "Ringing…" with a hang-up, open the meeting. */
export async function ring(channel, users) {
  let made;
  try {
    made = await api("POST", `/v1/channels/${channel}/ring`, { user_ids: users });
  } catch (error) {
    showError(error);
    return;
  }
  const note = h("div", { class: "ringing-note", role: "status", dataset: { ring: String(made.id) } },
    icon("phone", { size: 16 }), " ",
    h("span", null, t("call.ringing"), " ", made.callees.map((c) => app.userName(c.user_id)).join(", ")),
    h("button", {
      type: "button", class: "small", dataset: { action: "hang-up" },
      onclick: async () => {
        try {
          await api("DELETE", `/v1/rings/${made.id}`);
        } catch (error) {
          showError(error);
        }
        note.remove();
      },
    }, t("call.cancel")));
  document.body.append(note);
  outgoing.set(made.id, note);
  location.hash = `#/meet/${channel}`;
}

function ringUpdated(ringInfo) {
  const mine = ringInfo.caller === me().id;
  if (mine) {
    const note = outgoing.get(ringInfo.id);
    for (const c of ringInfo.callees) {
      const key = `${ringInfo.id}:${c.user_id}:${c.answer}`;
      if (!c.answer || told.has(key)) continue;
      told.add(key);
      toast(t(c.answer === "accepted" ? "call.accepted" : "call.declined", { name: app.userName(c.user_id) }));
    }
    if (ringInfo.ended_at && note) {
      if (ringInfo.end_reason === "missed") toast(t("call.noAnswer"));
      note.remove();
      outgoing.delete(ringInfo.id);
    }
    return;
  }
  const mineAnswered = ringInfo.callees.find((c) => c.user_id === me().id)?.answer;
  if (ringInfo.ended_at || mineAnswered) dismiss(ringInfo.id);
}

/** Answers already told to the caller (an update repeats the earlier answers). */
const told = new Set();

// --- Being rung --------------------------------------------------------------------------------

function showIncoming(ringInfo) {
  if (incoming.has(ringInfo.id) || ringInfo.ended_at) return;
  const caller = app.state.users.get(ringInfo.caller) || { id: ringInfo.caller, name: app.userName(ringInfo.caller) };
  const answer = async (accept) => {
    try {
      await api("POST", `/v1/rings/${ringInfo.id}/answer`, { accept });
    } catch (error) {
      showError(error);
    }
    dismiss(ringInfo.id);
    if (accept) location.hash = `#/meet/${ringInfo.channel}`;
  };
  const screen = h("div", {
    class: "incoming-call", role: "alertdialog", "aria-modal": "true",
    "aria-labelledby": `incoming-${ringInfo.id}`, dataset: { ring: String(ringInfo.id) },
    onkeydown: (e) => e.key === "Escape" && answer(false),
  },
  h("div", { class: "incoming-card" },
    avatar(caller, { size: "huge", label: true }),
    h("h2", { id: `incoming-${ringInfo.id}` }, t("call.incoming", { name: caller.name })),
    h("p", { class: "muted" }, t("call.incomingWhere", { channel: app.channelName(ringInfo.channel) })),
    h("div", { class: "incoming-actions" },
      h("button", { type: "button", class: "danger round", dataset: { action: "decline" }, onclick: () => answer(false) },
        icon("leave", { size: 22 }), h("span", null, t("call.decline"))),
      h("button", { type: "button", class: "accept round", dataset: { action: "accept" }, onclick: () => answer(true) },
        icon("phone", { size: 22 }), h("span", null, t("call.accept"))))));
  document.body.append(screen);
  screen.querySelector("[data-action=accept]").focus();
  const tone = setInterval(ringTone, 2000);
  ringTone();
  const left = Math.max(0, ringInfo.expires_at - Date.now());
  const expiry = setTimeout(() => dismiss(ringInfo.id), left + 1000);
  incoming.set(ringInfo.id, { screen, tone, expiry });
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    try {
      const n = new Notification(t("call.incoming", { name: caller.name }), {
        body: t("call.incomingWhere", { channel: app.channelName(ringInfo.channel) }), tag: `ring-${ringInfo.id}`,
      });
      n.onclick = () => window.focus();
    } catch {
      /* a page that may not notify still shows the screen */
    }
  }
}

function dismiss(id) {
  const shown = incoming.get(id);
  if (!shown) return;
  clearInterval(shown.tone);
  clearTimeout(shown.expiry);
  shown.screen.remove();
  incoming.delete(id);
}

let audio = null;

/** Two short rising tones, like a phone; silent until the page had a user gesture. */
function ringTone() {
  try {
    audio ??= new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [440, 480].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.12, now + i * 0.4);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.4 + 0.38);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.4);
      osc.stop(now + i * 0.4 + 0.39);
    }
  } catch {
    /* no audio before a gesture: the screen and the notification remain */
  }
}
