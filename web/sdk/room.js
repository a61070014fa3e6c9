// Parley's JavaScript SDK, meetings: `Room` joins a meeting over `/v1/rtc` (protocol version 1)
// and does the WebRTC for it with the browser's own RTCPeerConnection. Re-exported by
// `parley.js`, so apps import it from there:
//
//   import { Room } from "https://parley.example.com/sdk/parley.js";
//   const room = new Room({ url: "https://parley.example.com", token, room: "standup" });
//   room.on("track_subscribed", ({ track, stream }) => attach(track, stream));
//   await room.join();
//   await room.publishMicrophone();
//   await room.publishCamera({ simulcast: true });
//
// Two peer connections, as the protocol has it: a publisher (the client offers) and a subscriber
// (the server offers). A dropped signaling connection is resumed with the last `resume_token`,
// so nobody else sees a leave or a join; a media connection whose ICE failed is restarted.

import { Emitter, ParleyError, backoff, resolveToken, wsUrl } from "./common.js";

/** @typedef {"connecting" | "open" | "reconnecting" | "closed"} RoomState */
/** @typedef {"microphone" | "camera" | "screen_share" | "screen_share_audio"} TrackSource */

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

/**
 * A track someone else publishes, as the server describes it (`TrackInfo`), plus what the
 * browser receives of it once subscribed.
 * @typedef {object} RemoteTrack
 * @property {string} sid
 * @property {string} participant The publisher's sid (`""` for a voice bridge's slots).
 * @property {"audio" | "video"} kind
 * @property {TrackSource} source
 * @property {string} [name]
 * @property {boolean} muted
 * @property {MediaStreamTrack | null} mediaStreamTrack Set while subscribed.
 * @property {MediaStream | null} stream A stream holding just that track, for a media element.
 */

/**
 * One of this client's own tracks.
 * @typedef {object} LocalTrack
 * @property {TrackSource} source
 * @property {"audio" | "video"} kind
 * @property {string | null} sid Given by the server once published.
 * @property {MediaStreamTrack} mediaStreamTrack
 * @property {boolean} muted
 * @property {string} name
 * @property {{rid: string, width: number, height: number}[]} layers Simulcast layers, lowest first.
 * @property {RTCRtpTransceiver | null} transceiver
 */

/** A participant: the local one (`room.localParticipant`) or another (`room.participants`). */
export class Participant {
  /** @param {any} info The protocol's `ParticipantInfo`. */
  constructor(info) {
    /** @type {Map<string, RemoteTrack>} track sid → track */
    this.tracks = new Map();
    /**
     * As the server judged the connection last: it tells everyone's current quality right
     * after `joined`, then each change (`connection_quality`).
     * @type {"excellent" | "good" | "poor" | "lost"}
     */
    this.quality = "excellent";
    this.update(info);
  }

  /** @param {any} info */
  update(info) {
    this.sid = info.sid;
    this.identity = info.identity;
    this.name = info.name || info.identity;
    this.joinedAt = info.joined_at;
    this.grants = info.grants;
    /** When the hand went up (ms), or `null`. @type {number | null} */
    this.handRaisedAt = info.hand_raised_at ?? null;
    const listed = new Set();
    for (const track of info.tracks || []) {
      listed.add(track.sid);
      const known = this.tracks.get(track.sid);
      if (known) Object.assign(known, track);
      else this.tracks.set(track.sid, { mediaStreamTrack: null, stream: null, ...track });
    }
    for (const sid of [...this.tracks.keys()]) if (!listed.has(sid)) this.tracks.delete(sid);
  }
}

/** Simulcast layers of a camera or screen share: a quarter, a half and the whole size. */
const LAYERS = [
  { rid: "q", scale: 4, maxBitrate: 150_000 },
  { rid: "h", scale: 2, maxBitrate: 500_000 },
  { rid: "f", scale: 1, maxBitrate: 1_500_000 },
];

/** Join errors after which reconnecting cannot help. */
const FATAL_JOIN = new Set(["token_invalid", "token_revoked", "unauthenticated", "insufficient_grant",
  "forbidden", "not_member", "room_full", "room_name_reserved", "not_found", "invalid_input"]);

export class Room extends Emitter {
  /** @param {RoomOptions} options */
  constructor(options) {
    super();
    if (!options || !options.url || !options.token) throw new TypeError("Room needs { url, token }");
    this.options = { autoSubscribe: true, minBackoffMs: 300, maxBackoffMs: 5000, requestTimeoutMs: 10000, ...options };
    /** @type {RoomState} */
    this.state = "closed";
    /** The room as `joined` described it. @type {any} */
    this.info = null;
    /** @type {Participant | null} */
    this.localParticipant = null;
    /** Everyone else, by participant sid. @type {Map<string, Participant>} */
    this.participants = new Map();
    /** This client's tracks, by source. @type {Map<TrackSource, LocalTrack>} */
    this.localTracks = new Map();
    /** The latest `active_speakers`, loudest first. @type {{participant: string, level: number, slot?: number}[]} */
    this.activeSpeakers = [];
    /** @type {WebSocket | null} */
    this.socket = null;
    this.resumeToken = null;
    /** Requests waiting for their reply, by id. */
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.wanted = false;
    /** An expired token was refused since the last `joined`: one fresh token was asked for. */
    this.tokenRenewed = false;
    /** Counts leaves and rejoins as new participants: work begun before one is over. */
    this.epoch = 0;
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** mid → the track a subscriber m-line carries */
    this.mids = new Map();
    /** A voice bridge's slot tracks (they belong to no participant), by slot sid. */
    this.slots = new Map();
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
   * Listen to `type`: any server push of the protocol (`participant_joined`,
   * `participant_left`, `participant_updated`, `track_published`, `track_unpublished`,
   * `track_muted`, `active_speakers`, `connection_quality`, `track_quality`, `removed`), or
   * the SDK's own: `connection` (`{state, reason}`), `track_subscribed` (`{track, stream,
   * participant}`), `track_unsubscribed` (`{track, participant}`), `local_track_published`,
   * `local_track_unpublished` and `local_track_muted` (`{track}`), `error` (a `ParleyError`
   * no request owns: never a refused `join()`, nor what `leave()` cut short), or `*`.
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
    this.state = state;
    this.emit("connection", { state, reason, attempt: this.attempt });
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
        if (this.wanted && this.epoch === epoch) this.emit("error", { error: err });
      },
    );
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
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
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

  /** @param {string} reason */
  shutDown(reason) {
    this.wanted = false;
    this.epoch += 1;
    clearTimeout(this.joinTimer);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
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
    for (const track of this.localTracks.values()) track.mediaStreamTrack.stop();
    this.localTracks.clear();
    this.joining?.reject(new ParleyError("closed", reason));
    this.joining = null;
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
    this.attempt = 0;
    this.tokenRenewed = false;
    if (fresh) {
      // Nothing asked of the old participant applies to the new one (its offers least of all).
      this.failPending(new ParleyError("connection_lost", "the meeting was rejoined as a new participant"));
      this.forgetMedia();
    }
    if (this.localParticipant) this.localParticipant.update(joined.participant);
    else this.localParticipant = new Participant(joined.participant);
    // A new participant starts where the server starts everyone.
    if (fresh) this.localParticipant.quality = "excellent";
    if (resumed) this.syncOwnTracks(joined.participant.tracks, { mutes: true });
    this.reconcile(joined.participants);
    this.startHeartbeat();
    // What was asked meanwhile, and what was in flight when the connection dropped, before
    // anything a `connection` listener asks.
    for (const p of this.pending.values()) if (!p.sent) this.transmit(p);
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
      if (listed.has(sid)) continue;
      this.participants.delete(sid);
      for (const track of p.tracks.values()) this.dropTrack(p, track);
      this.emit("participant_left", { participant: sid, identity: p.identity });
    }
    for (const info of list) {
      const known = this.participants.get(info.sid);
      if (known) {
        const before = new Map(known.tracks);
        known.update(info);
        for (const [sid, track] of before) if (!known.tracks.has(sid)) this.dropTrack(known, track);
        this.emit("participant_updated", { participant: info });
      } else {
        this.participants.set(info.sid, new Participant(info));
        this.emit("participant_joined", { participant: info });
      }
    }
  }

  /** The server forgot this participant (the resume window passed): start media afresh. */
  forgetMedia() {
    this.epoch += 1;
    this.closePeers();
    for (const track of this.localTracks.values()) {
      track.sid = null;
      track.transceiver = null;
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
      for (const track of p.tracks.values()) this.dropTrack(p, track);
    }
    for (const slot of this.slots.values()) this.dropTrack(null, slot);
    this.slots.clear();
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
        this.participants.set(frame.participant.sid, new Participant(frame.participant));
        break;
      }
      case "participant_updated": {
        const info = frame.participant;
        if (info.sid === this.localParticipant?.sid) {
          this.localParticipant.update(info);
          this.syncOwnTracks(info.tracks);
        }
        else this.participants.get(info.sid)?.update(info);
        break;
      }
      case "participant_left": {
        const p = this.participants.get(frame.participant);
        this.participants.delete(frame.participant);
        if (p) for (const track of p.tracks.values()) this.dropTrack(p, track);
        break;
      }
      case "track_published": {
        const p = this.participants.get(frame.track.participant);
        if (p && !p.tracks.has(frame.track.sid)) {
          p.tracks.set(frame.track.sid, { mediaStreamTrack: null, stream: null, ...frame.track });
        }
        break;
      }
      case "track_unpublished": {
        const p = this.participants.get(frame.participant);
        const track = p?.tracks.get(frame.track);
        if (track) {
          p.tracks.delete(frame.track);
          this.dropTrack(p, track);
        }
        break;
      }
      case "track_muted":
        this.onTrackMuted(frame);
        break;
      case "active_speakers":
        this.activeSpeakers = frame.speakers;
        break;
      case "connection_quality":
        for (const u of frame.updates) {
          const p = u.participant === this.localParticipant?.sid ? this.localParticipant : this.participants.get(u.participant);
          if (p) p.quality = u.quality;
        }
        break;
      case "subscribed_qualities":
        await this.onSubscribedQualities(frame);
        break;
      case "removed":
        this.removed = frame;
        this.emit("removed", frame);
        this.shutDown(frame.reason);
        return;
      case "error":
        this.emit("error", { error: new ParleyError(frame.code, frame.message) });
        return;
      default:
        break;
    }
    this.emit(frame.type, frame);
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
      this.emit("local_track_muted", { track: local, by_admin: Boolean(frame.by_admin) });
      return;
    }
    const track = this.participants.get(frame.participant)?.tracks.get(frame.track);
    if (track) track.muted = frame.muted;
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
        local.mediaStreamTrack.stop();
        if (local.transceiver) local.transceiver.direction = "inactive";
        this.emit("local_track_unpublished", { track: local });
        dropped = true;
      } else if (mutes && info.muted !== local.muted) {
        local.muted = info.muted;
        local.mediaStreamTrack.enabled = !info.muted;
        this.emit("local_track_muted", { track: local, by_admin: info.muted });
      }
    }
    if (dropped) this.background(this.renegotiate());
  }

  /** Dynacast: encode only the layers someone receives. */
  async onSubscribedQualities(frame) {
    const local = [...this.localTracks.values()].find((t) => t.sid === frame.track);
    const sender = local?.transceiver?.sender;
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
    for (const t of pc.getTransceivers()) {
      const info = t.mid !== null ? this.mids.get(t.mid) : undefined;
      const retired = t.currentDirection === "inactive" || t.currentDirection === "stopped" || t.direction === "stopped";
      if (!info || !retired) continue;
      this.mids.delete(t.mid);
      const participant = this.participants.get(info.participant) || null;
      const track = participant?.tracks.get(info.sid) || this.slots.get(info.sid);
      if (track) this.dropTrack(participant, track);
      this.slots.delete(info.sid);
    }
  }

  /** @param {RTCTrackEvent} e */
  onRemoteTrack(e) {
    const info = this.mids.get(e.transceiver.mid);
    if (!info) return;
    const participant = this.participants.get(info.participant) || null;
    let track = participant?.tracks.get(info.sid);
    if (participant && !track) {
      track = { mediaStreamTrack: null, stream: null, ...info };
      participant.tracks.set(info.sid, track);
    }
    // A voice bridge's slots belong to nobody: they carry whoever speaks.
    if (!track) {
      track = { ...info, mediaStreamTrack: null, stream: null };
      this.slots.set(info.sid, track);
    }
    track.mediaStreamTrack = e.track;
    track.stream = new MediaStream([e.track]);
    this.emit("track_subscribed", { track, stream: track.stream, participant });
  }

  dropTrack(participant, track) {
    if (!track.mediaStreamTrack) return;
    track.mediaStreamTrack = null;
    track.stream = null;
    this.emit("track_unsubscribed", { track, participant });
  }

  // ---- publishing ----

  /**
   * Publish a microphone: the given track, or one from `getUserMedia` (`deviceId` to choose).
   * @param {{track?: MediaStreamTrack, deviceId?: string, name?: string, muted?: boolean}} [options]
   */
  async publishMicrophone(options = {}) {
    const track = options.track || await firstTrack({ audio: options.deviceId ? { deviceId: options.deviceId } : true }, "audio");
    return this.publish({ source: "microphone", track, name: options.name, muted: options.muted });
  }

  /**
   * Publish a camera, by default in three simulcast layers (a quarter, half and whole size),
   * of which the server sends each subscriber the one it can carry.
   * @param {{track?: MediaStreamTrack, deviceId?: string, simulcast?: boolean, width?: number, height?: number, name?: string}} [options]
   */
  async publishCamera(options = {}) {
    const constraints = { width: options.width || 1280, height: options.height || 720 };
    if (options.deviceId) constraints.deviceId = options.deviceId;
    const track = options.track || await firstTrack({ video: constraints }, "video");
    return this.publish({ source: "camera", track, name: options.name, simulcast: options.simulcast !== false });
  }

  /**
   * Share the screen (the browser asks which), as a track of its own beside the camera. Ends
   * by itself when the user stops sharing from the browser's own controls.
   * @param {{track?: MediaStreamTrack, simulcast?: boolean, name?: string}} [options]
   */
  async publishScreen(options = {}) {
    const track = options.track || (await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })).getVideoTracks()[0];
    track.addEventListener("ended", () => {
      if (this.localTracks.get("screen_share")?.mediaStreamTrack === track) this.unpublish("screen_share").catch(() => {});
    });
    return this.publish({ source: "screen_share", track, name: options.name, simulcast: Boolean(options.simulcast) });
  }

  /** @returns {Promise<LocalTrack>} */
  async publish({ source, track, name = "", simulcast = false, muted = false }) {
    if (this.localTracks.has(source)) throw new ParleyError("invalid_input", `${source} is published already`);
    const settings = track.getSettings ? track.getSettings() : {};
    const layers = simulcast && track.kind === "video" && settings.width
      ? LAYERS.map((l) => ({ rid: l.rid, width: Math.round(settings.width / l.scale), height: Math.round(settings.height / l.scale) }))
      : [];
    track.enabled = !muted;
    /** @type {LocalTrack} */
    const local = { source, kind: /** @type {any} */ (track.kind), sid: null, mediaStreamTrack: track, muted, name, layers, transceiver: null };
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

  /** Stop publishing `source` (the track itself is stopped too). @param {TrackSource} source */
  async unpublish(source) {
    const local = this.localTracks.get(source);
    if (!local) return;
    this.localTracks.delete(source);
    local.mediaStreamTrack.stop();
    if (local.sid) await this.request({ type: "unpublish", track: local.sid }).catch(() => {});
    if (local.transceiver) {
      await local.transceiver.sender.replaceTrack(null).catch(() => {});
      local.transceiver.direction = "inactive";
    }
    this.emit("local_track_unpublished", { track: local });
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
    if (local.sid) await this.request({ type: "mute", track: local.sid, muted });
    this.emit("local_track_muted", { track: local, by_admin: false });
  }

  /** Offer the publisher connection as it now stands, one negotiation at a time. */
  renegotiate() {
    const run = this.publishing.catch(() => {}).then(() => this.negotiate());
    this.publishing = run;
    return run;
  }

  async negotiate() {
    if (!this.wanted) return;
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
      this.emit("local_track_published", { track: local });
    }
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

/** The first track of `kind` from `getUserMedia(constraints)`. */
async function firstTrack(constraints, kind) {
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  const track = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
  if (!track) throw new ParleyError("no_device", `no ${kind} device`);
  return track;
}
