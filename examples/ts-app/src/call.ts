// A video call in an app's page: a device check with a level meter before joining, tiles that
// attach tracks, who is speaking, the connection's quality, switching devices, statistics and
// the reconnect banner. Only what docs/sdk.md documents.

import {
  ConnectionQuality, LocalTrack, Participant, RemoteTrack, Room, RoomStats, TrackStats, createLocalTrack,
} from "@parley/sdk";

const grid = document.getElementById("grid") as HTMLElement;
const banner = document.getElementById("banner") as HTMLElement;
const tiles = new Map<string, HTMLElement>();

/** Before joining: pick devices, see the camera, watch the microphone's level. */
export async function checkDevices(meter: HTMLMeterElement): Promise<{ mic: LocalTrack; cam: LocalTrack }> {
  const microphones = await Room.getLocalDevices("audioinput");
  const cameras = await Room.getLocalDevices("videoinput");
  const mic = await createLocalTrack("audio", { deviceId: microphones[0]?.deviceId });
  const cam = await createLocalTrack("video", { deviceId: cameras[0]?.deviceId, width: 1280, height: 720 });
  const preview: HTMLVideoElement = cam.attach(document.createElement("video"));
  grid.append(preview);
  const draw = (): void => {
    meter.value = mic.getAudioLevel();
    if (mic.mediaStreamTrack.readyState === "live") requestAnimationFrame(draw);
  };
  draw();
  return { mic, cam };
}

function tile(participant: Participant, track: RemoteTrack | LocalTrack): void {
  const key = track.sid ?? `local-${track.source}`;
  const el = document.createElement("div");
  el.dataset.participant = participant.sid;
  el.append(track.attach());
  tiles.set(key, el);
  grid.append(el);
}

export async function call(url: string, token: () => Promise<string>): Promise<Room> {
  const room = new Room({ url, token, autoSubscribe: true });
  room.on("track_subscribed", ({ track, participant }) => {
    if (participant && track.kind === "video") tile(participant, track);
    else track.attach();
  });
  room.on("track_unsubscribed", ({ track }) => {
    for (const el of track.detach()) el.remove();
    tiles.get(track.sid)?.remove();
  });
  room.on("local_track_published", ({ track, participant }) => {
    if (track.kind === "video") tile(participant, track);
  });
  room.on("speaking_changed", ({ participant, speaking }) => {
    for (const el of grid.querySelectorAll<HTMLElement>(`[data-participant="${participant.sid}"]`)) {
      el.classList.toggle("speaking", speaking);
    }
  });
  room.on("connection_quality", ({ participant, quality }) => {
    const bad: ConnectionQuality[] = ["poor", "lost"];
    if (bad.includes(quality)) console.warn(`${participant.name}: ${quality}`);
  });
  room.on("participant_left", ({ participant }) => console.info(`${participant.identity} left`));
  room.on("track_muted", ({ publication, participant, muted }) => {
    console.info(`${participant.name} ${muted ? "muted" : "unmuted"} ${publication.source}`);
  });
  room.on("reconnecting", () => (banner.hidden = false));
  room.on("reconnected", ({ resumed }) => {
    banner.hidden = true;
    if (!resumed) console.info("joined again as a new participant");
  });
  room.on("disconnected", ({ reason }) => console.info(`call over: ${reason}`));
  room.on("error", ({ error }) => console.warn(error.code, error.message));
  room.on("*", (event) => console.debug(event.type));

  const joined = await room.join();
  console.info(`in ${joined.room.name} as ${room.localParticipant?.identity}`);
  const { mic, cam } = await checkDevices(document.createElement("meter"));
  await room.publishMicrophone({ track: mic });
  await room.publishCamera({ track: cam, simulcast: true });
  return room;
}

export async function settings(room: Room): Promise<void> {
  const speakers = await Room.getLocalDevices("audiooutput");
  if (speakers[1]) await room.switchDevice("audiooutput", speakers[1].deviceId);
  const cameras = await Room.getLocalDevices("videoinput");
  const other = cameras.find((d) => d.deviceId !== room.getActiveDevice("videoinput"));
  if (other) await room.switchDevice("videoinput", other.deviceId);
  await room.setMuted("microphone", true);
  await room.publishScreen({ audio: true });
}

export async function report(room: Room): Promise<string[]> {
  const stats: RoomStats = await room.getStats();
  const lines = stats.tracks.map((t: TrackStats) =>
    `${t.direction} ${t.source} ${t.codec ?? "?"} ${Math.round(t.bitrate / 1000)} kbit/s, ${(t.packetLoss * 100).toFixed(1)}% lost, rtt ${t.rtt ?? "?"} ms, layer ${t.layer ?? "-"}`);
  stats.publisher?.forEach((s: { type: string }) => lines.push(s.type));
  for (const speaker of room.activeSpeakers) lines.push(`${speaker.participant.name} ${speaker.level}`);
  const pip = room.participants.values().next().value?.getTrack("camera")?.track;
  if (pip) await pip.requestPictureInPicture();
  return lines;
}
