// The app's backend: it mints a participant's token with the API key's secret, which never
// reaches a browser.

import { AccessToken, Claims, mintToken, verifyToken } from "@parley/server-sdk";

export function participantToken(apiKey: string, apiSecret: string, userId: string, name: string, room: string): string {
  return new AccessToken(apiKey, apiSecret, { identity: `crm-user-${userId}`, name, ttl: 600 })
    .addGrant({ room, room_join: true, can_publish: true, can_subscribe: true, can_publish_sources: ["microphone", "camera"] })
    .toJwt();
}

export function listenerToken(apiKey: string, apiSecret: string, room: string): string {
  return mintToken({ apiKey, apiSecret, identity: "night-shift", grants: { room, room_join: true, can_subscribe: true } });
}

export function whoIs(jwt: string, apiSecret: string): string {
  const claims: Claims = verifyToken(jwt, apiSecret);
  return claims.sub;
}
