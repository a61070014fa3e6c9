// @ts-self-types="./parley.d.ts"
// Parley's JavaScript SDK: the messaging WebSocket (`/v1/ws`, protocol version 1) as an ES
// module with no dependencies. `docs/protocol.md` describes every message this wraps.
//
//   import { ParleyClient } from "https://parley.example.com/sdk/parley.js";
//   const client = new ParleyClient({ url: "https://parley.example.com", token });
//   client.on("message", (e) => show(e.message));
//   await client.connect();
//   await client.send(channelId, "hello");
//   const file = await client.upload(blob, { name: "report.pdf", channel: channelId }).promise;
//   await client.send(channelId, "the report", { attachments: [file.id] });
//
// The client reconnects by itself (backoff with jitter) and resumes every channel from the last
// event it delivered, so the app sees each channel event once, in `seq` order, with nothing
// lost. Requests made while disconnected wait and go out after the resume. Files go over REST
// (`files.js`): resumable uploads, a file's description and its bytes.

/** @typedef {"connecting" | "open" | "reconnecting" | "closed"} ConnectionState */

/**
 * @typedef {object} ParleyOptions
 * @property {string} url The server's base URL, e.g. `https://parley.example.com`.
 * @property {string | (() => string | Promise<string>)} token A user access token, or a
 *   function giving a fresh one for each connection attempt (a token refused as expired is
 *   asked for once more; a second expired one is refused).
 * @property {number} [minBackoffMs] First reconnect delay (default 500).
 * @property {number} [maxBackoffMs] Longest reconnect delay (default 15000).
 * @property {number} [requestTimeoutMs] A request unanswered this long on an open connection
 *   means the connection is dead: it is dropped and the request resent after the resume
 *   (default 15000).
 * @property {typeof WebSocket} [WebSocket] The WebSocket class (default: the global one).
 * @property {typeof fetch} [fetch] The fetch function for files (default: the global one).
 */

/**
 * A file sent with a message, as the message describes it; its bytes are
 * `client.download(id)`, its description `client.file(id)`.
 * @typedef {object} Attachment
 * @property {number} id
 * @property {string} name
 * @property {number} size
 * @property {string} mime
 * @property {boolean} [thumbnail] An image with thumbnails (`GET /v1/files/{id}/thumbnail`).
 */

/**
 * @typedef {object} Message
 * @property {number} id
 * @property {number} channel
 * @property {number} seq
 * @property {number | null} sender
 * @property {string | null} body `null` once recalled.
 * @property {number | null} reply_to
 * @property {boolean} [thread_only] A reply kept in the thread of `reply_to`, not shown in the
 *   channel.
 * @property {number} [reply_count] How many replies it has; absent when none.
 * @property {number[]} [mentions]
 * @property {"normal" | "important" | "urgent"} [priority]
 * @property {boolean} [ack_requested]
 * @property {Attachment[]} [attachments] Files sent with it; absent when none (and once
 *   recalled).
 * @property {number} created_at
 * @property {number | null} edited_at
 * @property {number | null} recalled_at
 */

/**
 * @typedef {object} SendOptions
 * @property {string} [clientId] Makes resends safe; generated when left out.
 * @property {number} [replyTo]
 * @property {boolean} [threadOnly] With `replyTo`: keep the reply in that message's thread.
 * @property {number[]} [mentions]
 * @property {boolean} [mentionChannel]
 * @property {"normal" | "important" | "urgent"} [priority]
 * @property {boolean} [ackRequested]
 * @property {{kind: "join_bridge", room: string}} [action]
 * @property {number[]} [attachments] Ids of files uploaded for this channel (`upload(blob,
 *   {channel})`) and not sent before, at most 20; the body may then be empty.
 */

import { Emitter, ParleyError, backoff, resolveToken, wsUrl } from "./common.js";
import { Upload, downloadFile, getFile } from "./files.js";

export { Emitter, ParleyError, Upload };
export { Room } from "./room.js";
export {
  Participant, LocalParticipant, RemoteParticipant, Track, LocalTrack, RemoteTrack, TrackPublication,
  createLocalTrack, getLocalDevices,
} from "./media.js";

/** The protocol versions this SDK speaks. */
export const PROTOCOL_VERSIONS = [1];

/** Channel event types: each takes the channel's next `seq` and is replayed on resume. */
const CHANNEL_EVENTS = new Set([
  "message",
  "message_edited",
  "message_recalled",
  "message_pinned",
  "reaction_changed",
]);

/** `closing` codes after which reconnecting with the same token cannot help. */
const FATAL_CLOSING = new Set([
  "hello_required",
  "unsupported_version",
  "unauthenticated",
  "token_invalid",
  "token_expired",
  "token_revoked",
  "insufficient_grant",
  "account_disabled",
]);

/** Requests that must not be repeated blindly if the connection drops before the reply. */
const NOT_RETRIED = new Set(["recall", "leave"]);


/**
 * @typedef {object} Pending
 * @property {Record<string, unknown>} frame The request, without its `id`.
 * @property {(reply: any) => void} resolve
 * @property {(error: ParleyError) => void} reject
 * @property {string | null} sentAs The `id` it was sent with on the current connection.
 * @property {number} sentAt
 */

export class ParleyClient extends Emitter {
  /** @param {ParleyOptions} options */
  constructor(options) {
    super();
    if (!options || !options.url || !options.token) throw new TypeError("ParleyClient needs { url, token }");
    this.options = { minBackoffMs: 500, maxBackoffMs: 15000, requestTimeoutMs: 15000, ...options };
    /** @type {ConnectionState} */
    this.state = "closed";
    /** The signed-in user, from `welcome`. @type {any} */
    this.user = null;
    /** The server's limits, from `welcome`. @type {any} */
    this.limits = null;
    /** Last `seq` delivered to the app, per channel. @type {Map<number, number>} */
    this.seen = new Map();
    /** Where channels with nothing delivered yet stand (from the channel list). @type {Map<number, number>} */
    this.baseline = new Map();
    /** Requests not yet answered, in the order made. @type {Pending[]} */
    this.pending = [];
    /** @type {WebSocket | null} */
    this.socket = null;
    this.nextId = 1;
    this.attempt = 0;
    this.wanted = false;
    /** An expired token was refused since the last `welcome`: one fresh token was asked for. */
    this.tokenRenewed = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.heartbeat = null;
    this.clientPrefix = Math.random().toString(36).slice(2, 10);
    this.clientSeq = 0;
    /** @type {{resolve: () => void, reject: (e: ParleyError) => void} | null} */
    this.opening = null;
    this.onOnline = () => {
      if (this.state === "reconnecting" && !this.socket) this.retryNow();
    };
    this.onOffline = () => this.dropConnection("the browser went offline");
  }

  // ---- events ----

  /**
   * Listen to `type`: any server push (`message`, `message_edited`, `read_marker`,
   * `presence_changed`, `typing`, `pending_pings`, `reload`, ...), `connection` (`{type,
   * state, attempt, reason}`), `error` (a `ParleyError` no request owns) or `*` (everything;
   * each event has its `type`).
   * @param {string} type
   * @param {(event: any) => void} fn
   * @returns {() => void} A function that removes the listener.
   */
  on(type, fn) {
    return super.on(type, fn);
  }

  // ---- connection ----

  /**
   * Connect; resolves once the server says `welcome`. Network failures are retried; a refused
   * token (or `close()`) rejects.
   * @returns {Promise<void>}
   */
  connect() {
    if (this.state === "open") return Promise.resolve();
    const opened = new Promise((resolve, reject) => {
      const previous = this.opening;
      this.opening = {
        resolve: () => (previous?.resolve(), resolve()),
        reject: (e) => (previous?.reject(e), reject(e)),
      };
    });
    if (!this.wanted) {
      this.wanted = true;
      this.tokenRenewed = false;
      if (typeof window !== "undefined") {
        window.addEventListener("online", this.onOnline);
        window.addEventListener("offline", this.onOffline);
      }
      this.setState("connecting", null);
      this.open();
    }
    return opened;
  }

  /** Close for good: pending requests are rejected with `closed`. */
  close() {
    this.wanted = false;
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
    }
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, "client closed");
    const error = new ParleyError("closed", "the client was closed");
    for (const p of this.pending.splice(0)) p.reject(error);
    this.opening?.reject(error);
    this.opening = null;
    this.setState("closed", "client closed");
  }

  /**
   * Drop the current socket as if the network failed, and reconnect. For apps that know the
   * network changed, and for tests.
   * @param {string} [reason]
   */
  dropConnection(reason = "dropped by the app") {
    if (!this.socket) return;
    this.lost(reason);
  }

  /** The WebSocket URL derived from the base URL. */
  get wsUrl() {
    return wsUrl(this.options.url, "/v1/ws");
  }

  /** @param {ConnectionState} state @param {string | null} reason */
  setState(state, reason) {
    if (this.state === state) return;
    this.state = state;
    this.emit("connection", { type: "connection", state, attempt: this.attempt, reason });
  }

  async open() {
    let token;
    try {
      token = await resolveToken(this.options.token);
    } catch (err) {
      this.lost(`no token: ${err}`);
      return;
    }
    if (!this.wanted) return;
    const WS = this.options.WebSocket || globalThis.WebSocket;
    const socket = new WS(this.wsUrl);
    this.socket = socket;
    let welcomed = false;
    socket.onopen = () => {
      const resume = [];
      for (const channel of new Set([...this.seen.keys(), ...this.baseline.keys()])) {
        resume.push({ channel, seq: this.seen.get(channel) ?? this.baseline.get(channel) });
      }
      const hello = { type: "hello", id: "hello", versions: PROTOCOL_VERSIONS, token };
      if (resume.length) hello.resume = resume;
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (m) => {
      if (this.socket !== socket) return;
      let frame;
      try {
        frame = JSON.parse(m.data);
      } catch {
        this.emit("error", new ParleyError("malformed_json", "the server sent a frame that is not JSON"));
        return;
      }
      if (!welcomed && frame.type === "welcome") {
        welcomed = true;
        this.welcomed(frame);
        return;
      }
      this.dispatch(frame);
    };
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.lost(`socket closed (${e.code}${e.reason ? ` ${e.reason}` : ""})`);
    };
    socket.onerror = () => {};
  }

  /** @param {any} welcome */
  welcomed(welcome) {
    this.user = welcome.user;
    this.limits = welcome.limits;
    this.attempt = 0;
    this.tokenRenewed = false;
    this.startHeartbeat();
    this.setState("open", null);
    this.opening?.resolve();
    this.opening = null;
    // What was asked meanwhile, and what was in flight when the last connection dropped.
    for (const p of this.pending) this.transmit(p);
    // Channels with nothing delivered yet resume from where they stood on this connection.
    this.refreshBaseline();
  }

  refreshBaseline() {
    this.request({ type: "channels" }).then(
      (reply) => {
        for (const s of reply.channels) {
          if (!this.seen.has(s.channel.id)) this.baseline.set(s.channel.id, s.last_seq);
        }
      },
      () => {},
    );
  }

  /** The connection is gone (or never came): reconnect after a backoff, unless closed. */
  lost(reason) {
    const socket = this.socket;
    this.socket = null;
    this.stopHeartbeat();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      try {
        socket.close(4000, "reconnecting");
      } catch {}
    }
    if (!this.wanted) return;
    for (const p of [...this.pending]) {
      if (p.sentAs !== null && NOT_RETRIED.has(/** @type {string} */ (p.frame.type))) {
        this.pending.splice(this.pending.indexOf(p), 1);
        p.reject(new ParleyError("connection_lost", `the connection dropped before ${p.frame.type} was answered; it may or may not have taken effect`));
      }
      p.sentAs = null;
    }
    this.attempt += 1;
    this.setState(this.state === "connecting" ? "connecting" : "reconnecting", reason);
    clearTimeout(this.retryTimer);
    const delay = backoff(this.attempt, this.options.minBackoffMs, this.options.maxBackoffMs);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  retryNow() {
    clearTimeout(this.retryTimer);
    this.open();
  }

  startHeartbeat() {
    this.stopHeartbeat();
    const every = Math.max(1000, Math.min(((this.limits?.heartbeat_secs || 60) * 1000) / 3, 20000));
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      const stale = this.pending.some((p) => p.sentAs !== null && now - p.sentAt > this.options.requestTimeoutMs);
      if (stale) {
        this.lost("a request went unanswered");
        return;
      }
      this.request({ type: "ping" }).catch(() => {});
    }, every);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  // ---- frames from the server ----

  /** @param {any} frame */
  dispatch(frame) {
    if (frame.id !== undefined && frame.id !== null) {
      const p = this.pending.find((q) => q.sentAs === frame.id);
      if (p) {
        this.pending.splice(this.pending.indexOf(p), 1);
        if (frame.type === "error") p.reject(new ParleyError(frame.code, frame.message));
        else p.resolve(frame);
        return;
      }
      if (frame.type === "error") {
        this.emit("error", new ParleyError(frame.code, frame.message));
        return;
      }
    }
    const { type } = frame;
    if (CHANNEL_EVENTS.has(type)) {
      const last = this.seen.get(frame.channel) ?? -Infinity;
      if (frame.seq <= last) return; // already delivered before a reconnect
      this.seen.set(frame.channel, frame.seq);
      this.baseline.delete(frame.channel);
    } else if (type === "reload") {
      // Too much missed to replay: the app reloads history; live events after last_seq follow.
      this.seen.set(frame.channel, frame.last_seq);
      this.baseline.delete(frame.channel);
    } else if (type === "channel_left") {
      this.seen.delete(frame.channel);
      this.baseline.delete(frame.channel);
    } else if (type === "channel_joined") {
      this.refreshBaseline();
    } else if (type === "closing") {
      const error = new ParleyError(frame.code, frame.message);
      this.emit("closing", frame);
      // An expired token is worth one more try when the app gives a fresh one each time; a
      // second in a row means the function gives none, and trying on would never end.
      const renewable = frame.code === "token_expired" && typeof this.options.token === "function" && !this.tokenRenewed;
      if (renewable) {
        this.tokenRenewed = true;
      } else if (FATAL_CLOSING.has(frame.code)) {
        this.opening?.reject(error);
        this.opening = null;
        this.emit("error", error);
        this.close();
      }
      return;
    } else if (type === "error") {
      this.emit("error", new ParleyError(frame.code, frame.message));
      return;
    }
    this.emit(type, frame);
  }

  // ---- requests ----

  /**
   * Send any request of the protocol (without `id`); resolves with the reply naming it, or
   * rejects with a `ParleyError`. Made while disconnected, it waits for the resume.
   * @param {Record<string, unknown>} frame
   * @returns {Promise<any>}
   */
  request(frame) {
    if (!this.wanted) return Promise.reject(new ParleyError("closed", "connect() first"));
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const p = { frame, resolve, reject, sentAs: null, sentAt: 0 };
      this.pending.push(p);
      if (this.state === "open" && this.socket) this.transmit(p);
    });
  }

  /** @param {Pending} p */
  transmit(p) {
    p.sentAs = String(this.nextId++);
    p.sentAt = Date.now();
    this.socket.send(JSON.stringify({ ...p.frame, id: p.sentAs }));
  }

  /** A fresh `client_id`, unique for this client. */
  newClientId() {
    this.clientSeq += 1;
    return `${this.clientPrefix}-${Date.now().toString(36)}-${this.clientSeq}`;
  }

  /**
   * Post a message. Resolves with `sent` (`{seq, message_id, duplicate, ...}`).
   * @param {number} channel
   * @param {string} body
   * @param {SendOptions} [options]
   */
  send(channel, body, options = {}) {
    const frame = { type: "send", channel, client_id: options.clientId || this.newClientId(), body };
    if (options.replyTo !== undefined) frame.reply_to = options.replyTo;
    if (options.threadOnly) frame.thread_only = true;
    if (options.mentions?.length) frame.mentions = options.mentions;
    if (options.mentionChannel) frame.mention_channel = true;
    if (options.priority && options.priority !== "normal") frame.priority = options.priority;
    if (options.ackRequested) frame.ack_requested = true;
    if (options.action) frame.action = options.action;
    if (options.attachments?.length) frame.attachments = options.attachments;
    return this.request(frame);
  }

  /**
   * An urgent ping that asks its recipients to acknowledge.
   * @param {number} channel @param {string} body @param {SendOptions} [options]
   */
  sendUrgent(channel, body, options = {}) {
    return this.send(channel, body, { priority: "urgent", ackRequested: true, ...options });
  }

  /** @param {number} channel @param {number} messageId @param {string} body */
  edit(channel, messageId, body) {
    return this.request({ type: "edit", channel, message_id: messageId, body });
  }

  /** @param {number} channel @param {number} messageId */
  recall(channel, messageId) {
    return this.request({ type: "recall", channel, message_id: messageId });
  }

  /** @param {number} channel @param {number} messageId @param {string} emoji @param {boolean} [added] */
  react(channel, messageId, emoji, added = true) {
    return this.request({ type: "react", channel, message_id: messageId, emoji, added });
  }

  /** @param {number} channel @param {number} messageId @param {boolean} [pinned] */
  pin(channel, messageId, pinned = true) {
    return this.request({ type: "pin", channel, message_id: messageId, pinned });
  }

  /** @param {number} channel */
  pins(channel) {
    return this.request({ type: "pins", channel });
  }

  /**
   * @param {number} channel
   * @param {{beforeSeq?: number, fromSeq?: number, toSeq?: number, limit?: number, repliesTo?: number}} [query]
   */
  history(channel, query = {}) {
    const frame = { type: "history", channel };
    if (query.beforeSeq !== undefined) frame.before_seq = query.beforeSeq;
    if (query.fromSeq !== undefined) frame.from_seq = query.fromSeq;
    if (query.toSeq !== undefined) frame.to_seq = query.toSeq;
    if (query.limit !== undefined) frame.limit = query.limit;
    if (query.repliesTo !== undefined) frame.replies_to = query.repliesTo;
    return this.request(frame);
  }

  /** Move the read marker forward to `seq`. @param {number} channel @param {number} seq */
  markRead(channel, seq) {
    return this.request({ type: "mark_read", channel, seq });
  }

  /** The caller's channels with unread counts. */
  channels() {
    return this.request({ type: "channels" });
  }

  /** "Read by N of M" for a message. @param {number} channel @param {number} messageId */
  receipts(channel, messageId) {
    return this.request({ type: "receipts", channel, message_id: messageId });
  }

  /** Every member's read marker (small channels). @param {number} channel */
  readState(channel) {
    return this.request({ type: "read_state", channel });
  }

  /** @param {number} channel */
  leave(channel) {
    return this.request({ type: "leave", channel });
  }

  /** Acknowledge a ping. @param {number} channel @param {number} messageId */
  ack(channel, messageId) {
    return this.request({ type: "ack", channel, message_id: messageId });
  }

  /** Who has acknowledged a ping. @param {number} channel @param {number} messageId */
  roster(channel, messageId) {
    return this.request({ type: "roster", channel, message_id: messageId });
  }

  /**
   * @param {{state?: "online" | "away" | "dnd", statusText?: string}} choice
   */
  setPresence(choice) {
    const frame = { type: "set_presence" };
    if (choice.state !== undefined) frame.state = choice.state;
    if (choice.statusText !== undefined) frame.status_text = choice.statusText;
    return this.request(frame);
  }

  /** @param {number[]} users */
  presence(users) {
    return this.request({ type: "presence", users });
  }

  /** @param {number} channel */
  typing(channel) {
    return this.request({ type: "typing", channel });
  }

  // ---- files (REST, beside the WebSocket: no connect() needed) ----

  /** Where REST requests go and as whom. @returns {import("./files.js").RestTarget} */
  get rest() {
    return { url: this.options.url, token: this.options.token, fetch: this.options.fetch };
  }

  /**
   * Upload a file, resumably (tus 1.0 over `/v1/uploads`), in chunks of `chunkSize`; it starts
   * at once. With `channel` it is an attachment to send with `send(channel, body,
   * {attachments: [file.id]})`. Network errors are retried from where the server stands.
   * @param {Blob} blob A `File` or any `Blob` (which needs `name`).
   * @param {import("./files.js").UploadOptions} [options]
   * @returns {Upload} `promise` resolves with the file; `pause()`, `resume()`, `abort()`.
   */
  upload(blob, options = {}) {
    return new Upload(this.rest, blob, options).start();
  }

  /**
   * A file's description (`GET /v1/files/{id}`).
   * @param {number} id
   * @returns {Promise<import("./files.js").ParleyFile>}
   */
  file(id) {
    return getFile(this.rest, id);
  }

  /**
   * A file's bytes (`GET /v1/files/{id}/content`), the current version or `version`.
   * @param {number} id
   * @param {{version?: number, signal?: AbortSignal}} [options]
   * @returns {Promise<Blob>}
   */
  download(id, options = {}) {
    return downloadFile(this.rest, id, options);
  }
}
