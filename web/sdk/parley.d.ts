// Type declarations for Parley's JavaScript SDK (`parley.js` and the modules it re-exports).
// docs/sdk.md is the guide and reference; docs/protocol.md describes the JSON these wrap.
// The package's major version is the protocol version it speaks (1).

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

/** The protocol versions this SDK speaks. */
export declare const PROTOCOL_VERSIONS: readonly number[];

/** A token, or a function giving a fresh one for each connection attempt. */
export type TokenSource = string | (() => string | Promise<string>);

/** An `error` reply, a fatal `closing`, a REST refusal, or a request the SDK gave up on. */
export declare class ParleyError extends Error {
  constructor(code: string, message: string, http?: { status?: number | null; retryAfter?: number | null });
  readonly name: "ParleyError";
  /** The event type, for `*` listeners. */
  readonly type: "error";
  /**
   * The protocol's stable code (`not_member`, `forbidden`, `token_expired`, ...), or the SDK's
   * own: `connection_lost`, `closed`, `aborted`, `no_device`, `permission_denied`,
   * `not_supported`, `media_failed`, `malformed_json`, `invalid_input`.
   */
  readonly code: string;
  /** The HTTP status of a REST answer; `null` on the WebSockets and for the SDK's own. */
  readonly status: number | null;
  /** Seconds until a retry may succeed, when the server said (`retry_after`). */
  readonly retryAfter: number | null;
}

/** Listeners by event type; `*` hears everything. A listener that throws breaks nothing. */
export declare class Emitter {
  on(type: string, fn: (event: any) => void): () => void;
  off(type: string, fn: (event: any) => void): void;
}

// ---------------------------------------------------------------------------------------------
// Messaging: ParleyClient
// ---------------------------------------------------------------------------------------------

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export interface ParleyOptions {
  /** The server's base URL, e.g. `https://parley.example.com`. */
  url: string;
  /** A user access token (from `POST /v1/auth/login`), or a function giving one. */
  token: TokenSource;
  /** First reconnect delay (default 500). */
  minBackoffMs?: number;
  /** Longest reconnect delay (default 15000). */
  maxBackoffMs?: number;
  /** A request unanswered this long on an open connection means the connection is dead (default 15000). */
  requestTimeoutMs?: number;
  /** The WebSocket class (default: the global one). */
  WebSocket?: typeof WebSocket;
  /** The fetch function for files (default: the global one). */
  fetch?: typeof fetch;
}

/** A file sent with a message. */
export interface Attachment {
  id: number;
  name: string;
  size: number;
  mime: string;
  /** An image with thumbnails (`GET /v1/files/{id}/thumbnail`). */
  thumbnail?: boolean;
}

export interface Message {
  id: number;
  channel: number;
  seq: number;
  sender: number | null;
  /** `null` once recalled. */
  body: string | null;
  reply_to: number | null;
  thread_only?: boolean;
  reply_count?: number;
  mentions?: number[];
  mention_channel?: boolean;
  priority?: "normal" | "important" | "urgent";
  ack_requested?: boolean;
  action?: { kind: string; [key: string]: unknown };
  attachments?: Attachment[];
  created_at: number;
  edited_at: number | null;
  recalled_at: number | null;
  [key: string]: unknown;
}

export interface SendOptions {
  /** Makes resends safe; generated when left out. */
  clientId?: string;
  replyTo?: number;
  /** With `replyTo`: keep the reply in that message's thread. */
  threadOnly?: boolean;
  mentions?: number[];
  mentionChannel?: boolean;
  priority?: "normal" | "important" | "urgent";
  ackRequested?: boolean;
  action?: { kind: "join_bridge"; room: string };
  /** Ids of files uploaded for this channel and not sent before, at most 20. */
  attachments?: number[];
}

export interface HistoryQuery {
  beforeSeq?: number;
  fromSeq?: number;
  toSeq?: number;
  limit?: number;
  repliesTo?: number;
}

/** A reply or push as the protocol has it (docs/protocol.md): `type` and its fields. */
export interface ProtocolFrame {
  type: string;
  [key: string]: any;
}

export interface SentReply extends ProtocolFrame {
  type: "sent";
  channel: number;
  seq: number;
  message_id: number;
  created_at: number;
  duplicate: boolean;
}

export interface ClientConnectionEvent {
  type: "connection";
  state: ConnectionState;
  attempt: number;
  reason: string | null;
}

/** `ParleyClient`'s events by type; any other push arrives as its protocol frame. */
export interface ClientEventMap {
  connection: ClientConnectionEvent;
  error: ParleyError;
  message: { type: "message"; channel: number; seq: number; message: Message };
  message_edited: { type: "message_edited"; channel: number; seq: number; message_id: number; body: string; edited_at: number };
  message_recalled: { type: "message_recalled"; channel: number; seq: number; message_id: number; recalled_at: number; by: number };
  message_pinned: { type: "message_pinned"; channel: number; seq: number; message_id: number; pinned: boolean; by: number; at: number };
  reaction_changed: { type: "reaction_changed"; channel: number; seq: number; message_id: number; user_id: number; emoji: string; added: boolean };
  read_marker: { type: "read_marker"; channel: number; read_seq: number; unread: number };
  member_read: { type: "member_read"; channel: number; user_id: number; read_seq: number };
  presence_changed: { type: "presence_changed"; user_id: number; state: string; status_text?: string | null; last_seen: number | null };
  typing: { type: "typing"; channel: number; user_id: number; expires_in_ms: number };
  reload: { type: "reload"; channel: number; after_seq: number; last_seq: number };
  channel_joined: { type: "channel_joined"; channel: { id: number; name: string; [key: string]: unknown } };
  channel_left: { type: "channel_left"; channel: number };
  closing: { type: "closing"; code: string; message: string };
  "*": ProtocolFrame | ParleyError;
}

/** Messaging over `/v1/ws`, with files over REST. */
export declare class ParleyClient extends Emitter {
  constructor(options: ParleyOptions);
  readonly state: ConnectionState;
  /** The signed-in user, from `welcome`. */
  readonly user: any;
  /** The server's limits, from `welcome`. */
  readonly limits: any;

  on<K extends keyof ClientEventMap>(type: K, fn: (event: ClientEventMap[K]) => void): () => void;
  on(type: string, fn: (event: ProtocolFrame) => void): () => void;
  off<K extends keyof ClientEventMap>(type: K, fn: (event: ClientEventMap[K]) => void): void;
  off(type: string, fn: (event: ProtocolFrame) => void): void;

  /** Resolves once the server says `welcome`; rejects only on a refused token or `close()`. */
  connect(): Promise<void>;
  /** Ends the client for good. */
  close(): void;
  /** Drops the socket as if the network failed, and reconnects. */
  dropConnection(reason?: string): void;

  send(channel: number, body: string, options?: SendOptions): Promise<SentReply>;
  sendUrgent(channel: number, body: string, options?: SendOptions): Promise<SentReply>;
  edit(channel: number, messageId: number, body: string): Promise<ProtocolFrame>;
  recall(channel: number, messageId: number): Promise<ProtocolFrame>;
  react(channel: number, messageId: number, emoji: string, added?: boolean): Promise<ProtocolFrame>;
  pin(channel: number, messageId: number, pinned?: boolean): Promise<ProtocolFrame>;
  pins(channel: number): Promise<ProtocolFrame>;
  history(channel: number, query?: HistoryQuery): Promise<ProtocolFrame & { messages: Message[] }>;
  markRead(channel: number, seq: number): Promise<ProtocolFrame>;
  channels(): Promise<ProtocolFrame>;
  receipts(channel: number, messageId: number): Promise<ProtocolFrame>;
  readState(channel: number): Promise<ProtocolFrame>;
  leave(channel: number): Promise<ProtocolFrame>;
  ack(channel: number, messageId: number): Promise<ProtocolFrame>;
  roster(channel: number, messageId: number): Promise<ProtocolFrame>;
  setPresence(choice: { state?: "online" | "away" | "dnd"; statusText?: string }): Promise<ProtocolFrame>;
  presence(users: number[]): Promise<ProtocolFrame>;
  typing(channel: number): Promise<ProtocolFrame>;
  /** Any request of the protocol, without its `id`. */
  request(frame: Record<string, unknown>): Promise<ProtocolFrame>;

  upload(blob: Blob, options?: UploadOptions): Upload;
  file(id: number): Promise<ParleyFile>;
  download(id: number, options?: { version?: number; signal?: AbortSignal }): Promise<Blob>;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

export interface ParleyFile {
  id: number;
  name: string;
  size: number;
  mime: string;
  sha256: string;
  version: number;
  owner: number;
  created_at: number;
  updated_at: number;
  folder?: number;
  channel?: number;
  message?: number;
  thumbnail?: boolean;
  locked_by?: number;
  locked_until?: number;
  deleted_at?: number;
}

export interface UploadProgress {
  type: "progress";
  sent: number;
  total: number;
  url: string | null;
}

export type UploadState = "uploading" | "paused" | "done" | "failed" | "aborted";

export interface UploadOptions {
  name?: string;
  channel?: number;
  folder?: number;
  comment?: string;
  chunkSize?: number;
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
  resumeFrom?: string;
  maxRetries?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface RestTarget {
  url: string;
  token: TokenSource;
  fetch?: typeof fetch;
}

/** A resumable upload (tus 1.0 over `/v1/uploads`). */
export declare class Upload {
  constructor(target: RestTarget, blob: Blob, options?: UploadOptions);
  readonly promise: Promise<ParleyFile>;
  readonly state: UploadState;
  readonly sent: number;
  readonly total: number;
  readonly url: string | null;
  readonly file: ParleyFile | null;
  readonly error: ParleyError | null;
  start(): this;
  pause(): void;
  resume(): void;
  abort(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Meetings: tracks, publications, participants
// ---------------------------------------------------------------------------------------------

export type TrackSource = "microphone" | "camera" | "screen_share" | "screen_share_audio";
export type TrackKind = "audio" | "video";
export type ConnectionQuality = "excellent" | "good" | "poor" | "lost";
/**
 * What an overloaded server withholds from the room: `video_layers` (simulcast video at its
 * lowest layer), `video` (no video), `audio` (no video, and only the loudest speakers' audio).
 */
export type Shedding = "none" | "video_layers" | "video" | "audio";
export type VideoQuality = "low" | "medium" | "high";
export type DeviceKind = "audioinput" | "videoinput" | "audiooutput";

export interface SimulcastLayer {
  rid: string;
  width: number;
  height: number;
}

/** What a participant may do (the protocol's grants). */
export interface ParticipantGrants {
  can_publish: boolean;
  can_subscribe: boolean;
  can_publish_sources: TrackSource[];
  hidden: boolean;
  recorder: boolean;
  room_admin: boolean;
}

/** A track of media: this client's own (`LocalTrack`) or someone else's (`RemoteTrack`). */
export declare abstract class Track {
  protected constructor();
  readonly kind: TrackKind;
  readonly source: TrackSource;
  /** Given by the server once published (remote tracks always have one). */
  readonly sid: string | null;
  readonly isLocal: boolean;
  readonly mediaStreamTrack: MediaStreamTrack | null;
  /** A stream holding just this track, for a media element's `srcObject`. */
  readonly stream: MediaStream | null;
  /** The elements `attach` gave it to. */
  readonly attachedElements: HTMLMediaElement[];
  /** Plays it in a new `<audio>` or `<video>` element, returned for the app to place. */
  attach(): HTMLMediaElement;
  /** Plays it in `element`. */
  attach<E extends HTMLMediaElement>(element: E): E;
  /** Stops playing it in `element`, or everywhere; returns the elements left. */
  detach(element?: HTMLMediaElement): HTMLMediaElement[];
  /** The audio's level now, 0 to 1 (Web Audio, in the page). */
  getAudioLevel(): number;
  /** A picture-in-picture window of this video track. */
  requestPictureInPicture(): Promise<PictureInPictureWindow>;
}

/** One of this client's own tracks. */
export declare class LocalTrack extends Track {
  /** Made by `createLocalTrack` and the `publish…` methods. */
  private constructor();
  readonly isLocal: true;
  readonly mediaStreamTrack: MediaStreamTrack;
  readonly name: string;
  readonly muted: boolean;
  /** Simulcast layers, lowest first (empty: one encoding). */
  readonly layers: SimulcastLayer[];
  readonly transceiver: RTCRtpTransceiver | null;
  /** Its publication once the server accepted it. */
  readonly publication: TrackPublication | null;
  /** The device it captures from (`""` when the browser does not say). */
  readonly deviceId: string;
  /** Stops capturing. */
  stop(): void;
}

/** Someone else's track, while subscribed. */
export declare class RemoteTrack extends Track {
  private constructor();
  readonly isLocal: false;
  readonly sid: string;
  readonly publication: TrackPublication;
  /** Its publisher; `null` for a voice bridge's slots. */
  readonly participant: Participant | null;
  readonly muted: boolean;
}

/** A published track as the server describes it, with its media once subscribed. */
export declare class TrackPublication {
  private constructor();
  readonly sid: string;
  readonly kind: TrackKind;
  readonly source: TrackSource;
  readonly name: string;
  readonly muted: boolean;
  readonly codec: string | null;
  readonly layers: SimulcastLayer[];
  /** The publisher; `null` for a voice bridge's slots. */
  readonly participant: Participant | null;
  /** A `RemoteTrack` while subscribed; this client's `LocalTrack` for its own publications. */
  readonly track: Track | null;
  readonly isSubscribed: boolean;
  /** The simulcast layer this subscription carries, as the server said last. */
  readonly quality: VideoQuality | null;
  /** The layer asked for while bandwidth is short of it. */
  readonly wantedQuality: VideoQuality | null;
  readonly mediaStreamTrack: MediaStreamTrack | null;
  readonly stream: MediaStream | null;
}

/** Someone in the room. */
export declare abstract class Participant {
  protected constructor();
  readonly sid: string;
  readonly identity: string;
  readonly name: string;
  readonly joinedAt: number;
  readonly grants: ParticipantGrants;
  readonly handRaisedAt: number | null;
  readonly isLocal: boolean;
  readonly isSpeaking: boolean;
  /** 0 to 1, as the server measured it last (0 when not speaking). */
  readonly audioLevel: number;
  readonly lastSpokeAt: number | null;
  readonly connectionQuality: ConnectionQuality;
  /** The same as `connectionQuality`. */
  readonly quality: ConnectionQuality;
  /** Publications by track sid. */
  readonly tracks: Map<string, TrackPublication>;
  /** The same map as `tracks`. */
  readonly trackPublications: Map<string, TrackPublication>;
  getTrack(source: TrackSource): TrackPublication | null;
}

export declare class LocalParticipant extends Participant {
  private constructor();
  readonly isLocal: true;
}

export declare class RemoteParticipant extends Participant {
  private constructor();
  readonly isLocal: false;
}

/** The browser's devices, or those of `kind` (asking for permission once, by default, to get their names). */
export declare function getLocalDevices(kind?: DeviceKind, requestPermissions?: boolean): Promise<MediaDeviceInfo[]>;

/** A microphone or camera track to check before joining, then to publish as it is. */
export declare function createLocalTrack(
  kind: TrackKind,
  options?: { deviceId?: string; width?: number; height?: number; name?: string },
): Promise<LocalTrack>;

// ---------------------------------------------------------------------------------------------
// Meetings: Room
// ---------------------------------------------------------------------------------------------

export type RoomState = "connecting" | "open" | "reconnecting" | "closed";

export interface RoomOptions {
  url: string;
  /** An app token with a room grant, or a user's access token; or a function giving one. */
  token: TokenSource;
  /** The room's name (needed with a user token, which names none). */
  room?: string;
  /** Receive every track as it is published (default true). */
  autoSubscribe?: boolean;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
  WebSocket?: typeof WebSocket;
}

/** The protocol's `joined`, as `join()` resolves with it. */
export interface JoinedFrame extends ProtocolFrame {
  type: "joined";
  room: any;
  participant: any;
  participants: any[];
  resume_token: string;
  resumed?: boolean;
  ice_servers?: RTCIceServer[];
}

export interface Speaker {
  participant: Participant;
  /** 0 to 1. */
  level: number;
  /** The voice bridge slot carrying them, or `null`. */
  slot: number | null;
}

export interface TrackStats {
  sid: string;
  direction: "outbound" | "inbound";
  kind: TrackKind;
  source: TrackSource;
  /** The publisher's participant sid (`""` for a bridge's slots). */
  participant: string;
  codec: string | null;
  /** Bits per second since the previous `getStats()`. */
  bitrate: number;
  packets: number;
  packetsLost: number;
  /** The fraction lost since the previous `getStats()`, 0 to 1. */
  packetLoss: number;
  /** Round trip to the server, ms. */
  rtt: number | null;
  /** ms. */
  jitter: number | null;
  layer: VideoQuality | null;
  layers: { quality: VideoQuality; rid: string; bitrate: number; width: number | null; height: number | null; active: boolean }[];
  width: number | null;
  height: number | null;
  framesPerSecond: number | null;
}

export interface RoomStats {
  timestamp: number;
  tracks: TrackStats[];
  publisher: RTCStatsReport | null;
  subscriber: RTCStatsReport | null;
}

/** `Room`'s events by type; each payload carries its `type` too. */
export interface RoomEventMap {
  connection: { state: RoomState; reason: string | null; attempt: number };
  reconnecting: { reason: string | null; attempt: number };
  reconnected: { resumed: boolean };
  disconnected: { reason: string | null };
  participant_joined: { participant: RemoteParticipant };
  participant_left: { participant: RemoteParticipant };
  participant_updated: { participant: Participant };
  track_published: { publication: TrackPublication; participant: RemoteParticipant };
  track_unpublished: { publication: TrackPublication; participant: RemoteParticipant };
  track_subscribed: { track: RemoteTrack; publication: TrackPublication; participant: RemoteParticipant | null; stream: MediaStream };
  track_unsubscribed: { track: RemoteTrack; publication: TrackPublication; participant: RemoteParticipant | null };
  track_muted: { publication: TrackPublication; participant: RemoteParticipant; muted: boolean; byAdmin: boolean };
  track_quality: { publication: TrackPublication; participant: RemoteParticipant | null; quality: VideoQuality; wanted: VideoQuality };
  local_track_published: { track: LocalTrack; publication: TrackPublication; participant: LocalParticipant };
  local_track_unpublished: { track: LocalTrack; publication: TrackPublication | null; participant: LocalParticipant };
  local_track_muted: { track: LocalTrack; publication: TrackPublication | null; participant: LocalParticipant; muted: boolean; byAdmin: boolean; /** The same as `byAdmin`. */ by_admin: boolean };
  subscribed_qualities: { track: LocalTrack; qualities: { quality: VideoQuality; rid: string; enabled: boolean }[] };
  active_speakers: { speakers: Speaker[] };
  speaking_changed: { participant: Participant; speaking: boolean };
  connection_quality: { participant: Participant; quality: ConnectionQuality };
  shedding: { shedding: Shedding };
  active_device_changed: { kind: DeviceKind; deviceId: string };
  removed: { reason: string; message: string };
  error: { error: ParleyError };
}

export type RoomEvent<K extends keyof RoomEventMap> = RoomEventMap[K] & { type: K };

/** A meeting over `/v1/rtc`. */
export declare class Room extends Emitter {
  /** The browser's devices, or those of `kind`. */
  static getLocalDevices(kind?: DeviceKind, requestPermissions?: boolean): Promise<MediaDeviceInfo[]>;

  constructor(options: RoomOptions);
  readonly state: RoomState;
  /** The room as `joined` described it. */
  readonly info: any;
  readonly localParticipant: LocalParticipant | null;
  /** Everyone else, by participant sid. */
  readonly participants: Map<string, RemoteParticipant>;
  /** This client's tracks, by source. */
  readonly localTracks: Map<TrackSource, LocalTrack>;
  /** The latest active speakers, loudest first. */
  readonly activeSpeakers: Speaker[];
  /** What the server withholds from this room because it is overloaded. */
  readonly shedding: Shedding;
  /** The devices chosen with `switchDevice`, by kind. */
  readonly activeDevices: Map<DeviceKind, string>;
  /** The publisher peer connection (own media), once there is one. */
  readonly publisher: RTCPeerConnection | null;
  /** The subscriber peer connection (everyone else's media), once there is one. */
  readonly subscriber: RTCPeerConnection | null;

  on<K extends keyof RoomEventMap>(type: K, fn: (event: RoomEvent<K>) => void): () => void;
  /** `*` (everything), or a push this SDK does not know yet, as the protocol's JSON. */
  on(type: string, fn: (event: ProtocolFrame) => void): () => void;
  off<K extends keyof RoomEventMap>(type: K, fn: (event: RoomEvent<K>) => void): void;
  off(type: string, fn: (event: ProtocolFrame) => void): void;

  getParticipant(sid: string): Participant | null;
  join(): Promise<JoinedFrame>;
  leave(): Promise<void>;

  publishMicrophone(options?: { track?: MediaStreamTrack | LocalTrack; deviceId?: string; name?: string; muted?: boolean }): Promise<LocalTrack>;
  publishCamera(options?: {
    track?: MediaStreamTrack | LocalTrack; deviceId?: string; simulcast?: boolean; width?: number; height?: number; name?: string;
  }): Promise<LocalTrack>;
  publishScreen(options?: { track?: MediaStreamTrack; audio?: boolean; simulcast?: boolean; name?: string }): Promise<LocalTrack>;
  unpublish(source: TrackSource): Promise<void>;
  setMuted(source: TrackSource, muted: boolean): Promise<void>;

  switchDevice(kind: DeviceKind, deviceId: string): Promise<void>;
  getActiveDevice(kind: DeviceKind): string | null;
  getStats(): Promise<RoomStats>;

  raiseHand(raised: boolean): Promise<ProtocolFrame>;
  setQuality(trackSid: string, quality: VideoQuality): Promise<ProtocolFrame>;
  subscribe(trackSids: string[], subscribe?: boolean): Promise<ProtocolFrame>;
  moderate(participantSid: string, action: "mute" | "give_floor" | "take_floor" | "lower_hand"): Promise<ProtocolFrame>;
  restartIce(): Promise<void>;
  /** Any request of the protocol, without its `id`. */
  request(frame: Record<string, unknown>): Promise<ProtocolFrame>;
}
