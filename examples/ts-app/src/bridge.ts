// An emergency bridge listener: joins without publishing, plays whoever speaks in the
// bridge's slots, and shows who that is.

import { Room, Speaker } from "@parley/sdk";

export async function listen(url: string, token: string, room: string, names: HTMLElement): Promise<Room> {
  const bridge = new Room({ url, token, room });
  bridge.on("track_subscribed", ({ track, participant }) => {
    // A bridge's slots belong to nobody: they carry whoever speaks.
    if (participant === null) document.body.append(track.attach());
  });
  bridge.on("active_speakers", ({ speakers }) => {
    names.textContent = speakers
      .filter((s: Speaker) => s.slot !== null)
      .map((s) => s.participant.name)
      .join(", ");
  });
  await bridge.join();
  await bridge.raiseHand(true);
  return bridge;
}
