// Mistakes the declarations must catch: each line marked `error` fails to compile.

import { Room } from "@parley/sdk";
import { mintToken } from "@parley/server-sdk";

const room = new Room({ url: "https://parley.example.com", token: "t" });
room.on("participant_left", ({ participant }) => participant.startsWith("PA_")); // error: a Participant, not a sid
room.on("track_subscribed", ({ track }) => { const sid: number = track.sid; return sid; }); // error: sid is a string
room.switchDevice("camera", "id"); // error: not a device kind
room.publishCamera({ simulcast: "yes" }); // error: simulcast is a boolean
room.on("speaking_changed", ({ speaking }) => speaking.toFixed()); // error: speaking is a boolean
const someone = room.participants.get("PA_x");
someone.identity; // error: possibly undefined
mintToken({ apiKey: "k", apiSecret: "s", identity: "x", grants: { room_joins: true } }); // error: no such grant
