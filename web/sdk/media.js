// Parley's JavaScript SDK, the objects a `Room` hands out: tracks that attach to media elements
// (`LocalTrack`, `RemoteTrack`), what the server says of a published track
// (`TrackPublication`), and participants (`LocalParticipant`, `RemoteParticipant`). Also what an
// app needs before it joins: the devices (`getLocalDevices`) and a track to check them with
// (`createLocalTrack`, with a level meter).
//
// A room keeps one object per participant, publication and track for as long as they exist,
// across resumes and rejoins: an element attached to a track keeps playing when the SDK
// reconnects underneath it.

import { ParleyError } from "./common.js";

/** @typedef {"microphone" | "camera" | "screen_share" | "screen_share_audio"} TrackSource */
/** @typedef {"excellent" | "good" | "poor" | "lost"} ConnectionQuality */
/** @typedef {"none" | "video_layers" | "video" | "audio"} Shedding */
/** @typedef {"low" | "medium" | "high"} VideoQuality */

/** One AudioContext for every level meter of the page, made on first use. */
let meterContext = /** @type {AudioContext | null} */ (null);

function audioContext() {
  if (!meterContext) meterContext = new AudioContext();
  // A context made before the user touched the page starts suspended and hears nothing.
  if (meterContext.state === "suspended") meterContext.resume().catch(() => {});
  return meterContext;
}

/** A track of media: this client's own (`LocalTrack`) or someone else's (`RemoteTrack`). */
export class Track {
  /**
   * @param {"audio" | "video"} kind @param {TrackSource} source
   * @param {MediaStreamTrack | null} mediaStreamTrack
   */
  constructor(kind, source, mediaStreamTrack) {
    this.kind = kind;
    this.source = source;
    /** Given by the server once published. @type {string | null} */
    this.sid = null;
    /** The elements `attach` gave this track to, in the order attached. @type {HTMLMediaElement[]} */
    this.attachedElements = [];
    /** @type {MediaStreamTrack | null} */
    this.current = null;
    /** @type {MediaStream | null} */
    this.currentStream = null;
    /** @type {{source: MediaStreamAudioSourceNode, analyser: AnalyserNode, samples: Float32Array<ArrayBuffer>} | null} */
    this.meter = null;
    /** The audio output attached elements play on (`room.switchDevice("audiooutput", id)`). */
    this.sinkId = "";
    this.replaceMediaStreamTrack(mediaStreamTrack);
  }

  /** Whether this is this client's own track. @returns {boolean} */
  get isLocal() {
    return false;
  }

  /** The browser's track: while published for a local track, while subscribed for a remote one. */
  get mediaStreamTrack() {
    return this.current;
  }

  /** A `MediaStream` holding just this track, for a media element's `srcObject`. */
  get stream() {
    if (!this.currentStream && this.current) this.currentStream = new MediaStream([this.current]);
    return this.currentStream;
  }

  /**
   * The browser's track changed under this one (a rejoin, a device switch): elements attached
   * to it play the new one.
   * @param {MediaStreamTrack | null} track
   */
  replaceMediaStreamTrack(track) {
    if (this.current === track) return;
    this.current = track;
    this.currentStream = null;
    if (this.meter) {
      this.meter.source.disconnect();
      this.meter = null;
    }
    for (const el of this.attachedElements) el.srcObject = this.stream;
  }

  /**
   * Play this track in `element`, or in a new `<audio>` / `<video>` element, which is returned
   * (add it to the page yourself). The element plays inline and by itself; a local track's
   * element and a video track's are muted. Attaching the same element again only refreshes it.
   * @param {HTMLMediaElement} [element]
   * @returns {HTMLMediaElement}
   */
  attach(element) {
    const el = element || document.createElement(this.kind === "audio" ? "audio" : "video");
    if (!this.attachedElements.includes(el)) this.attachedElements.push(el);
    el.autoplay = true;
    if (el instanceof HTMLVideoElement) el.playsInline = true;
    // A video track's stream has no sound, and a muted element may play before the user
    // touched the page; nobody hears their own microphone.
    if (this.isLocal || this.kind === "video") el.muted = true;
    el.srcObject = this.stream;
    if (!this.isLocal && this.sinkId && typeof el.setSinkId === "function") el.setSinkId(this.sinkId).catch(() => {});
    // A page the user has not touched yet may not play sound; the app can call play() on a click.
    el.play().catch(() => {});
    return el;
  }

  /**
   * Stop playing this track in `element`, or in every element it was attached to. Returns the
   * elements it left (their `srcObject` is cleared; they stay on the page).
   * @param {HTMLMediaElement} [element]
   * @returns {HTMLMediaElement[]}
   */
  detach(element) {
    const leaving = element ? this.attachedElements.filter((e) => e === element) : [...this.attachedElements];
    for (const el of leaving) el.srcObject = null;
    this.attachedElements = this.attachedElements.filter((e) => !leaving.includes(e));
    return leaving;
  }

  /**
   * The audio's level right now, from 0 (silence) to 1 (full scale): the peak of the last
   * 20 ms, measured in the page with Web Audio. For a level meter, call it on each animation
   * frame. 0 for a video track or an ended one. A remote track is heard by Web Audio only while
   * it is attached to an element (a Chromium rule).
   * @returns {number}
   */
  getAudioLevel() {
    const track = this.current;
    if (this.kind !== "audio" || !track || track.readyState === "ended") return 0;
    if (!this.meter) {
      const context = audioContext();
      const source = context.createMediaStreamSource(new MediaStream([track]));
      const analyser = context.createAnalyser();
      analyser.fftSize = 1024;
      source.connect(analyser);
      this.meter = { source, analyser, samples: new Float32Array(analyser.fftSize) };
    }
    this.meter.analyser.getFloatTimeDomainData(this.meter.samples);
    let peak = 0;
    for (const v of this.meter.samples) peak = Math.max(peak, Math.abs(v));
    return Math.min(1, peak);
  }

  /**
   * Show this video track in a picture-in-picture window that stays on top while the user
   * works in other windows. Uses the first `<video>` element it is attached to, or attaches a
   * hidden one. Close the window with `document.exitPictureInPicture()`.
   * @returns {Promise<PictureInPictureWindow>}
   */
  async requestPictureInPicture() {
    if (this.kind !== "video") throw new ParleyError("invalid_input", "picture-in-picture needs a video track");
    if (!this.current) throw new ParleyError("invalid_input", "the track is not subscribed");
    if (!document.pictureInPictureEnabled) throw new ParleyError("not_supported", "this browser offers no picture-in-picture");
    let video = /** @type {HTMLVideoElement | undefined} */ (this.attachedElements.find((e) => e instanceof HTMLVideoElement));
    if (!video) {
      const own = /** @type {HTMLVideoElement} */ (this.attach(document.createElement("video")));
      own.hidden = true;
      document.body.append(own);
      // Ours only for the window: gone with it.
      own.addEventListener("leavepictureinpicture", () => {
        this.detach(own);
        own.remove();
      }, { once: true });
      video = own;
    }
    if (video.readyState < 1) await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
    return video.requestPictureInPicture();
  }
}

/** One of this client's own tracks: made by `createLocalTrack` or a `room.publish…` call. */
export class LocalTrack extends Track {
  /**
   * @param {TrackSource} source @param {MediaStreamTrack} mediaStreamTrack
   * @param {{name?: string, muted?: boolean}} [options]
   */
  constructor(source, mediaStreamTrack, options = {}) {
    super(/** @type {"audio" | "video"} */ (mediaStreamTrack.kind), source, mediaStreamTrack);
    this.name = options.name || "";
    /** Nothing is sent while muted (the browser track is disabled). */
    this.muted = Boolean(options.muted);
    /** Simulcast layers, lowest first (empty: one encoding). @type {{rid: string, width: number, height: number}[]} */
    this.layers = [];
    /** The publisher connection's transceiver once published. @type {RTCRtpTransceiver | null} */
    this.transceiver = null;
    /** Its publication once the server accepted it. @type {TrackPublication | null} */
    this.publication = null;
  }

  get isLocal() {
    return true;
  }

  /** @returns {MediaStreamTrack} */
  get mediaStreamTrack() {
    return /** @type {MediaStreamTrack} */ (this.current);
  }

  /** The device it captures from, as the browser reports it (`""` when it does not say). */
  get deviceId() {
    return this.current?.getSettings?.().deviceId || "";
  }

  /** Stop capturing (a published track should be `room.unpublish`ed instead). */
  stop() {
    this.current?.stop();
    if (this.meter) {
      this.meter.source.disconnect();
      this.meter = null;
    }
  }
}

/** Someone else's track, while the room is subscribed to it (`track_subscribed`). */
export class RemoteTrack extends Track {
  /** @param {TrackPublication} publication */
  constructor(publication) {
    super(publication.kind, publication.source, null);
    this.sid = publication.sid;
    /** @type {TrackPublication} */
    this.publication = publication;
  }

  /** Its publisher; `null` for a voice bridge's slots, which carry whoever speaks. */
  get participant() {
    return this.publication.participant;
  }

  /** Whether the publisher muted it. */
  get muted() {
    return this.publication.muted;
  }
}

/**
 * A track someone published, as the server describes it (the protocol's `TrackInfo`), with the
 * media of it once subscribed (`track`).
 */
export class TrackPublication {
  /** @param {any} info The protocol's `TrackInfo`. @param {Participant | null} participant */
  constructor(info, participant) {
    /** @type {string} */
    this.sid = info.sid;
    /** @type {"audio" | "video"} */
    this.kind = info.kind;
    /** @type {TrackSource} */
    this.source = info.source;
    /** @type {Participant | null} */
    this.participant = participant;
    /**
     * The media: a `RemoteTrack` while subscribed (else `null`); this client's `LocalTrack`
     * for its own publications.
     * @type {Track | null}
     */
    this.track = null;
    /** The simulcast layer this subscription carries, as the server said last (`track_quality`). @type {VideoQuality | null} */
    this.quality = null;
    /** The layer asked for, when bandwidth is short of it. @type {VideoQuality | null} */
    this.wantedQuality = null;
    /** The one `RemoteTrack` this publication hands out, each time it is subscribed. @type {RemoteTrack | null} */
    this.remote = null;
    this.update(info);
  }

  /** @param {any} info */
  update(info) {
    /** @type {string} */
    this.name = info.name || "";
    /** @type {boolean} */
    this.muted = Boolean(info.muted);
    /** @type {string | null} */
    this.codec = info.codec || null;
    /** @type {{rid: string, width: number, height: number}[]} */
    this.layers = info.layers || [];
  }

  /** Whether its media is arriving (remote) or being sent (local). */
  get isSubscribed() {
    return Boolean(this.track?.mediaStreamTrack);
  }

  /** The browser's track while subscribed, else `null`. */
  get mediaStreamTrack() {
    return this.track?.mediaStreamTrack ?? null;
  }

  /** A stream holding just that track while subscribed, else `null`. */
  get stream() {
    return this.track?.stream ?? null;
  }

  /** The `RemoteTrack` for this publication (the same object every time). */
  remoteTrack() {
    if (!this.remote) this.remote = new RemoteTrack(this);
    return this.remote;
  }
}

/** Someone in the room: this client (`LocalParticipant`) or another (`RemoteParticipant`). */
export class Participant {
  /** @param {any} info The protocol's `ParticipantInfo`. */
  constructor(info) {
    /** Their publications by track sid. @type {Map<string, TrackPublication>} */
    this.tracks = new Map();
    /**
     * As the server judged the connection last: it tells everyone's current quality right
     * after `joined`, then each change. `excellent` until it first says.
     * @type {ConnectionQuality}
     */
    this.connectionQuality = "excellent";
    /** Among the room's active speakers now (`active_speakers`). */
    this.isSpeaking = false;
    /** Their audio level as the server last measured it, 0 to 1 (0 when not speaking). */
    this.audioLevel = 0;
    /** When they were last among the active speakers (ms), or `null`. @type {number | null} */
    this.lastSpokeAt = null;
    /** @type {string} */
    this.sid = info.sid;
    this.update(info);
  }

  /** Whether this is this client. @returns {boolean} */
  get isLocal() {
    return false;
  }

  /** The same as `connectionQuality` (its earlier name). */
  get quality() {
    return this.connectionQuality;
  }

  /** The same map as `tracks`: publications by track sid. */
  get trackPublications() {
    return this.tracks;
  }

  /** Their publication of `source`, or `null`. @param {TrackSource} source */
  getTrack(source) {
    for (const publication of this.tracks.values()) if (publication.source === source) return publication;
    return null;
  }

  /**
   * Take what the server says of them now; returns the publications that came and went.
   * @param {any} info @returns {{added: TrackPublication[], removed: TrackPublication[]}}
   */
  update(info) {
    /** @type {string} */
    this.sid = info.sid;
    /** @type {string} */
    this.identity = info.identity;
    /** @type {string} */
    this.name = info.name || info.identity;
    /** When they joined (ms). @type {number} */
    this.joinedAt = info.joined_at;
    /** What they may do (the protocol's grants). @type {any} */
    this.grants = info.grants;
    /** When their hand went up (ms), or `null`. @type {number | null} */
    this.handRaisedAt = info.hand_raised_at ?? null;
    const added = [];
    const listed = new Set();
    for (const track of info.tracks || []) {
      listed.add(track.sid);
      const known = this.tracks.get(track.sid);
      if (known) known.update(track);
      else {
        const publication = new TrackPublication(track, this);
        this.tracks.set(track.sid, publication);
        added.push(publication);
      }
    }
    const removed = [];
    for (const [sid, publication] of [...this.tracks]) {
      if (listed.has(sid)) continue;
      this.tracks.delete(sid);
      removed.push(publication);
    }
    return { added, removed };
  }
}

/** This client in the room (`room.localParticipant`). */
export class LocalParticipant extends Participant {
  get isLocal() {
    return true;
  }
}

/** Someone else in the room (`room.participants`). */
export class RemoteParticipant extends Participant {}

/** @typedef {"audioinput" | "videoinput" | "audiooutput"} DeviceKind */

/**
 * The browser's cameras, microphones and speakers (or those of `kind`). Browsers name devices
 * only to pages allowed to use them: with `requestPermissions` (the default) and no names yet,
 * the SDK asks for the camera or microphone once (the user may be prompted) and stops it again.
 * @param {DeviceKind} [kind]
 * @param {boolean} [requestPermissions]
 * @returns {Promise<MediaDeviceInfo[]>}
 */
export async function getLocalDevices(kind, requestPermissions = true) {
  const list = async () => (await navigator.mediaDevices.enumerateDevices()).filter((d) => !kind || d.kind === kind);
  let devices = await list();
  const unnamed = devices.some((d) => !d.label);
  if (requestPermissions && unnamed) {
    // Outputs are named once the microphone is allowed.
    const wants = { audio: kind !== "videoinput", video: !kind || kind === "videoinput" };
    try {
      const stream = await navigator.mediaDevices.getUserMedia(wants);
      for (const track of stream.getTracks()) track.stop();
      devices = await list();
    } catch {
      // Refused: the devices without their names are still worth listing.
    }
  }
  return devices;
}

/**
 * A camera or microphone track to check before joining (a preview, a level meter) and then
 * publish as it is: `room.publishMicrophone({track})`, `room.publishCamera({track})`.
 * @param {"audio" | "video"} kind
 * @param {{deviceId?: string, width?: number, height?: number, name?: string}} [options]
 * @returns {Promise<LocalTrack>}
 */
export async function createLocalTrack(kind, options = {}) {
  const track = await captureTrack(kind, options);
  return new LocalTrack(kind === "audio" ? "microphone" : "camera", track, { name: options.name });
}

/**
 * A track from `getUserMedia`: a microphone, or a camera at `width` × `height` (1280 × 720 by
 * default); `deviceId` picks the device exactly.
 * @param {"audio" | "video"} kind
 * @param {{deviceId?: string, width?: number, height?: number}} [options]
 * @returns {Promise<MediaStreamTrack>}
 */
export async function captureTrack(kind, options = {}) {
  /** @type {MediaTrackConstraints} */
  const constraints = kind === "video" ? { width: options.width || 1280, height: options.height || 720 } : {};
  if (options.deviceId) constraints.deviceId = { exact: options.deviceId };
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(kind === "audio" ? { audio: constraints } : { video: constraints });
  } catch (err) {
    const name = /** @type {any} */ (err)?.name;
    const what = kind === "audio" ? "microphone" : "camera";
    if (name === "NotAllowedError" || name === "SecurityError") throw new ParleyError("permission_denied", `the ${what} was not allowed`);
    if (name === "NotFoundError" || name === "OverconstrainedError") throw new ParleyError("no_device", `no such ${what}`);
    // Busy (another app holds it), unplugged meanwhile, or refused by the system.
    throw new ParleyError("no_device", `the ${what} could not be used: ${/** @type {any} */ (err)?.message || name}`);
  }
  const track = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
  if (!track) throw new ParleyError("no_device", `no ${kind} device`);
  return track;
}
