// Meetings and voice bridges in the web app, on the SDK's Room: a pre-join screen with device
// choice and preview; the call with grid and active-speaker layouts, screen share as its own
// tile, mute, raise hand, the participant list, the channel's chat and the minutes beside the
// call, the devices (microphone, camera and speaker switched mid-call, with a level meter), the
// recording indicator and a reconnecting indicator. A voice bridge is the same room
// machinery, audio only, with the ping's roster of who acknowledged, joined and speaks.

import * as sdk from "/sdk/parley.js";
import { t } from "./i18n.js";
import { h, mount, api, token, me, initials, colour, showError, toast } from "./ui.js";
import { minutesPanel } from "./minutes.js";
import { ringDialog } from "./calls.js";
import { icon as sharedIcon } from "./icons.js";

/**
 * Icons the meeting bar needs that icons.js does not draw (yet): the layouts and the record
 * button, in the same style (24 × 24 grid, stroked with the text colour, hidden from screen
 * readers); every other name is icons.js's.
 */
const OWN_ICONS = {
  grid: ["M4 4h7v7H4z", "M13 4h7v7h-7z", "M4 13h7v7H4z", "M13 13h7v7h-7z"],
  "speaker-view": ["M3 4h18v11H3z", "M3 18h5v3H3z", "M10 18h4v3h-4z", "M16 18h5v3h-5z"],
  record: ["M12 5a7 7 0 1 0 0 14a7 7 0 1 0 0-14z", "M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z"],
};
function icon(name, options) {
  const shapes = OWN_ICONS[name];
  if (!shapes) return sharedIcon(name, options);
  const svg = sharedIcon("plus", options);
  svg.replaceChildren(...shapes.map((d) => {
    const path = document.createElementNS(svg.namespaceURI, "path");
    path.setAttribute("d", d);
    return path;
  }));
  return svg;
}

/** A small status icon with its meaning for screen readers and as a tooltip. */
const badge = (name, title, cls = "") => h("span", { class: `tile-badge ${cls}`, title, role: "img", "aria-label": title },
  icon(name, { size: 14 }));

/** The call in progress, if any: leaving the page's route leaves it. */
let active = null;

export function leaveCall() {
  if (active) {
    const call = active;
    active = null;
    call.stop();
  }
}

/** A user's identity in rooms. */
const userOf = (identity) => (identity && identity.startsWith("user:") ? Number(identity.slice(5)) : null);

/** What a device list calls the devices of each kind it has no name for ("Microphone 2"). */
const UNNAMED_DEVICE = { audioinput: "meeting.micN", videoinput: "meeting.cameraN", audiooutput: "meeting.speakerN" };
/** A device's name, as the browser gives it (only to a page allowed to use it), else its place. */
const deviceLabel = (device, i) => device.label || t(UNNAMED_DEVICE[device.kind], { n: i + 1 });

// --- Pre-join ---------------------------------------------------------------------------------

export async function renderMeeting(main, ctx, channel) {
  if (active && active.channel === channel && active.kind === "meeting") {
    active.show(main);
    return;
  }
  leaveCall();
  let preview = null;
  const video = h("video", { class: "preview-video", autoplay: true, playsinline: true, muted: true });
  const cameraSelect = h("select", { id: "camera-select" });
  const micSelect = h("select", { id: "mic-select" });
  const cameraOn = h("input", { type: "checkbox", id: "camera-on", checked: true });
  const micOn = h("input", { type: "checkbox", id: "mic-on", checked: true });
  const status = h("p", { class: "muted", role: "status" });

  const stopPreview = () => {
    if (preview) for (const track of preview.getTracks()) track.stop();
    preview = null;
  };
  const startPreview = async () => {
    stopPreview();
    if (!cameraOn.checked && !micOn.checked) {
      video.srcObject = null;
      return;
    }
    try {
      preview = await navigator.mediaDevices.getUserMedia({
        video: cameraOn.checked ? { deviceId: cameraSelect.value || undefined, width: 1280, height: 720 } : false,
        audio: micOn.checked ? { deviceId: micSelect.value || undefined } : false,
      });
      video.srcObject = preview;
      status.textContent = "";
      await listDevices();
    } catch (err) {
      status.textContent = t("meeting.noDevices", { reason: err.message });
    }
  };
  const listDevices = async () => {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [select, kind] of [[cameraSelect, "videoinput"], [micSelect, "audioinput"]]) {
      const current = select.value;
      mount(select, devices.filter((d) => d.kind === kind).map((d, i) =>
        h("option", { value: d.deviceId, selected: d.deviceId === current }, deviceLabel(d, i))));
    }
  };
  // The preview being opened: joining waits for it, so a quick click still brings the devices.
  let previewing = Promise.resolve();
  const changePreview = () => {
    previewing = startPreview();
    return previewing;
  };
  cameraSelect.onchange = changePreview;
  micSelect.onchange = changePreview;
  cameraOn.onchange = changePreview;
  micOn.onchange = changePreview;

  mount(main, h("section", { class: "prejoin" },
    h("header", { class: "view-header" },
      h("a", { href: `#/c/${channel}`, class: "back icon", "aria-label": t("back") }, icon("back")),
      h("h1", null, t("meeting.prejoin", { name: ctx.channelName(channel) }))),
    h("div", { class: "prejoin-body" },
      h("div", { class: "preview" }, video),
      h("div", { class: "prejoin-form" },
        h("label", { class: "check" }, cameraOn, " ", t("meeting.camera")),
        h("label", { for: "camera-select" }, t("meeting.cameraDevice")), cameraSelect,
        h("label", { class: "check" }, micOn, " ", t("meeting.microphone")),
        h("label", { for: "mic-select" }, t("meeting.micDevice")), micSelect,
        status,
        h("button", {
          class: "primary big", id: "join-meeting",
          onclick: async (e) => {
            e.target.disabled = true;
            await previewing;
            const media = preview;
            preview = null; // handed to the call, which publishes these very tracks
            try {
              await startCall(main, ctx, channel, "meeting", {
                camera: cameraOn.checked && media ? media.getVideoTracks()[0] : null,
                microphone: micOn.checked && media ? media.getAudioTracks()[0] : null,
              });
            } catch (err) {
              if (media) for (const track of media.getTracks()) track.stop();
              e.target.disabled = false;
              showError(err);
            }
          },
        }, t("meeting.join"))))));
  await changePreview();
  await listDevices().catch(() => {});
}

// --- Voice bridge -----------------------------------------------------------------------------

export async function renderBridge(main, ctx, channel, messageId) {
  if (active && active.channel === channel && active.kind === "bridge") {
    active.show(main);
    return;
  }
  leaveCall();
  mount(main, h("div", { class: "empty" }, t("bridge.joining")));
  try {
    const microphone = await navigator.mediaDevices.getUserMedia({ audio: true })
      .then((s) => s.getAudioTracks()[0])
      .catch(() => null);
    await startCall(main, ctx, channel, "bridge", { microphone, messageId });
  } catch (err) {
    mount(main, h("div", { class: "empty" }, err.message));
    showError(err);
  }
}

// --- The call ---------------------------------------------------------------------------------

async function startCall(main, ctx, channel, kind, { camera = null, microphone = null, messageId = null }) {
  const name = kind === "bridge" ? `bridge-${channel}` : `meeting-${channel}`;
  if (kind === "meeting") await api("POST", `/v1/channels/${channel}/meeting`);
  const room = new sdk.Room({ url: location.origin, token, room: name });
  const call = new Call(ctx, room, channel, kind, messageId);
  active = call;
  try {
    await room.join();
  } catch (err) {
    active = null;
    call.stop();
    throw err;
  }
  call.show(main);
  if (microphone) await room.publishMicrophone({ track: microphone }).catch(showError);
  if (camera) await room.publishCamera({ track: camera, simulcast: true }).catch(showError);
  call.render();
  call.findMeeting();
}

class Call {
  constructor(ctx, room, channel, kind, messageId) {
    this.ctx = ctx;
    this.room = room;
    this.channel = channel;
    this.kind = kind;
    this.messageId = messageId;
    this.roomName = `${kind}-${channel}`;
    this.layout = "grid";
    this.panel = kind === "bridge" ? "roster" : "chat";
    this.speakers = new Set();
    this.lastSpeaker = null;
    this.meeting = null;
    this.recording = false;
    this.roster = [];
    /** track sid → the <video>/<audio> element showing it */
    this.media = new Map();
    this.chatView = null;
    this.stopped = false;
    /** The devices panel, built when first opened, and its level meter's animation frame. */
    this.devicesHost = null;
    this.devicesShown = false;
    this.meterFrame = 0;
    /** Bumped by each listing of the devices: an older one still under way gives up. */
    this.listing = 0;
    /** Per device kind: the switch under way and the device asked for after it. */
    this.switching = new Map();
    this.root = h("section", { class: `call call-${kind}`, dataset: { state: "connecting" } });
    this.banner = h("div", { class: "call-reconnecting", role: "status", hidden: true }, t("connection.reconnecting"));
    // The server is overloaded and withholds some media from the room (`room.shedding`).
    this.sheddingNote = h("div", { class: "call-reconnecting call-shedding", role: "status", hidden: true });
    this.stage = h("div", { class: "stage", "aria-label": t("meeting.stage") });
    this.side = h("aside", { class: "call-side" });
    this.controls = h("div", { class: "controls", role: "toolbar", "aria-label": t("meeting.controls") });
    this.audioHost = h("div", { hidden: true });
    this.title = h("h1", null, kind === "bridge" ? t("bridge.title", { name: ctx.channelName(channel) }) : ctx.channelName(channel));
    this.recordingTag = h("span", { class: "rec-indicator", hidden: true, role: "status" }, "● " + t("meeting.recording"));
    mount(this.root,
      h("header", { class: "view-header" }, this.title, this.recordingTag, this.banner, this.sheddingNote),
      h("div", { class: "call-body" }, this.stage, this.side),
      this.controls, this.audioHost);

    const rerender = () => this.render();
    room.on("connection", ({ state }) => {
      this.root.dataset.state = state;
      this.banner.hidden = state !== "reconnecting";
      if (state === "closed" && !this.stopped) this.render();
    });
    for (const type of ["participant_joined", "participant_left", "participant_updated", "track_published",
      "track_unpublished", "track_muted", "local_track_published", "local_track_unpublished", "connection_quality"]) {
      room.on(type, rerender);
    }
    room.on("shedding", ({ shedding }) => {
      this.sheddingNote.hidden = shedding === "none";
      this.sheddingNote.textContent = shedding === "none" ? "" : t(`meeting.shedding.${shedding}`);
    });
    room.on("track_subscribed", ({ track }) => {
      if (track.kind === "audio" && !this.media.has(track.sid)) this.playAudio(track);
      this.render();
    });
    room.on("track_unsubscribed", ({ track }) => {
      const el = this.media.get(track.sid);
      if (el) {
        track.detach(el);
        el.remove();
      }
      this.media.delete(track.sid);
      this.render();
    });
    room.on("active_speakers", ({ speakers }) => {
      this.speakers = new Set(speakers.map((s) => s.participant.sid));
      if (speakers.length) this.lastSpeaker = speakers[0].participant.sid;
      this.markSpeakers();
      if (this.layout === "speaker") this.render();
    });
    // A device switched (here or by the SDK): the own tile plays the new camera, the lists say so.
    room.on("active_device_changed", rerender);
    this.onDeviceChange = () => {
      if (this.devicesShown) this.listDevices(false);
    };
    navigator.mediaDevices?.addEventListener("devicechange", this.onDeviceChange);
    room.on("removed", ({ reason, message }) => {
      toast(t("meeting.removed", { reason: message || reason }), "error");
      this.render();
    });
    this.timer = setInterval(() => this.poll(), 3000);
  }

  show(main) {
    mount(main, this.root);
    this.render();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopMeter();
    navigator.mediaDevices?.removeEventListener("devicechange", this.onDeviceChange);
    if (this.chatView) this.chatView.close();
    for (const track of this.room.localTracks ? this.room.localTracks.values() : []) {
      if (track.mediaStreamTrack) track.mediaStreamTrack.stop();
    }
    this.room.leave().catch(() => {});
  }

  /** The meeting this room session is recorded as: its minutes and recordings hang off it. */
  async findMeeting() {
    for (let i = 0; i < 10 && !this.meeting && !this.stopped; i++) {
      const reply = await api("GET", "/v1/meetings?limit=20").catch(() => null);
      const list = (reply && (reply.meetings || reply)) || [];
      this.meeting = list.find((m) => m.room === this.roomName && !m.ended_at) || null;
      if (!this.meeting) await new Promise((r) => setTimeout(r, 500));
    }
    this.render();
  }

  async poll() {
    if (this.stopped) return;
    if (this.meeting) {
      const r = await api("GET", `/v1/meetings/${this.meeting.id}/recordings`).catch(() => null);
      if (r) {
        const live = r.jobs.filter((j) => ["pending", "active", "stopping"].includes(j.status));
        this.recording = live.length > 0;
        this.recordingTag.hidden = !this.recording;
        // Asked for but no recorder has taken it yet: say so rather than claim it records.
        this.recordingTag.textContent = "● " + (live.some((j) => j.status !== "pending")
          ? t("meeting.recording") : t("meeting.recordingWaiting"));
        if (this.recordBtn) {
          const label = this.recording ? t("meeting.stopRecording") : t("meeting.record");
          this.recordBtn.querySelector(".control-label").textContent = label;
          this.recordBtn.title = label;
          this.recordBtn.removeAttribute("aria-label");
          this.recordBtn.setAttribute("aria-pressed", String(this.recording));
        }
      }
    }
    if (this.kind === "bridge" && this.messageId) {
      const r = await api("GET", `/v1/channels/${this.channel}/bridge?message_id=${this.messageId}`).catch(() => null);
      if (r) {
        this.roster = r.members;
        if (this.panel === "roster") this.renderSide();
      }
    }
  }

  playAudio(track) {
    const el = track.attach(h("audio", { dataset: { track: track.sid } }));
    this.audioHost.append(el);
    this.media.set(track.sid, el);
  }

  /** Every participant's tiles: one for the camera (or an avatar), one per screen share. */
  tiles() {
    const tiles = [];
    const local = this.room.localParticipant;
    const localTracks = this.room.localTracks || new Map();
    if (local) {
      const cam = localTracks.get("camera");
      tiles.push({ key: "local", sid: local.sid, name: local.name || me().name, local: true,
        video: cam && cam.mediaStreamTrack, muted: !localTracks.get("microphone") || localTracks.get("microphone").muted,
        source: "camera", userId: me().id });
      const screen = localTracks.get("screen_share");
      if (screen) {
        tiles.push({ key: "local-screen", sid: local.sid, name: local.name || me().name, local: true,
          video: screen.mediaStreamTrack, source: "screen_share", userId: me().id });
      }
    }
    for (const p of this.room.participants.values()) {
      const tracks = [...p.tracks.values()];
      const cam = tracks.find((tr) => tr.source === "camera");
      const mic = tracks.find((tr) => tr.source === "microphone");
      tiles.push({ key: p.sid, sid: p.sid, name: p.name || p.identity, video: cam && !cam.muted ? cam.mediaStreamTrack : null,
        trackSid: cam && cam.sid, muted: !mic || mic.muted, source: "camera", userId: userOf(p.identity),
        quality: p.quality, hand: p.handRaisedAt });
      for (const screen of tracks.filter((tr) => tr.source === "screen_share")) {
        tiles.push({ key: `${p.sid}-${screen.sid}`, sid: p.sid, name: p.name || p.identity, video: screen.mediaStreamTrack,
          trackSid: screen.sid, source: "screen_share", userId: userOf(p.identity) });
      }
    }
    return tiles;
  }

  render() {
    if (this.stopped) return;
    this.renderStage();
    this.renderSide();
    this.renderControls();
  }

  renderStage() {
    if (this.kind === "bridge") {
      this.renderBridgeStage();
      return;
    }
    const tiles = this.tiles();
    const screens = tiles.filter((tile) => tile.source === "screen_share");
    let shown = tiles;
    let featured = null;
    if (screens.length) featured = screens[0];
    else if (this.layout === "speaker") {
      featured = tiles.find((tile) => !tile.local && tile.sid === this.lastSpeaker)
        || tiles.find((tile) => !tile.local) || tiles[0];
    }
    if (featured) shown = tiles.filter((tile) => tile !== featured);
    const cls = featured ? "stage-featured" : `stage-grid n${Math.min(tiles.length, 9)}`;
    this.stage.className = `stage ${cls}`;
    // Keep each <video> element across renders so playback never restarts.
    const keep = new Map([...this.stage.querySelectorAll(".tile")].map((el) => [el.dataset.key, el]));
    const nodes = [];
    if (featured) nodes.push(this.tile(featured, keep, true));
    nodes.push(h("div", { class: "tile-strip" }, shown.map((tile) => this.tile(tile, keep, false))));
    mount(this.stage, featured ? nodes : shown.map((tile) => this.tile(tile, keep, false)));
    this.markSpeakers();
  }

  tile(tile, keep, featured) {
    let el = keep.get(tile.key);
    let video = el && el.querySelector("video");
    if (!el) {
      video = h("video", { autoplay: true, playsinline: true, muted: true });
      el = h("div", { class: "tile", dataset: { key: tile.key, participant: tile.sid, source: tile.source } },
        video,
        h("div", { class: "tile-avatar", style: `background:${colour(tile.userId || tile.sid.length)}` }, initials(tile.name)),
        h("div", { class: "tile-label" }));
    }
    el.classList.toggle("featured", featured);
    el.classList.toggle("local", Boolean(tile.local));
    el.dataset.trackSid = tile.trackSid || "";
    const has = Boolean(tile.video);
    el.classList.toggle("has-video", has);
    if (has && (!video.srcObject || video.srcObject.getVideoTracks()[0] !== tile.video)) {
      video.srcObject = new MediaStream([tile.video]);
      video.play().catch(() => {});
    } else if (!has && video.srcObject) {
      video.srcObject = null;
    }
    if (tile.source === "screen_share") video.classList.add("contain");
    mount(el.querySelector(".tile-label"),
      tile.source === "screen_share" ? [icon("screen", { size: 14 }), " ", t("meeting.screenOf", { name: tile.name })] : tile.name,
      tile.local ? ` (${t("meeting.you")})` : "",
      tile.source === "camera" && tile.muted ? badge("mic-off", t("meeting.micMuted"), "muted-mic") : null,
      tile.hand ? badge("hand", t("meeting.handRaised"), "hand") : null,
      tile.quality === "lost" || tile.quality === "poor"
        ? badge("warning", t(`meeting.quality.${tile.quality}`), "quality") : null);
    return el;
  }

  markSpeakers() {
    for (const el of this.root.querySelectorAll("[data-participant]")) {
      const speaking = this.speakers.has(el.dataset.participant) && el.dataset.source !== "screen_share";
      el.classList.toggle("speaking", speaking);
    }
  }

  renderBridgeStage() {
    const people = [...this.room.participants.values()];
    const local = this.room.localParticipant;
    const all = local ? [{ sid: local.sid, name: local.name, identity: local.identity, handRaisedAt: local.handRaisedAt, local: true }, ...people] : people;
    mount(this.stage, h("div", { class: "bridge-people" }, all.map((p) =>
      h("div", { class: "bridge-person", dataset: { participant: p.sid, source: "microphone" } },
        h("span", { class: "avatar big", style: `background:${colour(userOf(p.identity) || 1)}` }, initials(p.name || p.identity)),
        h("span", null, p.name || p.identity, p.local ? ` (${t("meeting.you")})` : ""),
        p.handRaisedAt ? badge("hand", t("meeting.handRaised"), "hand") : null,
        p.local ? null : this.floorButton(local, p)))));
    this.stage.className = "stage stage-bridge";
    this.markSpeakers();
  }

  /** A moderator's (room_admin) button to give or take back someone's floor. */
  floorButton(local, p) {
    if (!local || !local.grants || !local.grants.room_admin) return null;
    const has = p.grants && p.grants.can_publish;
    const action = has ? "take_floor" : "give_floor";
    return h("button", {
      class: "floor", dataset: { floor: action },
      onclick: () => this.room.moderate(p.sid, action).catch(showError),
    }, has ? t("bridge.takeFloor") : t("bridge.giveFloor"));
  }

  renderSide() {
    const opening = this.panel === "devices" && !this.devicesShown;
    this.devicesShown = this.panel === "devices";
    if (!this.devicesShown) this.stopMeter();
    if (!this.panel) {
      this.side.hidden = true;
      return;
    }
    this.side.hidden = false;
    if (this.panel === "devices") {
      this.devicesHost ??= this.devicesPanel();
      if (this.side.firstChild !== this.devicesHost) mount(this.side, this.devicesHost);
      if (opening) {
        this.listDevices(true);
        this.devicesHost.querySelector("select").focus();
      } else {
        this.syncDevices();
      }
      this.startMeter();
      return;
    }
    if (this.panel === "chat") {
      if (!this.chatHost) {
        this.chatHost = h("div", { class: "side-chat" });
        this.chatView = this.ctx.chat(this.chatHost, this.channel, { compact: true });
      }
      if (this.side.firstChild !== this.chatHost) mount(this.side, this.chatHost);
      return;
    }
    if (this.panel === "people") {
      const local = this.room.localParticipant;
      const people = [...this.room.participants.values()];
      const invite = this.kind === "meeting" ? h("button", {
        type: "button", class: "small", dataset: { action: "invite" },
        onclick: async () => ringDialog(this.channel, await this.ctx.members(this.channel)).catch(showError),
      }, sharedIcon("phone", { size: 14 }), " ", t("call.invite")) : null;
      mount(this.side, h("div", { class: "side-panel" },
        h("h2", null, t("meeting.participants", { n: people.length + 1 })),
        invite,
        h("ul", { class: "people" },
          local ? h("li", null, local.name, ` (${t("meeting.you")})`, local.handRaisedAt ? badge("hand", t("meeting.handRaised"), "hand") : "") : null,
          people.map((p) => h("li", { dataset: { participant: p.sid } },
            p.name || p.identity, p.handRaisedAt ? badge("hand", t("meeting.handRaised"), "hand") : "",
            [...p.tracks.values()].some((tr) => tr.source === "microphone" && !tr.muted) ? "" : badge("mic-off", t("meeting.micMuted"), "muted-mic"),
            this.floorButton(local, p))))));
      return;
    }
    if (this.panel === "roster") {
      mount(this.side, h("div", { class: "side-panel" },
        h("h2", null, t("bridge.roster")),
        h("table", { class: "roster-table" },
          h("thead", null, h("tr", null, h("th", null, t("bridge.member")), h("th", null, t("bridge.acked")),
            h("th", null, t("bridge.joined")), h("th", null, t("bridge.speaking")))),
          h("tbody", null, this.roster.map((m) => h("tr", { dataset: { user: m.user_id } },
            h("td", null, m.name, m.hand_raised ? badge("hand", t("meeting.handRaised"), "hand") : ""),
            h("td", null, m.ping === "acked" ? "✔" : t(`ping.state.${m.ping}`)),
            h("td", null, m.joined ? "✔" : "–"),
            h("td", null, m.speaking ? badge("speaker", t("bridge.speaking")) : "")))))));
      return;
    }
    if (this.panel === "minutes") {
      if (!this.meeting) {
        mount(this.side, h("p", { class: "muted" }, t("minutes.waiting")));
        return;
      }
      if (!this.minutesHost || this.minutesHost.dataset.meeting !== String(this.meeting.id)) {
        this.minutesHost = h("div", { class: "side-panel", dataset: { meeting: this.meeting.id } });
        minutesPanel(this.minutesHost, this.ctx, this.meeting, { live: true }).catch(showError);
      }
      if (this.side.firstChild !== this.minutesHost) mount(this.side, this.minutesHost);
    }
  }

  // --- Devices: a select per kind, switched in place during the call, and the mic's level ---

  /** The kinds this call offers: a bridge has no camera; a browser without setSinkId no speaker. */
  deviceKinds() {
    const kinds = ["audioinput"];
    if (this.kind === "meeting") kinds.push("videoinput");
    if (typeof HTMLMediaElement.prototype.setSinkId === "function") kinds.push("audiooutput");
    return kinds;
  }

  /** The panel: built once and kept, so a render while a list is in use leaves it alone. */
  devicesPanel() {
    const names = { audioinput: t("meeting.microphone"), videoinput: t("meeting.camera"), audiooutput: t("meeting.speaker") };
    const field = (kind) => {
      const select = h("select", { id: `device-${kind}`, dataset: { kind } });
      select.addEventListener("change", () => this.switchTo(kind, select));
      return h("div", { class: "device-field", dataset: { kind } },
        h("label", { for: select.id }, names[kind]), select,
        kind === "audioinput" ? h("div", { class: "mic-level" },
          h("label", { for: "mic-level" }, t("meeting.micLevel")),
          h("meter", { id: "mic-level", min: "0", max: "1", value: 0 })) : null,
        kind === "videoinput" ? h("p", { class: "device-hint", id: "camera-hint", hidden: true }, t("meeting.cameraLater")) : null);
    };
    return h("div", {
      class: "side-panel devices-panel",
      // Esc in the panel closes it, as it does the thread panel, back to its button.
      onkeydown: (e) => {
        if (e.key !== "Escape" || e.defaultPrevented || e.isComposing) return;
        e.preventDefault();
        this.panel = null;
        this.render();
        document.getElementById("panel-devices")?.focus();
      },
    }, h("h2", null, t("meeting.devices")), this.deviceKinds().map(field));
  }

  /**
   * Fill the lists from the browser's devices (`ask`: let the SDK ask for the permission that
   * names them, once, when the panel opens), each at the device in use.
   */
  async listDevices(ask) {
    const listing = ++this.listing;
    for (const kind of this.deviceKinds()) {
      const devices = await sdk.Room.getLocalDevices(kind, ask).catch(() => []);
      if (listing !== this.listing || this.stopped) return;
      const select = this.devicesHost.querySelector(`#device-${kind}`);
      const before = select.value;
      mount(select, devices.length
        ? devices.map((d, i) => h("option", { value: d.deviceId }, deviceLabel(d, i)))
        : h("option", { value: "" }, t("meeting.deviceNone")));
      select.disabled = !devices.length;
      // The device in use; else what was chosen here; else the browser's default, listed first.
      const ids = devices.map((d) => d.deviceId);
      const shown = [this.room.getActiveDevice(kind), before].find((id) => id && ids.includes(id));
      select.value = shown || ids[0] || "";
      select.dataset.value = select.value;
    }
    this.syncDevices();
  }

  /** Each list at the device in use (after a switch, a publish); the camera's hint when it is off. */
  syncDevices() {
    if (!this.devicesHost) return;
    for (const select of this.devicesHost.querySelectorAll("select")) {
      const kind = select.dataset.kind;
      const active = this.room.getActiveDevice(kind);
      if (this.switching.has(kind) || !active || active === select.value) continue;
      if ([...select.options].some((o) => o.value === active)) select.value = select.dataset.value = active;
    }
    const hint = this.devicesHost.querySelector("#camera-hint");
    if (hint) {
      const off = !(this.room.localTracks && this.room.localTracks.get("camera"));
      hint.hidden = !off;
      const select = this.devicesHost.querySelector("#device-videoinput");
      if (off) select.setAttribute("aria-describedby", hint.id);
      else select.removeAttribute("aria-describedby");
    }
  }

  /**
   * Switch `kind` to what `select` shows. One switch at a time per kind: choices made while one
   * is under way (arrow keys on a closed list change it at each press) leave only the last to
   * follow it. A refusal is said in a toast and the list goes back to the device in use.
   */
  switchTo(kind, select) {
    const pending = this.switching.get(kind);
    if (pending) {
      pending.next = select.value;
      return;
    }
    const state = { next: select.value };
    this.switching.set(kind, state);
    const field = select.closest(".device-field");
    field.setAttribute("aria-busy", "true");
    (async () => {
      while (state.next !== null) {
        const deviceId = state.next;
        state.next = null;
        try {
          await this.room.switchDevice(kind, deviceId);
          select.dataset.value = deviceId;
        } catch (err) {
          console.error(err);
          toast(t("meeting.deviceFailed", { reason: err && err.message ? err.message : String(err) }), "error");
          if (state.next === null) select.value = select.dataset.value || "";
        }
      }
      this.switching.delete(kind);
      field.removeAttribute("aria-busy");
      this.syncDevices();
    })();
  }

  /** The microphone's level on each animation frame while the panel is open; peaks fall slowly. */
  startMeter() {
    if (this.meterFrame) return;
    let shown = 0;
    const frame = () => {
      const meter = this.devicesHost && this.devicesHost.querySelector("meter");
      if (this.stopped || !this.devicesShown || !this.root.isConnected || !meter) {
        this.meterFrame = 0;
        return;
      }
      const mic = this.room.localTracks && this.room.localTracks.get("microphone");
      shown = Math.max(mic ? mic.getAudioLevel() : 0, shown * 0.92);
      meter.value = shown < 0.005 ? 0 : shown;
      this.meterFrame = requestAnimationFrame(frame);
    };
    this.meterFrame = requestAnimationFrame(frame);
  }

  stopMeter() {
    if (this.meterFrame) cancelAnimationFrame(this.meterFrame);
    this.meterFrame = 0;
    const meter = this.devicesHost && this.devicesHost.querySelector("meter");
    if (meter) meter.value = 0;
  }

  renderControls() {
    const room = this.room;
    const local = room.localTracks || new Map();
    const mic = local.get("microphone");
    const cam = local.get("camera");
    const screen = local.get("screen_share");
    const grants = (room.localParticipant && room.localParticipant.grants) || {};
    const handUp = Boolean(room.localParticipant && room.localParticipant.handRaisedAt);
    // Each control: its icon, a short label under it, the longer tooltip, and aria-pressed for
    // a toggle. The tooltip is its accessible name where it contains the label ("Mute your
    // microphone" for "Mute"), so that what is seen is what voice control can say; otherwise
    // the label is the name and the tooltip its description.
    const named = (label, title) => title.toLowerCase().includes(label.toLowerCase());
    const button = (iconName, label, title, fn, { on = null, id = null, cls = "" } = {}) => h("button", {
      type: "button", class: `control ${cls}`, title, "aria-label": named(label, title) ? title : null, id,
      "aria-pressed": on === null ? null : String(on),
      onclick: async (e) => {
        const el = e.currentTarget;
        el.disabled = true;
        try {
          await fn();
        } catch (err) {
          showError(err);
        } finally {
          el.disabled = false;
          this.render();
        }
      },
    }, icon(iconName, { size: 22 }), h("span", { class: "control-label" }, label));
    const micButton = mic
      ? button(mic.muted ? "mic-off" : "mic", mic.muted ? t("meeting.unmute") : t("meeting.mute"),
        mic.muted ? t("meeting.unmuteTitle") : t("meeting.muteTitle"),
        () => room.setMuted("microphone", !mic.muted), { on: !mic.muted, id: "toggle-mic" })
      : grants.can_publish
        ? button("mic-off", t("meeting.unmute"), t("meeting.startMic"), () => room.publishMicrophone({}), { on: false, id: "toggle-mic" })
        : null;
    const camButton = this.kind === "bridge" || !grants.can_publish ? null
      : cam ? button(cam.muted ? "camera-off" : "camera", t("meeting.camera"), cam.muted ? t("meeting.cameraOn") : t("meeting.cameraOff"),
        () => room.setMuted("camera", !cam.muted), { on: !cam.muted, id: "toggle-camera" })
        : button("camera-off", t("meeting.camera"), t("meeting.cameraOn"), () => room.publishCamera({ simulcast: true }), { on: false, id: "toggle-camera" });
    const shareButton = this.kind === "bridge" || !grants.can_publish ? null
      : button("screen", screen ? t("meeting.stopShareShort") : t("meeting.shareShort"), screen ? t("meeting.stopShare") : t("meeting.share"),
        () => (screen ? room.unpublish("screen_share") : room.publishScreen()), { on: Boolean(screen), id: "toggle-share" });
    this.recordBtn = this.meeting && this.kind === "meeting"
      ? button("record", this.recording ? t("meeting.stopRecording") : t("meeting.record"),
        this.recording ? t("meeting.stopRecording") : t("meeting.record"), async () => {
          const path = `/v1/meetings/${this.meeting.id}/recordings${this.recording ? "/stop" : ""}`;
          await api("POST", path);
          this.recording = !this.recording;
          this.recordingTag.hidden = !this.recording;
        }, { on: this.recording, id: "toggle-recording" }) : null;
    const panelButton = (panel, iconName, label, title) => button(iconName, label, title, () => {
      this.panel = this.panel === panel ? null : panel;
    }, { on: this.panel === panel, id: `panel-${panel}` });
    mount(this.controls,
      micButton, camButton, shareButton,
      button("hand", handUp ? t("meeting.lowerHandShort") : t("meeting.raiseHandShort"),
        handUp ? t("meeting.lowerHand") : t("meeting.raiseHand"), () => room.raiseHand(!handUp), { on: handUp, id: "toggle-hand" }),
      this.kind === "meeting" ? button(this.layout === "grid" ? "grid" : "speaker-view", t("meeting.layoutShort"), t("meeting.layout"), () => {
        this.layout = this.layout === "grid" ? "speaker" : "grid";
      }, { id: "toggle-layout" }) : null,
      panelButton("devices", "settings", t("meeting.devices"),
        this.kind === "meeting" ? t("meeting.devicesTitle") : t("meeting.devicesTitleAudio")),
      this.kind === "bridge"
        ? panelButton("roster", "list", t("bridge.roster"), t("bridge.roster"))
        : panelButton("people", "people", t("meeting.peopleShort"), t("meeting.people")),
      panelButton("chat", "chat", t("meeting.chat"), t("meeting.chat")),
      this.kind === "meeting" ? panelButton("minutes", "notes", t("meeting.minutes"), t("meeting.minutes")) : null,
      this.recordBtn,
      button("leave", t("meeting.leave"), t("meeting.leave"), async () => {
        leaveCall();
        location.hash = `#/c/${this.channel}`;
      }, { cls: "danger leave", id: "leave-call" }));
  }
}
