// Types for index.mjs, written by hand. The names are the server's own (`Grants` and
// `AppClaims` in proto/src/auth.rs); docs/protocol.md, "Apps: API keys and tokens with grants",
// says what each one allows.

/** Where a published track comes from. */
export type TrackSource = "microphone" | "camera" | "screen_share" | "screen_share_audio";

/** What the token lets its holder do. Anything not granted is denied. */
export interface Grants {
  /** The room the token is for; a token that joins must name it. */
  room?: string;
  room_join?: boolean;
  /** Open the room on first join, or through the room service. */
  room_create?: boolean;
  room_list?: boolean;
  room_admin?: boolean;
  can_publish?: boolean;
  can_subscribe?: boolean;
  /** The sources it may publish; empty or absent means all of them when `can_publish`. */
  can_publish_sources?: TrackSource[];
  /** Never listed to others, never counted; only together with `recorder`. */
  hidden?: boolean;
  /** May record; implies hidden. */
  recorder?: boolean;
}

/** A time as seconds since the Unix epoch, or a Date. */
export type Instant = Date | number;

export interface AccessTokenOptions {
  /** The participant's identity (`sub`); not empty. */
  identity: string;
  /** The display name. */
  name?: string;
  /** Seconds from `toJwt()` until the token expires; 3600 unless given. Not with `expiresAt`. */
  ttl?: number;
  /** When the token expires, instead of `ttl`; may be in the past (to test refusals). */
  expiresAt?: Instant;
  /** When the token becomes valid (`nbf`). */
  notBefore?: Instant;
}

export interface MintTokenOptions extends AccessTokenOptions {
  apiKey: string;
  apiSecret: string;
  grants?: Grants;
}

/** A token's claims, as `verifyToken` returns them. */
export interface Claims {
  /** The API key. */
  iss: string;
  /** The participant's identity. */
  sub: string;
  name?: string;
  /** Expiry, seconds since the Unix epoch. */
  exp: number;
  /** Not valid before, seconds since the Unix epoch. */
  nbf?: number;
  grants?: Grants;
}

export class AccessToken {
  /** Throws when an argument is one the server would refuse (an empty identity, a ttl of 0). */
  constructor(apiKey: string, apiSecret: string, options: AccessTokenOptions);
  /** Add grants to those given before; throws on a grant or source the server does not know. */
  addGrant(grants: Grants): this;
  /** The signed token; throws on `room_join` without `room` or `hidden` without `recorder`. */
  toJwt(): string;
}

/** `new AccessToken(apiKey, apiSecret, options).addGrant(grants).toJwt()` in one call. */
export function mintToken(options: MintTokenOptions): string;

/**
 * The claims of `jwt` once it checks out: HS256, signed with `apiSecret`, not expired, past its
 * `nbf`, with an identity and only known grants. Throws an Error saying what is wrong otherwise.
 */
export function verifyToken(jwt: string, apiSecret: string): Claims;
