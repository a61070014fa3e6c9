// Parley's JavaScript SDK, meetings: `Room` joins a meeting over `/v1/rtc` (protocol version 1)
// and does the WebRTC for it with the browser's own RTCPeerConnection. Re-exported by
// `parley.js`, so apps import it from there:
//
//   import { Room } from "https://parley.example.com/sdk/parley.js";
//   const room = new Room({ url: "https://parley.example.com", token, room: "standup" });
//   room.on("track_subscribed", ({ track }) => grid.append(track.attach()));
//   await room.join();
//   await room.publishMicrophone();
//   await room.publishCamera({ simulcast: true });
//
// Two peer connections, as the protocol has it: a publisher (the client offers) and a subscriber
// (the server offers). A dropped signaling connection is resumed with the last `resume_token`,
// so nobody else sees a leave or a join; a media connection whose ICE failed is restarted.
//
// Every event hands out the room's own objects (`media.js`): a `participant` is always a
// `Participant`, a `publication` a `TrackPublication`, a `track` a `LocalTrack` or
// `RemoteTrack`, and each keeps its identity for as long as it exists, across resumes.

import { Emitter, ParleyError, backoff, resolveToken, wsUrl } from "./common.js";
import {
  LocalParticipant, LocalTrack, RemoteParticipant, TrackPublication, captureTrack, getLocalDevices,
} from "./media.js";
import { StatsHistory, inboundStats, outboundStats } from "./stats.js";

/** @typedef {import("./media.js").TrackSource} TrackSource */
/** @typedef {import("./media.js").DeviceKind} DeviceKind */
/** @typedef {import("./media.js").Shedding} Shedding */
/** @typedef {import("./media.js").Track} Track */
/** @typedef {import("./media.js").Participant} Participant */
/** @typedef {import("./stats.js").RoomStats} RoomStats */
/** @typedef {"connecting" | "open" | "reconnecting" | "closed"} RoomState */

/**
 * Someone among the active speakers: how loud, and which of a voice bridge's slots carries them
 * (`null`: not in a slot, or not a bridge).
 * @typedef {{participant: Participant, level: number, slot: number | null}} Speaker
 */

/**
 * @typedef {object} RoomOptions
 * @property {string} url The server's base URL, e.g. `https://parley.example.com`.
 * @property {string | (() => string | Promise<string>)} token An app token with a room grant,
 *   or a user's access token; or a function giving a fresh one for each connection attempt
 *   (a token refused as expired is asked for once more; a second expired one is refused).
 * @property {string} [room] The room's name (needed with a user token, which names none).
 * @property {boolean} [autoSubscribe] Receive every track as it is published (default true).
 * @property {number} [minBackoffMs] First reconnect delay (default 300).
 * @property {number} [maxBackoffMs] Longest reconnect delay (default 5000).
 * @property {number} [requestTimeoutMs] A request unanswered this long means the connection is
 *   dead (default 10000).
 * @property {typeof WebSocket} [WebSocket] The WebSocket class (default: the global one).
 */

/** Simulcast layers of a camera or screen share: a quarter, a half and the whole size. */
const LAYERS = [
  { rid: "q", scale: 4, maxBitrate: 150_000 },
  { rid: "h", scale: 2, maxBitrate: 500_000 },
  { rid: "f", scale: 1, maxBitrate: 1_500_000 },
];

/** Join errors after which reconnecting cannot help. */
const FATAL_JOIN = new Set(["token_invalid", "token_revoked", "unauthenticated", "insufficient_grant",
  "forbidden", "not_member", "room_full", "room_name_reserved", "not_found", "invalid_input"]);

/** The kinds `switchDevice` and `Room.getLocalDevices` know. */
const DEVICE_KINDS = new Set(["audioinput", "videoinput", "audiooutput"]);

export class Room extends Emitter {
  /**
   * The browser's cameras (`videoinput`), microphones (`audioinput`) and speakers
   * (`audiooutput`), or those of `kind`; with `requestPermissions` (the default), the user is
   * asked once for the camera or microphone when the browser hides the devices' names.
   * @param {DeviceKind} [kind] @param {boolean} [requestPermissions]
   * @returns {Promise<MediaDeviceInfo[]>}
   */
  static getLocalDevices(kind, requestPermissions = true) {
    return getLocalDevices(kind, requestPermissions);
  }

  /** @param {RoomOptions} options */
  constructor(options) {
    super();
    if (!options || !options.url || !options.token) throw new TypeError("Room needs { url, token }");
    this.options = { autoSubscribe: true, minBackoffMs: 300, maxBackoffMs: 5000, requestTimeoutMs: 10000, ...options };
    /** @type {RoomState} */
    this.state = "closed";
    /** The room as `joined` described it. @type {any} */
    this.info = null;
    /** @type {LocalParticipant | null} */
    this.localParticipant = null;
    /** Everyone else, by participant sid. @type {Map<string, RemoteParticipant>} */
    this.participants = new Map();
    /** This client's tracks, by source. @type {Map<TrackSource, LocalTrack>} */
    this.localTracks = new Map();
    /** The latest active speakers, loudest first. @type {Speaker[]} */
    this.activeSpeakers = [];
    /**
     * What the server withholds from this room because it is overloaded (`none` while it
     * forwards everything). @type {Shedding}
     */
    this.shedding = "none";
    /** The devices chosen with `switchDevice`, by kind. @type {Map<DeviceKind, string>} */
    this.activeDevices = new Map();
    /** @type {WebSocket | null} */
    this.socket = null;
    this.resumeToken = null;
    /** Requests waiting for their reply, by id. */
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.wanted = false;
    /** Joined once: a later end of the room is a `disconnected`. */
    this.joinedOnce = false;
    /** An expired token was refused since the last `joined`: one fresh token was asked for. */
    this.tokenRenewed = false;
    /** Counts leaves and rejoins as new participants: work begun before one is over. */
    this.epoch = 0;
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** mid → the track (the protocol's `TrackInfo`) a subscriber m-line carries */
    this.mids = new Map();
    /** A voice bridge's slots (they belong to no participant), by slot sid. @type {Map<string, TrackPublication>} */
    this.slots = new Map();
    this.statsHistory = new StatsHistory();
    this.joinTimer = null;
    /** Publisher negotiations and subscriber answers each run one at a time. */
    this.publishing = Promise.resolve();
    this.answering = Promise.resolve();
    this.onOnline = () => {
      if (this.state === "reconnecting" && !this.socket) this.open();
    };
    this.onOffline = () => this.lost("the browser went offline");
  }

  // ---- events ----

  /**
   * Listen to `type` (docs/sdk.md lists each event and its payload), or `*` for everything.
   * @param {string} type @param {(event: any) => void} fn @returns {() => void} removes it
   */
  on(type, fn) {
    return super.on(type, fn);
  }

  /** Every event carries its `type`. @param {string} type @param {any} event */
  emit(type, event) {
    super.emit(type, { type, ...event });
  }

  /** @param {RoomState} state @param {string | null} [reason] */
  setState(state, reason = null) {
    if (this.state === state) return;
    const before = this.state;
    this.state = state;
    this.emit("connection", { state, reason, attempt: this.attempt });
    if (state === "reconnecting") this.emit("reconnecting", { reason, attempt: this.attempt });
    if (state === "open" && before === "reconnecting") this.emit("reconnected", { resumed: this.lastJoinResumed });
    if (state === "closed" && this.joinedOnce) this.emit("disconnected", { reason });
  }

  /**
   * Work the SDK began by itself (answering an offer, publishing again): its failure is an
   * `error`, as no request owns it; unless the room was left or rejoined as a new participant
   * meanwhile, which ended that work (its requests reject with `closed` or `connection_lost`).
   * @param {Promise<unknown>} work @returns {Promise<void>} settles when the work has
   */
  background(work) {
    const epoch = this.epoch;
    return work.then(
      () => {},
      (err) => {
        if (this.wanted && this.epoch === epoch) this.emit("error", { error: asParleyError(err) });
      },
    );
  }

  /** The participant with this sid, this client included, or `null`. @param {string} sid */
  getParticipant(sid) {
    if (this.localParticipant && this.localParticipant.sid === sid) return this.localParticipant;
    return this.participants.get(sid) || null;
  }

  // ---- joining and leaving ----

  /**
   * Join the room; resolves with `joined` once in. A refused token, a full room or a room the
   * caller may not join rejects with a `ParleyError` naming the protocol's code (and the room
   * is `closed`).
   * @returns {Promise<any>}
   */
  join() {
    if (this.wanted) return Promise.reject(new ParleyError("invalid_input", "join() was called already"));
    this.wanted = true;
    this.tokenRenewed = false;
    globalThis.addEventListener?.("online", this.onOnline);
    globalThis.addEventListener?.("offline", this.onOffline);
    if (this.joinedOnce) this.forgetRoom();
    this.setState("connecting");
    return new Promise((resolve, reject) => {
      this.joining = { resolve, reject };
      this.open();
    });
  }

  /** Leave for good: the others see `participant_left` at once. Local tracks are stopped. */
  async leave() {
    if (!this.wanted) return;
    const socket = this.socket;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "leave" }));
    this.shutDown("left");
  }

  /**
   * A `join()` after leaving: what the room held belongs to the meeting left (kept until
   * now for the app to read), and everyone is new again.
   */
  forgetRoom() {
    this.participants.clear();
    this.localParticipant = null;
    this.info = null;
    this.activeSpeakers = [];
    this.slots.clear();
    this.joinedOnce = false;
  }

  /** Resolves once the server said `joined` (at once if it has): media waits for its ICE servers. */
  whenJoined() {
    if (this.localParticipant) return Promise.resolve();
    if (!this.joinedWaiters) this.joinedWaiters = [];
    return new Promise((resolve) => this.joinedWaiters.push(resolve));
  }

  /** @param {string} reason */
  shutDown(reason) {
    this.wanted = false;
    this.epoch += 1;
    clearTimeout(this.joinTimer);
    globalThis.removeEventListener?.("online", this.onOnline);
    globalThis.removeEventListener?.("offline", this.onOffline);
    // Out for good: a later join() is a new participant, never a resume.
    this.resumeToken = null;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = socket.onmessage = null;
      socket.close(1000, reason);
    }
    this.failPending(new ParleyError("closed", `the room was closed: ${reason}`));
    this.closePeers();
    // Out for good (left, removed, refused): the camera and microphone stop too.
    for (const track of this.localTracks.values()) track.stop();
    this.localTracks.clear();
    this.joining?.reject(new ParleyError("closed", reason));
    this.joining = null;
    for (const resolve of this.joinedWaiters?.splice(0) || []) resolve();
    this.setState("closed", reason);
  }

  get wsUrl() {
    return wsUrl(this.options.url, "/v1/rtc");
  }

  async open() {
    let token;
    try {
      token = await resolveToken(this.options.token);
    } catch (err) {
      this.lost(`no token: ${err}`);
      return;
    }
    if (!this.wanted || this.socket) return;
    const WS = this.options.WebSocket || globalThis.WebSocket;
    const socket = new WS(this.wsUrl);
    this.socket = socket;
    // A connection or a join that hangs (a network that changed under it) is given up and
    // tried again, well within the server's resume window.
    clearTimeout(this.joinTimer);
    this.joinTimer = setTimeout(() => {
      if (this.socket === socket) this.lost("no answer to join");
    }, this.options.requestTimeoutMs);
    socket.onopen = () => {
      const join = { type: "join", id: "join", token, auto_subscribe: this.options.autoSubscribe };
      if (this.options.room) join.room = this.options.room;
      if (this.resumeToken) join.resume = this.resumeToken;
      socket.send(JSON.stringify(join));
    };
    socket.onmessage = (m) => {
      if (this.socket !== socket) return;
      let frame;
      try {
        frame = JSON.parse(m.data);
      } catch {
        this.emit("error", { error: new ParleyError("malformed_json", "the server sent a frame that is not JSON") });
        return;
      }
      this.background(this.dispatch(frame));
    };
    socket.onclose = (e) => {
      if (this.socket === socket) this.lost(`socket closed (${e.code}${e.reason ? ` ${e.reason}` : ""})`);
    };
  }

  /** The signaling connection is gone: resume within the server's window, with backoff. */
  lost(reason) {
    const socket = this.socket;
    this.socket = null;
    clearInterval(this.heartbeat);
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      try {
        socket.close(4000, "reconnecting");
      } catch {}
    }
    clearTimeout(this.joinTimer);
    if (!this.wanted) return;
    for (const [id, p] of [...this.pending]) {
      if (p.sent && p.frame.type === "answer") {
        // An answer belongs to one offer; after the resume the server offers again what it
        // still waits for, and that offer is answered afresh.
        this.pending.delete(id);
        p.resolve(null);
      } else {
        p.sent = false;
      }
    }
    this.attempt += 1;
    if (this.state !== "connecting") this.setState("reconnecting", reason);
    clearTimeout(this.retryTimer);
    const delay = backoff(this.attempt, this.options.minBackoffMs, this.options.maxBackoffMs);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** @param {any} joined */
  async onJoined(joined) {
    const resumed = Boolean(joined.resumed);
    const fresh = !resumed && this.localParticipant !== null;
    clearTimeout(this.joinTimer);
    this.resumeToken = joined.resume_token;
    this.info = joined.room;
    this.iceServers = joined.ice_servers || [];
    // Fresh TURN credentials with each `joined`: an ICE restart after a resume uses them.
    for (const pc of [this.publisher, this.subscriber]) {
      if (!pc) continue;
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: this.iceServers });
      } catch {
        // A browser refusing the change keeps the servers it has.
      }
    }
    this.attempt = 0;
    this.tokenRenewed = false;
    this.lastJoinResumed = resumed;
    if (fresh) {
      // Nothing asked of the old participant applies to the new one (its offers least of all).
      this.failPending(new ParleyError("connection_lost", "the meeting was rejoined as a new participant"));
      this.forgetMedia();
    }
    // The same LocalParticipant object throughout, even when a rejoin gives it a new sid.
    const self = this.localParticipant;
    const before = self ? describe(self) : null;
    if (self) self.update(joined.participant);
    else this.localParticipant = new LocalParticipant(joined.participant);
    this.linkOwnPublications();
    const selfChanged = self !== null && describe(self) !== before;
    // A new participant starts where the server starts everyone.
    if (fresh) this.localParticipant.connectionQuality = "excellent";
    if (resumed) this.syncOwnTracks(joined.participant.tracks, { mutes: true });
    if (selfChanged) this.emit("participant_updated", { participant: self });
    this.reconcile(joined.participants);
    this.startHeartbeat();
    // What was asked meanwhile, and what was in flight when the connection dropped, before
    // anything a `connection` listener asks.
    for (const p of this.pending.values()) if (!p.sent) this.transmit(p);
    this.joinedOnce = true;
    for (const resolve of this.joinedWaiters?.splice(0) || []) resolve();
    this.setState("open");
    this.joining?.resolve(joined);
    this.joining = null;
    // A fresh participant (the old one timed out) publishes again what this client had.
    if (fresh && this.localTracks.size) this.background(this.renegotiate());
  }

  /** The others as a fresh `joined` lists them: tell the app who came and went meanwhile. */
  reconcile(list) {
    const listed = new Set(list.map((p) => p.sid));
    for (const [sid, p] of [...this.participants]) {
      if (!listed.has(sid)) this.participantLeft(p);
    }
    for (const info of list) {
      const known = this.participants.get(info.sid);
      if (known) this.participantUpdated(known, info);
      else this.participantJoined(info);
    }
  }

  /** @param {any} info */
  participantJoined(info) {
    const participant = new RemoteParticipant(info);
    this.participants.set(info.sid, participant);
    this.emit("participant_joined", { participant });
    for (const publication of participant.tracks.values()) this.emit("track_published", { publication, participant });
  }

  /**
   * What the server now says of someone else: publications that came and went, then
   * `participant_updated` if their name, grants or hand changed.
   * @param {RemoteParticipant} participant @param {any} info
   */
  participantUpdated(participant, info) {
    const before = describe(participant);
    const { added, removed } = participant.update(info);
    for (const publication of removed) this.trackGone(participant, publication);
    for (const publication of added) this.emit("track_published", { publication, participant });
    if (describe(participant) !== before) this.emit("participant_updated", { participant });
  }

  /** @param {RemoteParticipant} participant */
  participantLeft(participant) {
    this.participants.delete(participant.sid);
    for (const publication of participant.tracks.values()) this.dropTrack(publication);
    participant.isSpeaking = false;
    participant.audioLevel = 0;
    this.emit("participant_left", { participant });
  }

  /** A publication ended: unsubscribed first, then unpublished. @param {Participant} participant @param {TrackPublication} publication */
  trackGone(participant, publication) {
    this.dropTrack(publication);
    this.emit("track_unpublished", { publication, participant });
  }

  /** The server forgot this participant (the resume window passed): start media afresh. */
  forgetMedia() {
    this.epoch += 1;
    this.closePeers();
    for (const track of this.localTracks.values()) {
      track.sid = null;
      track.transceiver = null;
      track.publication = null;
    }
    this.publishing = Promise.resolve();
    this.answering = Promise.resolve();
  }

  closePeers() {
    for (const pc of [this.publisher, this.subscriber]) if (pc) pc.close();
    this.publisher = null;
    this.subscriber = null;
    this.mids.clear();
    for (const p of this.participants.values()) {
      for (const publication of p.tracks.values()) this.dropTrack(publication);
    }
    // A bridge's slots keep their objects: after a rejoin the same slots come back.
    for (const slot of this.slots.values()) this.dropTrack(slot);
  }

  startHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      for (const p of this.pending.values()) {
        if (p.sent && now - p.sentAt > this.options.requestTimeoutMs) {
          this.lost("a request went unanswered");
          return;
        }
      }
      this.request({ type: "ping" }).catch(() => {});
    }, 5000);
  }

  // ---- requests ----

  /**
   * Send any request of the protocol (without `id`); resolves with its reply (`ok`,
   * `answer`, `pong`) or rejects with a `ParleyError`. Made while reconnecting, it goes out
   * after the resume.
   * @param {Record<string, unknown>} frame @returns {Promise<any>}
   */
  request(frame) {
    if (!this.wanted) return Promise.reject(new ParleyError("closed", "join() first"));
    return new Promise((resolve, reject) => {
      const p = { id: `r${this.nextId++}`, frame, resolve, reject, sent: false, sentAt: 0 };
      this.pending.set(p.id, p);
      if (this.state === "open") this.transmit(p);
    });
  }

  transmit(p) {
    p.sent = true;
    p.sentAt = Date.now();
    this.socket.send(JSON.stringify({ ...p.frame, id: p.id }));
  }

  failPending(error) {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  // ---- what the server says ----

  async dispatch(frame) {
    if (frame.id === "join") {
      if (frame.type === "joined") return this.onJoined(frame);
      if (frame.type === "error") return this.joinRefused(frame);
    }
    const p = frame.id !== undefined ? this.pending.get(frame.id) : undefined;
    if (p) {
      this.pending.delete(frame.id);
      if (frame.type === "error") p.reject(new ParleyError(frame.code, frame.message));
      else p.resolve(frame);
      return;
    }
    switch (frame.type) {
      case "offer":
        return this.onOffer(frame);
      case "participant_joined": {
        const known = this.participants.get(frame.participant.sid);
        if (known) this.participantUpdated(known, frame.participant);
        else this.participantJoined(frame.participant);
        return;
      }
      case "participant_updated": {
        const info = frame.participant;
        const local = this.localParticipant;
        if (local && info.sid === local.sid) {
          const before = describe(local);
          local.update(info);
          this.linkOwnPublications();
          this.syncOwnTracks(info.tracks);
          if (describe(local) !== before) this.emit("participant_updated", { participant: local });
          return;
        }
        const known = this.participants.get(info.sid);
        if (known) this.participantUpdated(known, info);
        return;
      }
      case "participant_left": {
        const participant = this.participants.get(frame.participant);
        if (participant) this.participantLeft(participant);
        return;
      }
      case "track_published": {
        const participant = this.participants.get(frame.track.participant);
        if (!participant) return;
        let publication = participant.tracks.get(frame.track.sid);
        if (publication) {
          publication.update(frame.track);
          return;
        }
        publication = new TrackPublication(frame.track, participant);
        participant.tracks.set(publication.sid, publication);
        this.emit("track_published", { publication, participant });
        return;
      }
      case "track_unpublished": {
        const participant = this.participants.get(frame.participant);
        const publication = participant?.tracks.get(frame.track);
        if (!participant || !publication) return;
        participant.tracks.delete(frame.track);
        this.trackGone(participant, publication);
        return;
      }
      case "track_muted":
        this.onTrackMuted(frame);
        return;
      case "active_speakers":
        this.onActiveSpeakers(frame.speakers);
        return;
      case "connection_quality":
        for (const u of frame.updates) {
          const participant = this.getParticipant(u.participant);
          if (!participant) continue;
          participant.connectionQuality = u.quality;
          this.emit("connection_quality", { participant, quality: u.quality });
        }
        if (frame.shedding && frame.shedding !== this.shedding) {
          this.shedding = frame.shedding;
          this.emit("shedding", { shedding: frame.shedding });
        }
        return;
      case "track_quality": {
        const publication = this.findPublication(frame.track);
        if (!publication) return;
        publication.quality = frame.quality;
        publication.wantedQuality = frame.wanted && frame.wanted !== frame.quality ? frame.wanted : null;
        this.emit("track_quality", {
          publication, participant: publication.participant, quality: frame.quality, wanted: frame.wanted ?? frame.quality,
        });
        return;
      }
      case "subscribed_qualities":
        await this.onSubscribedQualities(frame);
        return;
      case "removed":
        this.removed = frame;
        this.emit("removed", { reason: frame.reason, message: frame.message });
        this.shutDown(frame.reason);
        return;
      case "error":
        this.emit("error", { error: new ParleyError(frame.code, frame.message) });
        return;
      default:
        // A push this SDK does not know yet, as the protocol has it.
        this.emit(frame.type, frame);
    }
  }

  /** A remote publication (or a bridge's slot) by track sid. @param {string} sid */
  findPublication(sid) {
    for (const p of this.participants.values()) {
      const publication = p.tracks.get(sid);
      if (publication) return publication;
    }
    return this.slots.get(sid) || null;
  }

  /** @param {{participant: string, level: number, slot?: number}[]} speakers */
  onActiveSpeakers(speakers) {
    const now = Date.now();
    /** @type {Speaker[]} */
    const list = [];
    for (const s of speakers) {
      const participant = this.getParticipant(s.participant);
      if (participant) list.push({ participant, level: s.level, slot: s.slot ?? null });
    }
    const speaking = new Set(list.map((s) => s.participant));
    const everyone = [...(this.localParticipant ? [this.localParticipant] : []), ...this.participants.values()];
    const changed = [];
    for (const participant of everyone) {
      const entry = list.find((s) => s.participant === participant);
      participant.audioLevel = entry ? entry.level : 0;
      if (entry) participant.lastSpokeAt = now;
      if (participant.isSpeaking !== speaking.has(participant)) {
        participant.isSpeaking = speaking.has(participant);
        changed.push(participant);
      }
    }
    this.activeSpeakers = list;
    for (const participant of changed) this.emit("speaking_changed", { participant, speaking: participant.isSpeaking });
    this.emit("active_speakers", { speakers: list });
  }

  joinRefused(frame) {
    const error = new ParleyError(frame.code, frame.message);
    if (frame.code === "not_found" && this.resumeToken) {
      // The resume window passed: join afresh as a new participant.
      this.resumeToken = null;
      this.lost("the participant was not resumed");
      return;
    }
    // An expired token is worth one more try when a token function can give a fresh one; a
    // second in a row means it gives none, and trying on would never end.
    const renewable = frame.code === "token_expired" && typeof this.options.token === "function" && !this.tokenRenewed;
    const fatal = FATAL_JOIN.has(frame.code) || frame.code === "token_expired";
    if (renewable || !fatal) {
      if (renewable) this.tokenRenewed = true;
      this.lost(`join refused: ${frame.code}`);
      return;
    }
    // While join() waits, the refusal is its rejection; later (a rejoin refused) no request
    // owns it.
    if (this.joining) this.joining.reject(error);
    else this.emit("error", { error });
    this.joining = null;
    this.shutDown(frame.code);
  }

  onTrackMuted(frame) {
    const local = [...this.localTracks.values()].find((t) => t.sid === frame.track);
    if (local) {
      // A room admin muted us: stop sending until we unmute ourselves.
      local.muted = frame.muted;
      local.mediaStreamTrack.enabled = !frame.muted;
      if (local.publication) local.publication.muted = frame.muted;
      this.emitLocalMuted(local, Boolean(frame.by_admin));
      return;
    }
    const participant = this.participants.get(frame.participant);
    const publication = participant?.tracks.get(frame.track);
    if (!participant || !publication) return;
    publication.muted = frame.muted;
    this.emit("track_muted", { publication, participant, muted: frame.muted, byAdmin: Boolean(frame.by_admin) });
  }

  /** @param {LocalTrack} track @param {boolean} byAdmin */
  emitLocalMuted(track, byAdmin) {
    this.emit("local_track_muted", {
      track, publication: track.publication, participant: this.localParticipant,
      muted: track.muted, byAdmin, by_admin: byAdmin,
    });
  }

  /** @param {LocalTrack} track */
  emitLocal(type, track) {
    this.emit(type, { track, publication: track.publication, participant: this.localParticipant });
  }

  /** Each own publication the server lists points at this client's track of that sid. */
  linkOwnPublications() {
    const local = this.localParticipant;
    if (!local) return;
    for (const publication of local.tracks.values()) {
      const track = [...this.localTracks.values()].find((t) => t.sid === publication.sid) || null;
      publication.track = track;
      if (track) {
        track.publication = publication;
        // This client knows its own mute state best; `track_muted` tells an admin's.
        publication.muted = track.muted;
      }
    }
  }

  /**
   * Our own tracks as the server lists them: one it no longer has (the floor taken back, a
   * grant removed) is stopped and dropped; with `mutes` (after a resume, when `track_muted`
   * events may have been missed), the server's mute state is taken too. Live, `track_muted`
   * says it, and a listing sent before our own mute arrived must not undo it.
   * @param {any[]} listed @param {{mutes?: boolean}} [options]
   */
  syncOwnTracks(listed, { mutes = false } = {}) {
    const bySid = new Map((listed || []).map((t) => [t.sid, t]));
    let dropped = false;
    for (const [source, local] of [...this.localTracks]) {
      if (!local.sid) continue;
      const info = bySid.get(local.sid);
      if (!info) {
        this.localTracks.delete(source);
        local.stop();
        if (local.transceiver) local.transceiver.direction = "inactive";
        this.emitLocal("local_track_unpublished", local);
        dropped = true;
      } else if (mutes && info.muted && !local.muted && !this.muteWaiting(local.sid)) {
        // Muted while we were away, and not by us: a room admin did. (An unmute we asked for
        // meanwhile goes out after the resume and wins.)
        local.muted = true;
        local.mediaStreamTrack.enabled = false;
        if (local.publication) local.publication.muted = true;
        this.emitLocalMuted(local, true);
      }
    }
    if (dropped) this.background(this.renegotiate());
  }

  /** Whether a `mute` request for this track waits to go out or for its reply. @param {string | null} sid */
  muteWaiting(sid) {
    for (const p of this.pending.values()) if (p.frame.type === "mute" && p.frame.track === sid) return true;
    return false;
  }

  /** Dynacast: encode only the layers someone receives. */
  async onSubscribedQualities(frame) {
    const local = [...this.localTracks.values()].find((t) => t.sid === frame.track);
    if (!local) return;
    this.emit("subscribed_qualities", { track: local, qualities: frame.qualities });
    const sender = local.transceiver?.sender;
    if (!sender) return;
    const parameters = sender.getParameters();
    if (!parameters.encodings) return;
    for (const encoding of parameters.encodings) {
      const layer = frame.qualities.find((q) => q.rid === encoding.rid);
      if (layer) encoding.active = layer.enabled;
    }
    await sender.setParameters(parameters).catch(() => {});
  }

  // ---- the subscriber connection ----

  peer(target) {
    // The browser's default bundle policy. The server never retires a subscriber connection's
    // first m-line (the BUNDLE tag; it is parked inactive instead), so every offer keeps one
    // transport whatever the policy.
    const pc = new RTCPeerConnection({ iceServers: this.iceServers || [] });
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate && this.state === "open") {
        this.socket.send(JSON.stringify({ type: "candidate", target, candidate: e.candidate.candidate }));
      }
    };
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === "failed" && this.wanted) this.restartIce().catch(() => {});
    };
    return pc;
  }

  onOffer(frame) {
    this.answering = this.background(this.answering.then(() => this.answer(frame)));
    return this.answering;
  }

  async answer(frame) {
    if (!this.wanted) return;
    const pc0 = this.subscriber;
    if (pc0 && pc0.signalingState === "stable" && pc0.remoteDescription?.sdp === frame.sdp) {
      // The offer we answered already, sent again after a resume: the same answer again.
      await this.request({ type: "answer", sdp: pc0.localDescription.sdp });
      return;
    }
    for (const { mid, track } of frame.tracks) this.mids.set(mid, track);
    if (!this.subscriber) {
      const pc = this.peer("subscriber");
      pc.ontrack = (e) => this.onRemoteTrack(e);
      this.subscriber = pc;
    }
    const pc = this.subscriber;
    await pc.setRemoteDescription({ type: "offer", sdp: frame.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.dropRetired(pc);
    await this.request({ type: "answer", sdp: pc.localDescription.sdp });
  }

  /**
   * Subscriptions the server ended without a `track_unpublished` (an unsubscribe, a grant
   * taken away, a bridge's slots after a rejoin) show as m-lines no longer receiving.
   * @param {RTCPeerConnection} pc
   */
  dropRetired(pc) {
    const byMid = new Map(pc.getTransceivers().map((t) => [t.mid, t]));
    for (const [mid, info] of [...this.mids]) {
      const t = byMid.get(mid);
      // A rejected m-line's transceiver is stopped, and gone once the answer is applied.
      const retired = !t || t.currentDirection === "inactive" || t.currentDirection === "stopped" || t.direction === "stopped";
      if (!retired) continue;
      this.mids.delete(mid);
      const publication = this.findPublication(info.sid);
      if (publication) this.dropTrack(publication);
    }
  }

  /** The publication a subscriber m-line carries: a participant's, or a bridge's slot. @param {any} info */
  publicationOf(info) {
    const participant = this.participants.get(info.participant);
    if (participant) {
      let publication = participant.tracks.get(info.sid);
      if (!publication) {
        publication = new TrackPublication(info, participant);
        participant.tracks.set(info.sid, publication);
        this.emit("track_published", { publication, participant });
      }
      return publication;
    }
    // A voice bridge's slots belong to nobody: they carry whoever speaks. (A track of someone
    // not known yet waits there too, without a participant, until it is.)
    let slot = this.slots.get(info.sid);
    if (!slot) {
      slot = new TrackPublication(info, null);
      this.slots.set(info.sid, slot);
    }
    return slot;
  }

  /** @param {RTCTrackEvent} e */
  onRemoteTrack(e) {
    const info = this.mids.get(e.transceiver.mid);
    if (!info) return;
    const publication = this.publicationOf(info);
    const track = publication.remoteTrack();
    if (track.kind === "audio") track.sinkId = this.activeDevices.get("audiooutput") || "";
    track.replaceMediaStreamTrack(e.track);
    publication.track = track;
    this.emit("track_subscribed", { track, publication, participant: publication.participant, stream: track.stream });
  }

  /** Media of `publication` stopped arriving. @param {TrackPublication} publication */
  dropTrack(publication) {
    const track = publication.remote;
    if (!track || !track.mediaStreamTrack) return;
    track.replaceMediaStreamTrack(null);
    publication.track = null;
    this.emit("track_unsubscribed", { track, publication, participant: publication.participant });
  }

  // ---- publishing ----

  /**
   * Publish a microphone: the given track (a `LocalTrack` from `createLocalTrack`, or a
   * browser track), or one from `getUserMedia` (`deviceId` to choose; else the one
   * `switchDevice("audioinput", id)` chose).
   * @param {{track?: MediaStreamTrack | LocalTrack, deviceId?: string, name?: string, muted?: boolean}} [options]
   * @returns {Promise<LocalTrack>}
   */
  async publishMicrophone(options = {}) {
    this.mayPublish("microphone");
    const deviceId = options.deviceId || this.activeDevices.get("audioinput");
    const track = options.track || await captureTrack("audio", { deviceId });
    return this.publishOwn(!options.track, { source: "microphone", track, name: options.name, muted: options.muted });
  }

  /**
   * Publish a camera, by default in three simulcast layers (a quarter, half and whole size),
   * of which the server sends each subscriber the one it can carry.
   * @param {{track?: MediaStreamTrack | LocalTrack, deviceId?: string, simulcast?: boolean, width?: number, height?: number, name?: string}} [options]
   * @returns {Promise<LocalTrack>}
   */
  async publishCamera(options = {}) {
    this.mayPublish("camera");
    const deviceId = options.deviceId || this.activeDevices.get("videoinput");
    const track = options.track || await captureTrack("video", { deviceId, width: options.width, height: options.height });
    return this.publishOwn(!options.track, { source: "camera", track, name: options.name, simulcast: options.simulcast !== false });
  }

  /**
   * `closed` before `join()` (or after leaving), `invalid_input` for a source published
   * already: checked before any device is opened.
   * @param {TrackSource} source
   */
  mayPublish(source) {
    if (!this.wanted) throw new ParleyError("closed", "join() first");
    if (this.localTracks.has(source)) throw new ParleyError("invalid_input", `${source} is published already`);
  }

  /**
   * Publish; a track the SDK captured itself is stopped again if publishing fails, so no
   * camera light stays on for nothing.
   * @param {boolean} captured @param {Parameters<Room["publish"]>[0]} spec
   */
  async publishOwn(captured, spec) {
    try {
      return await this.publish(spec);
    } catch (err) {
      if (captured && spec.track instanceof MediaStreamTrack) spec.track.stop();
      throw err;
    }
  }

  /**
   * Share the screen (the browser asks which), as a track of its own beside the camera. With
   * `audio`, the sound of the tab or system is shared too where the browser offers it
   * (`screen_share_audio`; Chromium does for tabs, and for the whole screen on Windows and
   * ChromeOS). Ends by itself when the user stops sharing from the browser's own controls.
   * @param {{track?: MediaStreamTrack, audio?: boolean, simulcast?: boolean, name?: string}} [options]
   * @returns {Promise<LocalTrack>} the screen's video track
   */
  async publishScreen(options = {}) {
    this.mayPublish("screen_share");
    let track = options.track;
    let audio = null;
    if (!track) {
      /** @type {any} */
      const wants = { video: true, audio: Boolean(options.audio) };
      if (options.audio) wants.systemAudio = "include";
      const stream = await navigator.mediaDevices.getDisplayMedia(wants);
      track = stream.getVideoTracks()[0];
      audio = stream.getAudioTracks()[0] || null;
    }
    const captured = !options.track;
    track.addEventListener("ended", () => {
      if (this.localTracks.get("screen_share")?.mediaStreamTrack === track) this.unpublish("screen_share").catch(() => {});
    });
    let video;
    try {
      video = await this.publish({ source: "screen_share", track, name: options.name, simulcast: Boolean(options.simulcast) });
    } catch (err) {
      if (captured) track.stop();
      audio?.stop();
      throw err;
    }
    if (audio) {
      try {
        await this.publish({ source: "screen_share_audio", track: audio, name: options.name });
      } catch (err) {
        // The screen is shared; its sound may not be allowed (`can_publish_sources`).
        audio.stop();
        this.emit("error", { error: asParleyError(err) });
      }
    }
    return video;
  }

  /**
   * @param {{source: TrackSource, track: MediaStreamTrack | LocalTrack, name?: string, simulcast?: boolean, muted?: boolean}} spec
   * @returns {Promise<LocalTrack>}
   */
  async publish({ source, track, name = "", simulcast = false, muted = false }) {
    this.mayPublish(source);
    const given = track instanceof LocalTrack ? track : null;
    const mediaTrack = given ? given.mediaStreamTrack : /** @type {MediaStreamTrack} */ (track);
    const settings = mediaTrack.getSettings ? mediaTrack.getSettings() : {};
    const layers = simulcast && mediaTrack.kind === "video" && settings.width
      ? LAYERS.map((l) => ({ rid: l.rid, width: Math.round(settings.width / l.scale), height: Math.round(settings.height / l.scale) }))
      : [];
    mediaTrack.enabled = !muted;
    const local = given || new LocalTrack(source, mediaTrack);
    local.source = source;
    local.name = name || local.name;
    local.muted = muted;
    local.layers = layers;
    local.transceiver = null;
    this.localTracks.set(source, local);
    try {
      await this.renegotiate();
    } catch (err) {
      this.localTracks.delete(source);
      if (local.transceiver) local.transceiver.direction = "inactive";
      throw err;
    }
    return local;
  }

  /**
   * Stop publishing `source` (the track itself is stopped too; the screen's sound goes with
   * the screen).
   * @param {TrackSource} source
   */
  async unpublish(source) {
    const local = this.localTracks.get(source);
    if (!local) return;
    this.localTracks.delete(source);
    local.stop();
    if (local.sid) await this.request({ type: "unpublish", track: local.sid }).catch(() => {});
    if (local.transceiver) {
      await local.transceiver.sender.replaceTrack(null).catch(() => {});
      local.transceiver.direction = "inactive";
    }
    this.emitLocal("local_track_unpublished", local);
    if (local.publication) this.localParticipant?.tracks.delete(local.publication.sid);
    local.publication = null;
    if (source === "screen_share" && this.localTracks.has("screen_share_audio")) {
      await this.unpublish("screen_share_audio");
      return;
    }
    await this.renegotiate();
  }

  /**
   * Mute or unmute one of this client's tracks: nothing is sent while muted, and the others
   * see `track_muted`.
   * @param {TrackSource} source @param {boolean} muted
   */
  async setMuted(source, muted) {
    const local = this.localTracks.get(source);
    if (!local) throw new ParleyError("not_found", `${source} is not published`);
    local.muted = muted;
    local.mediaStreamTrack.enabled = !muted;
    if (local.publication) local.publication.muted = muted;
    if (local.sid) await this.request({ type: "mute", track: local.sid, muted });
    this.emitLocalMuted(local, false);
  }

  /** Offer the publisher connection as it now stands, one negotiation at a time. */
  renegotiate() {
    const run = this.publishing.catch(() => {}).then(() => this.negotiate());
    this.publishing = run;
    return run;
  }

  async negotiate() {
    // The publisher connection is made with the ICE servers `joined` names.
    await this.whenJoined();
    if (!this.wanted) throw new ParleyError("closed", "the room was closed");
    if (!this.publisher) this.publisher = this.peer("publisher");
    const pc = this.publisher;
    for (const local of this.localTracks.values()) {
      if (local.transceiver) continue;
      const init = { direction: /** @type {RTCRtpTransceiverDirection} */ ("sendonly") };
      if (local.layers.length) {
        init.sendEncodings = LAYERS.map((l) => ({ rid: l.rid, scaleResolutionDownBy: l.scale, maxBitrate: l.maxBitrate }));
      }
      local.transceiver = pc.addTransceiver(local.mediaStreamTrack, init);
    }
    await pc.setLocalDescription(await pc.createOffer());
    const byMid = new Map();
    const tracks = [];
    for (const local of this.localTracks.values()) {
      const mid = local.transceiver.mid;
      byMid.set(mid, local);
      const t = { mid, source: local.source, muted: local.muted };
      if (local.name) t.name = local.name;
      if (local.layers.length) t.layers = local.layers;
      tracks.push(t);
    }
    const reply = await this.request({ type: "offer", sdp: pc.localDescription.sdp, tracks });
    if (pc !== this.publisher) return; // replaced by a fresh join meanwhile
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    for (const { mid, track } of reply.tracks) {
      const local = byMid.get(mid);
      if (!local || local.sid === track.sid) continue;
      local.sid = track.sid;
      const participant = this.localParticipant;
      let publication = participant?.tracks.get(track.sid);
      if (!publication) {
        publication = new TrackPublication(track, participant);
        participant?.tracks.set(track.sid, publication);
      }
      publication.track = local;
      local.publication = publication;
      this.emitLocal("local_track_published", local);
    }
  }

  // ---- devices ----

  /**
   * Use another camera (`videoinput`), microphone (`audioinput`) or speaker (`audiooutput`)
   * from now on, during the call: a published camera or microphone is replaced in place
   * (nobody sees it unpublished; its mute state stays), remote audio and video play on the
   * chosen output. Before anything is published, it is the device the next `publish…` uses.
   * Rejects with `no_device` for a device that is not there, `not_supported` for an output the
   * browser cannot choose (`setSinkId`); the old device stays in use then.
   * @param {DeviceKind} kind @param {string} deviceId
   */
  async switchDevice(kind, deviceId) {
    if (!DEVICE_KINDS.has(kind)) throw new ParleyError("invalid_input", `unknown device kind ${kind}: audioinput, videoinput or audiooutput`);
    if (kind === "audiooutput") {
      if (typeof HTMLMediaElement.prototype.setSinkId !== "function") {
        throw new ParleyError("not_supported", "this browser cannot choose the audio output");
      }
      // Only sound has an output: a video track's elements hold no audio.
      const tracks = [];
      for (const p of this.participants.values()) {
        for (const publication of p.tracks.values()) if (publication.remote?.kind === "audio") tracks.push(publication.remote);
      }
      for (const slot of this.slots.values()) if (slot.remote) tracks.push(slot.remote);
      /** @type {[HTMLMediaElement, string][]} */
      const switched = [];
      try {
        if (!tracks.some((t) => t.attachedElements.length)) {
          // Nothing plays yet: try the output on an element of our own, so a wrong id fails now.
          await new Audio().setSinkId(deviceId);
        }
        for (const track of tracks) {
          for (const el of track.attachedElements) {
            const before = el.sinkId;
            await el.setSinkId(deviceId);
            switched.push([el, before]);
          }
        }
      } catch (err) {
        // All or nothing: what switched goes back to where it played.
        for (const [el, before] of switched) await el.setSinkId(before).catch(() => {});
        throw new ParleyError("no_device", `the audio output could not be used: ${/** @type {any} */ (err)?.message || err}`);
      }
      for (const track of tracks) track.sinkId = deviceId;
    } else {
      const source = kind === "audioinput" ? "microphone" : "camera";
      const local = this.localTracks.get(source);
      if (local) {
        const old = local.mediaStreamTrack;
        const settings = old.getSettings ? old.getSettings() : {};
        const fresh = await captureTrack(kind === "audioinput" ? "audio" : "video", {
          deviceId, width: settings.width, height: settings.height,
        });
        fresh.enabled = !local.muted;
        try {
          if (local.transceiver) await local.transceiver.sender.replaceTrack(fresh);
        } catch (err) {
          fresh.stop();
          throw asParleyError(err);
        }
        local.replaceMediaStreamTrack(fresh);
        old.stop();
      } else {
        // Nothing to replace: the next publish uses it, so it must be there.
        const known = await navigator.mediaDevices.enumerateDevices();
        if (!known.some((d) => d.kind === kind && d.deviceId === deviceId)) {
          throw new ParleyError("no_device", `no ${kind} device ${deviceId}`);
        }
      }
    }
    this.activeDevices.set(kind, deviceId);
    this.emit("active_device_changed", { kind, deviceId });
  }

  /**
   * The device of `kind` in use: the one `switchDevice` chose, or what the published track
   * captures from; `null` when neither says.
   * @param {DeviceKind} kind @returns {string | null}
   */
  getActiveDevice(kind) {
    const source = kind === "audioinput" ? "microphone" : kind === "videoinput" ? "camera" : null;
    const track = source ? this.localTracks.get(source) : null;
    return track?.deviceId || this.activeDevices.get(kind) || null;
  }

  // ---- statistics ----

  /**
   * WebRTC statistics: per track (own ones first) its bitrate, packet loss, round trip,
   * jitter, codec, simulcast layer and frame size, plus both connections' raw reports.
   * Bitrates and loss are over the interval since the previous call; a first call (or one
   * after more than 10 s) measures over the next half second.
   * @returns {Promise<RoomStats>}
   */
  async getStats() {
    const sample = async () => ({
      publisher: this.publisher ? await this.publisher.getStats() : null,
      subscriber: this.subscriber ? await this.subscriber.getStats() : null,
    });
    if (!this.statsHistory.fresh) {
      this.summarize(await sample());
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const raw = await sample();
    return { timestamp: Date.now(), tracks: this.summarize(raw), ...raw };
  }

  /** @param {{publisher: RTCStatsReport | null, subscriber: RTCStatsReport | null}} raw */
  summarize(raw) {
    const own = this.localParticipant?.sid || "";
    const outbound = [...this.localTracks.values()].filter((t) => t.sid).map((t) => ({
      sid: /** @type {string} */ (t.sid), kind: t.kind, source: t.source, participant: own,
      mid: t.transceiver?.mid ?? null, trackId: t.mediaStreamTrack.id,
    }));
    const inbound = [];
    for (const [mid, info] of this.mids) {
      const publication = this.findPublication(info.sid);
      if (!publication?.isSubscribed) continue;
      inbound.push({
        sid: info.sid, kind: info.kind, source: info.source, participant: info.participant || "",
        mid, trackId: publication.mediaStreamTrack?.id ?? null,
        quality: publication.quality, simulcast: publication.layers.length > 1,
      });
    }
    const tracks = [
      ...(raw.publisher ? outboundStats(raw.publisher, outbound, this.statsHistory) : []),
      ...(raw.subscriber ? inboundStats(raw.subscriber, inbound, this.statsHistory) : []),
    ];
    this.statsHistory.sampledAt = Date.now();
    return tracks;
  }

  // ---- everything else ----

  /** Raise or lower this participant's hand. @param {boolean} raised */
  raiseHand(raised) {
    return this.request({ type: "raise_hand", raised });
  }

  /**
   * The most a subscription to a simulcast track should carry.
   * @param {string} trackSid @param {"low" | "medium" | "high"} quality
   */
  setQuality(trackSid, quality) {
    return this.request({ type: "set_quality", track: trackSid, quality });
  }

  /** Subscribe to (or drop) tracks by sid. @param {string[]} trackSids @param {boolean} [subscribe] */
  subscribe(trackSids, subscribe = true) {
    return this.request({ type: "subscribe", tracks: trackSids, subscribe });
  }

  /**
   * A moderator's action on another participant (needs `room_admin`).
   * @param {string} participantSid @param {"mute" | "give_floor" | "take_floor" | "lower_hand"} action
   */
  moderate(participantSid, action) {
    return this.request({ type: "moderate", participant: participantSid, action });
  }

  /** Restart ICE on both media connections, as after a network change. */
  async restartIce() {
    if (this.publisher && this.localTracks.size) {
      this.publisher.restartIce();
      await this.renegotiate();
    }
    if (this.subscriber) await this.request({ type: "ice_restart" });
  }
}

/** What `participant_updated` is about: name, grants and hand. @param {Participant} p */
function describe(p) {
  return JSON.stringify([p.name, p.grants, p.handRaisedAt]);
}

/**
 * Whatever failed, as a `ParleyError`: the browser's own errors (WebRTC, devices) get
 * `media_failed`.
 * @param {unknown} err @returns {ParleyError}
 */
function asParleyError(err) {
  if (err instanceof ParleyError) return err;
  const message = /** @type {any} */ (err)?.message || String(err);
  return new ParleyError("media_failed", message);
}

