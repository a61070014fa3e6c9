// The `Room` API exactly as docs/sdk.md documents it, with three headless Chromium pages on an
// origin of their own that import `/sdk/parley.js` from the Parley server: a pre-join device
// check (devices listed, a level meter, a preview attached and detached), two then three
// participants, speaking flags following a tone, the initial connection quality, attach and
// detach, getStats, switching microphone, camera and speaker during the call, a screen share
// with its sound, picture-in-picture, a dropped network (reconnecting, reconnected, the same
// objects after), and leaving. Every event each page hears is checked against the object types
// the docs give its payload. Prints one JSON line: what each page saw.
//
//   node sdk_room.mjs --parley http://127.0.0.1:PORT --token-a JWT --token-b JWT --token-c JWT

import http from "node:http";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, parseArgs } from "./common.mjs";

const args = parseArgs();
const deadline = Date.now() + 150_000;

const site = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!doctype html><meta charset=utf-8><title>sdk room</title><body></body>");
});
await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${site.address().port}`;

// Fake cameras, microphones and speakers; sound plays without a user gesture;
// getDisplayMedia picks the screen (with its fake sound) by itself.
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: chromiumFlags(undefined, [
    // Three of each: Chromium's second fake camera plays in a <video> but WebRTC never encodes
    // its frames, so the camera switched to is the third.
    "--use-fake-device-for-media-stream=device-count=3",
    "--autoplay-policy=no-user-gesture-required",
    "--auto-select-desktop-capture-source=Entire screen",
  ]),
});

const report = { ok: false };
const logs = [];

/** A page with the SDK imported and every Room event it hears checked (`window.t`). */
async function open(name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => logs.push(`${name} ${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on("pageerror", (e) => logs.push(`${name} pageerror: ${e}`.slice(0, 300)));
  await page.goto(origin);
  await page.evaluate(async (parley) => {
    const sdk = await import(`${parley}/sdk/parley.js`);
    const { Participant, LocalParticipant, RemoteParticipant, LocalTrack, RemoteTrack, TrackPublication, ParleyError } = sdk;
    const t = { sdk, parley, seen: {}, bad: [], unknown: [], log: [], room: null };
    window.t = t;
    const states = ["connecting", "open", "reconnecting", "closed"];
    const qualities = ["excellent", "good", "poor", "lost"];
    const layers = ["low", "medium", "high"];
    const isPublication = (p, owner) => p instanceof TrackPublication && p.participant === owner;
    /** What docs/sdk.md says each event carries. */
    const shapes = {
      connection: (e) => states.includes(e.state) && typeof e.attempt === "number",
      reconnecting: (e) => typeof e.reason === "string" && typeof e.attempt === "number",
      reconnected: (e) => typeof e.resumed === "boolean",
      disconnected: (e) => typeof e.reason === "string",
      participant_joined: (e) => e.participant instanceof RemoteParticipant && t.room.participants.get(e.participant.sid) === e.participant,
      participant_left: (e) => e.participant instanceof RemoteParticipant && !t.room.participants.has(e.participant.sid),
      participant_updated: (e) => e.participant instanceof Participant && t.room.getParticipant(e.participant.sid) === e.participant,
      track_published: (e) => e.participant instanceof RemoteParticipant && isPublication(e.publication, e.participant)
        && e.participant.tracks.get(e.publication.sid) === e.publication,
      track_unpublished: (e) => e.participant instanceof RemoteParticipant && isPublication(e.publication, e.participant)
        && !e.participant.tracks.has(e.publication.sid),
      track_subscribed: (e) => e.track instanceof RemoteTrack && e.publication instanceof TrackPublication
        && e.publication.track === e.track && e.track.publication === e.publication && e.publication.participant === e.participant
        && (e.participant === null || e.participant instanceof RemoteParticipant)
        && e.stream instanceof MediaStream && e.stream === e.track.stream && e.track.mediaStreamTrack instanceof MediaStreamTrack,
      track_unsubscribed: (e) => e.track instanceof RemoteTrack && e.publication instanceof TrackPublication
        && e.publication.track === null && e.track.mediaStreamTrack === null,
      track_muted: (e) => e.participant instanceof RemoteParticipant && isPublication(e.publication, e.participant)
        && e.publication.muted === e.muted && typeof e.byAdmin === "boolean",
      track_quality: (e) => e.publication instanceof TrackPublication && layers.includes(e.quality) && layers.includes(e.wanted),
      local_track_published: (e) => e.track instanceof LocalTrack && e.participant instanceof LocalParticipant
        && isPublication(e.publication, e.participant) && e.publication.track === e.track && e.track.sid === e.publication.sid,
      local_track_unpublished: (e) => e.track instanceof LocalTrack && e.participant instanceof LocalParticipant,
      local_track_muted: (e) => e.track instanceof LocalTrack && e.participant instanceof LocalParticipant
        && e.track.muted === e.muted && typeof e.byAdmin === "boolean",
      subscribed_qualities: (e) => e.track instanceof LocalTrack && Array.isArray(e.qualities),
      active_speakers: (e) => Array.isArray(e.speakers) && e.speakers.every((s) => s.participant instanceof Participant
        && typeof s.level === "number" && (s.slot === null || typeof s.slot === "number")) && t.room.activeSpeakers === e.speakers,
      speaking_changed: (e) => e.participant instanceof Participant && e.participant.isSpeaking === e.speaking,
      connection_quality: (e) => e.participant instanceof Participant && qualities.includes(e.quality)
        && e.participant.connectionQuality === e.quality && t.room.getParticipant(e.participant.sid) === e.participant,
      active_device_changed: (e) => ["audioinput", "videoinput", "audiooutput"].includes(e.kind) && typeof e.deviceId === "string",
      removed: (e) => typeof e.reason === "string" && typeof e.message === "string",
      error: (e) => e.error instanceof ParleyError,
    };
    t.watch = (room) => {
      t.room = room;
      room.on("*", (e) => {
        t.seen[e.type] = (t.seen[e.type] || 0) + 1;
        const who = e.participant ? e.participant.identity : undefined;
        t.log.push({ type: e.type, who, at: Date.now(), speaking: e.speaking, quality: e.quality, state: e.state, reason: e.reason, resumed: e.resumed, local: e.participant?.isLocal });
        const shape = shapes[e.type];
        if (!shape) t.unknown.push(e.type);
        else if (!shape(e)) t.bad.push(`${e.type}: ${JSON.stringify(Object.keys(e))} ${who || ""}`);
      });
    };
    t.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    /** Poll `check` until it gives something truthy, or fail naming `what`. */
    t.until = async (what, check, ms = 20000) => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await check();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out: ${what}`);
        await t.sleep(50);
      }
    };
    t.join = async (token) => {
      const room = new sdk.Room({ url: parley, token, minBackoffMs: 100, maxBackoffMs: 500 });
      t.watch(room);
      await room.join();
      return room;
    };
  }, args.parley);
  return { context, page, name };
}

/** Run `fn` in the page (with `t`), naming the step if it fails. */
async function step(who, what, fn, arg) {
  if (Date.now() > deadline) throw new Error(`out of time before: ${what}`);
  try {
    return await who.page.evaluate(fn, arg);
  } catch (err) {
    throw new Error(`${who.name}: ${what}: ${err.message}`);
  }
}

try {
  const a = await open("a");
  const b = await open("b");
  const c = await open("c");

  // ---- A: the device check before joining ----
  report.prejoin = await step(a, "pre-join check", async () => {
    const { Room, createLocalTrack, getLocalDevices } = t.sdk;
    const devices = await Room.getLocalDevices();
    const sameAsFunction = (await getLocalDevices("audioinput")).length;
    const mic = await createLocalTrack("audio");
    // The fake microphone beeps; a meter read on every frame sees it.
    let peak = 0;
    const end = Date.now() + 3000;
    while (Date.now() < end && peak < 0.02) {
      peak = Math.max(peak, mic.getAudioLevel());
      await new Promise((r) => requestAnimationFrame(r));
    }
    const cam = await createLocalTrack("video", { width: 640, height: 360 });
    const preview = cam.attach();
    document.body.append(preview);
    const previewWidth = await t.until("the preview plays", () => preview.videoWidth);
    const attachedBefore = cam.attachedElements.length;
    const detached = cam.detach();
    t.mic = mic;
    t.cam = cam;
    return {
      kinds: devices.map((d) => d.kind), labelled: devices.every((d) => d.label !== ""), audioinputs: sameAsFunction,
      peak, micIsLocal: mic.isLocal && mic.source === "microphone", previewWidth,
      previewMuted: preview.muted, attachedBefore, detached: detached.length === 1 && detached[0] === preview,
      srcAfterDetach: preview.srcObject, attachedAfter: cam.attachedElements.length,
    };
  });

  // ---- two participants: A with the checked tracks, B with a tone it switches on and off ----
  report.a = await step(a, "A joins and publishes", async (token) => {
    const room = await t.join(token);
    const mic = await room.publishMicrophone({ track: t.mic });
    const cam = await room.publishCamera({ track: t.cam });
    await t.until("A's tracks are published", () => mic.sid && cam.sid);
    return {
      sid: room.localParticipant.sid, sameMic: mic === t.mic, sameCam: cam === t.cam,
      micPublication: mic.publication?.sid === mic.sid && room.localParticipant.tracks.get(mic.sid) === mic.publication,
      camLayers: cam.layers.length,
    };
  }, args["token-a"]);

  report.b = await step(b, "B joins with a tone", async (token) => {
    const room = await t.join(token);
    const context = new AudioContext();
    const tone = context.createOscillator();
    tone.frequency.value = 440;
    const gain = context.createGain();
    gain.gain.value = 0;
    const out = context.createMediaStreamDestination();
    tone.connect(gain).connect(out);
    tone.start();
    t.tone = (on) => gain.gain.setValueAtTime(on ? 0.8 : 0, context.currentTime);
    const mic = await room.publishMicrophone({ track: out.stream.getAudioTracks()[0] });
    await t.until("B's microphone is published", () => mic.sid);
    return { sid: room.localParticipant.sid, micSid: mic.sid };
  }, args["token-b"]);

  // A hears B: the subscribed track attaches to an element of the app's choosing.
  report.attach = await step(a, "A attaches B's microphone", async (bSid) => {
    const room = t.room;
    const publication = await t.until("B's microphone reaches A", () => {
      const p = room.participants.get(bSid)?.getTrack("microphone");
      return p?.isSubscribed ? p : null;
    });
    const track = publication.track;
    const el = document.createElement("audio");
    const returned = track.attach(el);
    document.body.append(el);
    const again = track.attach(el);
    t.bAudio = { track, el };
    return {
      returnedSame: returned === el && again === el, src: el.srcObject === track.stream, once: track.attachedElements.length === 1,
      autoplay: el.autoplay, trackIsRemote: track.isLocal === false && track.participant === room.participants.get(bSid),
      sameParticipantObject: publication.participant === room.participants.get(bSid),
    };
  }, report.b.sid);

  // ---- speaking follows B's tone ----
  await step(b, "tone on", () => t.tone(true));
  report.speaking = await step(a, "A sees B speak", async (bSid) => {
    const b = t.room.participants.get(bSid);
    await t.until("B speaks", () => b.isSpeaking, 15000);
    const level = b.audioLevel;
    const event = t.log.find((e) => e.type === "speaking_changed" && e.who === b.identity && e.speaking === true);
    const inList = t.room.activeSpeakers.some((s) => s.participant === b);
    return { level, event: Boolean(event), inList, lastSpokeAt: typeof b.lastSpokeAt === "number" };
  }, report.b.sid);
  report.speakingSelf = await step(b, "B sees itself speak", () => t.until("self speaking", () => t.room.localParticipant.isSpeaking, 15000));
  await step(b, "tone off", () => t.tone(false));
  report.silent = await step(a, "A sees B stop", async (bSid) => {
    const b = t.room.participants.get(bSid);
    await t.until("B stops speaking", () => !b.isSpeaking, 15000);
    return { level: b.audioLevel, event: t.log.some((e) => e.type === "speaking_changed" && e.who === b.identity && e.speaking === false) };
  }, report.b.sid);

  // ---- a third participant ----
  report.c = await step(c, "C joins and publishes a camera", async (token) => {
    const room = await t.join(token);
    const cam = await room.publishCamera({ width: 640, height: 360 });
    await t.until("C's camera is published", () => cam.sid);
    // Right after joining, the server told C everyone's quality, C included.
    await t.until("C's first qualities", () => t.log.filter((e) => e.type === "connection_quality").length >= 3);
    const first = t.log.filter((e) => e.type === "connection_quality");
    return {
      sid: room.localParticipant.sid, camSid: cam.sid, others: room.participants.size,
      qualityOfSelf: first.some((e) => e.local === true), qualityNamed: new Set(first.map((e) => e.who)).size,
      localQuality: room.localParticipant.connectionQuality,
    };
  }, args["token-c"]);

  report.three = await step(a, "A sees C's camera", async (cSid) => {
    const room = t.room;
    const c = await t.until("C joined A's room", () => room.participants.get(cSid));
    const publication = await t.until("C's camera reaches A", () => {
      const p = c.getTrack("camera");
      return p?.isSubscribed ? p : null;
    });
    const video = publication.track.attach();
    document.body.append(video);
    await t.until("C's camera plays", () => video.videoWidth > 0);
    t.cVideo = { track: publication.track, video, participant: c, publication };
    const joined = t.log.filter((e) => e.type === "participant_joined").map((e) => e.who);
    return {
      participants: room.participants.size, videoWidth: video.videoWidth, tagName: video.tagName, muted: video.muted,
      joined, initialQuality: room.participants.get(cSid).connectionQuality,
    };
  }, report.c.sid);

  // ---- statistics: present, and changing between two calls ----
  report.stats = await step(a, "A's statistics", async () => {
    const room = t.room;
    const first = await room.getStats();
    await t.until("packets flow", async () => {
      const s = await room.getStats();
      t.stats = s;
      const find = (stats, direction, source) => stats.tracks.find((x) => x.direction === direction && x.source === source);
      const grew = (direction, source) => find(s, direction, source)?.packets > (find(first, direction, source)?.packets ?? Infinity);
      return grew("outbound", "microphone") && grew("inbound", "microphone") && grew("inbound", "camera")
        && find(s, "inbound", "camera").width;
    });
    const second = t.stats;
    const pick = (s) => s.tracks.map((x) => ({
      sid: x.sid, direction: x.direction, kind: x.kind, source: x.source, participant: x.participant, codec: x.codec,
      bitrate: x.bitrate, packets: x.packets, packetsLost: x.packetsLost, packetLoss: x.packetLoss, rtt: x.rtt,
      jitter: x.jitter, layer: x.layer, layers: x.layers.length, width: x.width, height: x.height, framesPerSecond: x.framesPerSecond,
    }));
    return {
      first: pick(first), second: pick(second), timestamps: second.timestamp > first.timestamp,
      raw: first.publisher instanceof RTCStatsReport && second.subscriber instanceof RTCStatsReport,
    };
  });

  // ---- switching devices during the call ----
  report.devices = await step(a, "A switches microphone, camera and speaker", async () => {
    const { Room } = t.sdk;
    const room = t.room;
    const mic = room.localTracks.get("microphone");
    const cam = room.localTracks.get("camera");
    const oldMic = mic.mediaStreamTrack;
    const oldCam = cam.mediaStreamTrack;
    const micSid = mic.sid;
    const inputs = await Room.getLocalDevices("audioinput");
    const micTo = inputs.find((d) => d.deviceId !== mic.deviceId && d.deviceId !== "default");
    await room.switchDevice("audioinput", micTo.deviceId);
    const cams = await Room.getLocalDevices("videoinput");
    const camFrom = cam.deviceId;
    const camTo = cams.at(-1);
    await room.switchDevice("videoinput", camTo.deviceId);
    const outputs = await Room.getLocalDevices("audiooutput");
    const outTo = outputs[outputs.length - 1];
    await room.switchDevice("audiooutput", outTo.deviceId);
    const refused = {};
    for (const [kind, id] of [["videoinput", "no-such-camera"], ["camera", "x"]]) {
      try {
        await room.switchDevice(kind, id);
        refused[kind] = "switched";
      } catch (err) {
        refused[kind] = err.code;
      }
    }
    return {
      micSame: room.localTracks.get("microphone") === mic && mic.sid === micSid, micDevice: mic.deviceId === micTo.deviceId,
      micSender: mic.transceiver.sender.track === mic.mediaStreamTrack, oldMicEnded: oldMic.readyState === "ended",
      camSame: room.localTracks.get("camera") === cam, camDevice: cam.deviceId === camTo.deviceId && camTo.deviceId !== camFrom,
      camTo: camTo.label,
      camSender: cam.transceiver.sender.track === cam.mediaStreamTrack, oldCamEnded: oldCam.readyState === "ended",
      camLive: cam.mediaStreamTrack.readyState === "live",
      sink: t.bAudio.el.sinkId === outTo.deviceId, active: {
        audioinput: room.getActiveDevice("audioinput") === micTo.deviceId,
        videoinput: room.getActiveDevice("videoinput") === camTo.deviceId,
        audiooutput: room.getActiveDevice("audiooutput") === outTo.deviceId,
      },
      refused, events: t.log.filter((e) => e.type === "active_device_changed").length,
    };
  });
  // The others still get A's media from the new devices: packets of both, and pictures decoded.
  report.afterSwitch = await step(c, "C still receives A's camera and microphone", async (aSid) => {
    const room = t.room;
    const a = room.participants.get(aSid);
    const video = a.getTrack("camera").track.attach();
    document.body.append(video);
    const frames = () => video.getVideoPlaybackQuality().totalVideoFrames;
    const count = async () => {
      const s = await room.getStats();
      const of = (source) => s.tracks.find((x) => x.direction === "inbound" && x.participant === aSid && x.source === source)?.packets || 0;
      return { camera: of("camera"), microphone: of("microphone"), frames: frames() };
    };
    const before = await count();
    const after = await t.until("more of A's media", async () => {
      const now = await count();
      return now.camera > before.camera + 50 && now.microphone > before.microphone + 50 && now.frames > before.frames + 15 ? now : null;
    });
    return { before, after };
  }, report.a.sid);

  // ---- a screen share with its sound, from C ----
  report.screen = await step(c, "C shares the screen with sound", async () => {
    const room = t.room;
    const video = await room.publishScreen({ audio: true });
    await t.until("the screen's sound is published", () => room.localTracks.get("screen_share_audio")?.sid);
    const sources = [...room.localTracks.keys()];
    return { video: video.source, sources };
  });
  report.screenSeen = await step(a, "A sees C's screen and its sound", async (cSid) => {
    const c = t.room.participants.get(cSid);
    await t.until("both published to A", () => c.getTrack("screen_share") && c.getTrack("screen_share_audio"));
    return [...c.tracks.values()].map((p) => p.source).sort();
  }, report.c.sid);
  await step(c, "C stops sharing", () => t.room.unpublish("screen_share"));
  report.screenGone = await step(a, "A sees the share end", async (cSid) => {
    const c = t.room.participants.get(cSid);
    await t.until("both unpublished", () => !c.getTrack("screen_share") && !c.getTrack("screen_share_audio"));
    return t.log.filter((e) => e.type === "track_unpublished" && e.who === c.identity).length;
  }, report.c.sid);

  // ---- A drops C's camera and takes it again: the same track object, its element plays on ----
  report.resubscribe = await step(a, "A unsubscribes and subscribes again", async () => {
    const { track, video, publication } = t.cVideo;
    const mark = t.log.length;
    await t.room.subscribe([publication.sid], false);
    await t.until("unsubscribed", () => t.log.slice(mark).some((e) => e.type === "track_unsubscribed"));
    const dropped = { subscribed: publication.isSubscribed, track: publication.track, src: video.srcObject };
    await t.room.subscribe([publication.sid], true);
    await t.until("subscribed again", () => t.log.slice(mark).some((e) => e.type === "track_subscribed"));
    await t.until("the element plays again", () => video.srcObject && video.videoWidth > 0 && !video.paused);
    return {
      dropped: !dropped.subscribed && dropped.track === null && dropped.src === null,
      sameTrack: publication.track === track, attached: track.attachedElements.length === 1 && video.srcObject === track.stream,
    };
  });

  // ---- picture-in-picture of C's camera ----
  report.pip = await step(a, "picture-in-picture", async () => {
    const win = await t.cVideo.track.requestPictureInPicture();
    const element = document.pictureInPictureElement === t.cVideo.video;
    await document.exitPictureInPicture();
    return { window: win instanceof PictureInPictureWindow, element };
  });

  // ---- B's network drops and comes back: resumed, nobody noticed, the same objects ----
  await step(b, "B remembers its objects", (aSid) => {
    const a = t.room.participants.get(aSid);
    t.before = { a, mic: a.getTrack("microphone"), micTrack: a.getTrack("microphone").track, left: t.log.filter((e) => e.type === "participant_left").length };
  }, report.a.sid);
  await step(a, "A marks where it stands", () => {
    t.mark = t.log.length;
  });
  await b.context.setOffline(true);
  report.offline = await step(b, "B reconnecting", () => t.until("reconnecting", () => t.room.state === "reconnecting" && t.log.find((e) => e.type === "reconnecting")));
  await b.context.setOffline(false);
  report.resumed = await step(b, "B resumed", async (aSid) => {
    const ev = await t.until("reconnected", () => t.log.find((e) => e.type === "reconnected"));
    const room = t.room;
    const a = room.participants.get(aSid);
    const pong = (await room.request({ type: "ping" })).type;
    return {
      resumed: ev.resumed, state: room.state, pong, sameA: a === t.before.a, samePublication: a.getTrack("microphone") === t.before.mic,
      sameTrack: a.getTrack("microphone").track === t.before.micTrack,
      leftMeanwhile: t.log.filter((e) => e.type === "participant_left").length - t.before.left,
      order: t.log.filter((e) => ["connection", "reconnecting", "reconnected"].includes(e.type)).map((e) => e.type + (e.state ? `:${e.state}` : "")),
    };
  }, report.a.sid);
  report.othersSawNothing = await step(a, "A saw B stay", (bIdentity) => t.log.slice(t.mark).filter((e) => (e.type === "participant_left" || e.type === "participant_joined") && e.who === bIdentity).map((e) => e.type), "bob");

  // ---- C leaves, then A ----
  await step(c, "C leaves", () => t.room.leave());
  report.cLeft = await step(a, "A sees C leave", async () => {
    const { participant } = t.cVideo;
    await t.until("C left", () => t.log.some((e) => e.type === "participant_left" && e.who === participant.identity));
    const order = t.log.filter((e) => e.who === participant.identity && ["track_unsubscribed", "participant_left"].includes(e.type)).map((e) => e.type).slice(-2);
    return { order, gone: !t.room.participants.has(participant.sid), detachedAfter: t.cVideo.track.detach().length, srcCleared: t.cVideo.video.srcObject === null };
  });
  report.aLeaves = await step(a, "A leaves", async () => {
    await t.room.leave();
    const ev = t.log.find((e) => e.type === "disconnected");
    return { state: t.room.state, reason: ev && ev.reason, micStopped: t.mic.mediaStreamTrack.readyState === "ended" };
  });
  report.bSeesALeave = await step(b, "B sees A leave", () => t.until("A left", () => t.log.some((e) => e.type === "participant_left" && e.who === "ann")).then(() => true));
  await step(b, "B leaves", () => t.room.leave());

  // ---- what each page heard, and whether each payload was the documented type ----
  report.events = {};
  for (const p of [a, b, c]) {
    report.events[p.name] = await p.page.evaluate(() => ({ seen: t.seen, bad: t.bad, unknown: t.unknown }));
  }
  report.ok = true;
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
}
report.logs = logs.slice(-40);
console.log(JSON.stringify(report));
await browser.close();
site.close();
