// Parley's server-side token helpers: sign the short-lived tokens an app gives its users for
// Parley meetings and the room service, as docs/protocol.md ("Apps: API keys and tokens with
// grants") describes them: HS256 JWTs signed with the API key's secret, `iss` set to the key.
// Node.js 18 or later, no dependencies. This runs on the app's server: the secret must never
// reach a browser.

import { createHmac, timingSafeEqual } from "node:crypto";

const DEFAULT_TTL_SECS = 3600;

// What each grant the server knows holds (`Grants` in proto/src/auth.rs). The server refuses a
// token that carries any other name, so these helpers refuse one before signing it.
const GRANT_KINDS = Object.freeze({
  room: "string",
  room_join: "boolean",
  room_create: "boolean",
  room_list: "boolean",
  room_admin: "boolean",
  can_publish: "boolean",
  can_subscribe: "boolean",
  can_publish_sources: "sources",
  hidden: "boolean",
  recorder: "boolean",
});
const GRANT_NAMES = Object.keys(GRANT_KINDS);
const TRACK_SOURCES = Object.freeze(["microphone", "camera", "screen_share", "screen_share_audio"]);

const TOKEN_OPTIONS = ["identity", "name", "ttl", "expiresAt", "notBefore"];
const MINT_OPTIONS = ["apiKey", "apiSecret", "grants", ...TOKEN_OPTIONS];

/** A value as an error message shows it. */
function shown(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function requireText(value, what) {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string, not ${shown(value)}`);
  if (value === "") throw new Error(`${what} must not be empty`);
}

function refuseUnknownOptions(options, known, what) {
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new TypeError(`unknown ${what} option \`${name}\` (known: ${known.join(", ")})`);
    }
  }
}

const nowSecs = () => Math.floor(Date.now() / 1000);

/** Seconds since the Unix epoch from a Date or from whole seconds, as `exp` and `nbf` hold them. */
function epochSeconds(value, what) {
  let secs = value;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new TypeError(`${what} is an invalid Date`);
    secs = Math.floor(ms / 1000);
  } else if (!Number.isSafeInteger(value)) {
    throw new TypeError(`${what} must be a Date or whole seconds since the Unix epoch, not ${shown(value)}`);
  }
  // The server reads `exp` and `nbf` as unsigned numbers.
  if (secs < 0) throw new Error(`${what} must not be before 1970`);
  return secs;
}

/**
 * A copy of `grants` once every name and value is one the server takes. A grant set to
 * `undefined` is left out, as JSON would leave it out.
 */
function checkGrants(grants) {
  if (!isPlainObject(grants)) {
    throw new TypeError(`grants must be an object such as { room: "standup", room_join: true }, not ${shown(grants)}`);
  }
  const checked = {};
  for (const [name, value] of Object.entries(grants)) {
    if (!Object.hasOwn(GRANT_KINDS, name)) {
      throw new Error(`unknown grant \`${name}\`: the server refuses a token with it (grants: ${GRANT_NAMES.join(", ")})`);
    }
    if (value === undefined) continue;
    const kind = GRANT_KINDS[name];
    if (kind === "sources") {
      if (!Array.isArray(value)) throw new TypeError(`grant \`${name}\` must be an array of sources, not ${shown(value)}`);
      for (const source of value) {
        if (!TRACK_SOURCES.includes(source)) {
          throw new Error(`unknown source ${shown(source)} in \`${name}\` (sources: ${TRACK_SOURCES.join(", ")})`);
        }
      }
      checked[name] = [...value];
    } else {
      if (typeof value !== kind) throw new TypeError(`grant \`${name}\` must be a ${kind}, not ${shown(value)}`);
      checked[name] = value;
    }
  }
  return checked;
}

/** The server lets such a token in nowhere (`insufficient_grant` at `join`); say so before signing. */
function checkCombination(grants) {
  if (grants.room_join && !grants.room) {
    throw new Error("grant `room_join` needs `room`: a token that joins names its room");
  }
  if (grants.hidden && !grants.recorder) {
    throw new Error("grant `hidden` needs `recorder`: only recorders join hidden");
  }
}

const base64url = (text) => Buffer.from(text, "utf8").toString("base64url");
const mac = (signed, secret) => createHmac("sha256", secret).update(signed).digest("base64url");

/** A token with the claims and grants of an app's user, signed on demand with `toJwt()`. */
export class AccessToken {
  #apiKey;
  #apiSecret;
  #identity;
  #name;
  #ttl;
  #expiresAt;
  #notBefore;
  #grants = {};

  constructor(apiKey, apiSecret, options) {
    requireText(apiKey, "apiKey");
    requireText(apiSecret, "apiSecret");
    if (!isPlainObject(options)) {
      throw new TypeError(`options must be an object with at least \`identity\`, not ${shown(options)}`);
    }
    refuseUnknownOptions(options, TOKEN_OPTIONS, "AccessToken");
    const { identity, name, ttl, expiresAt, notBefore } = options;
    if (typeof identity !== "string") throw new TypeError(`identity must be a string, not ${shown(identity)}`);
    // The server refuses a token whose identity is blank, spaces included.
    if (identity.trim() === "") throw new Error("identity must not be empty");
    if (name !== undefined && typeof name !== "string") throw new TypeError(`name must be a string, not ${shown(name)}`);
    if (ttl !== undefined && expiresAt !== undefined) throw new Error("give ttl or expiresAt, not both");
    if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0)) {
      throw new Error(`ttl must be a whole number of seconds greater than 0, not ${shown(ttl)}`);
    }
    this.#apiKey = apiKey;
    this.#apiSecret = apiSecret;
    this.#identity = identity;
    this.#name = name ?? "";
    this.#ttl = ttl ?? DEFAULT_TTL_SECS;
    this.#expiresAt = expiresAt === undefined ? undefined : epochSeconds(expiresAt, "expiresAt");
    this.#notBefore = notBefore === undefined ? undefined : epochSeconds(notBefore, "notBefore");
  }

  /** Add grants to those given before (a name given again takes the new value); returns `this`. */
  addGrant(grants) {
    Object.assign(this.#grants, checkGrants(grants));
    return this;
  }

  /** The signed token. `ttl` counts from now. */
  toJwt() {
    checkCombination(this.#grants);
    const claims = { iss: this.#apiKey, sub: this.#identity };
    // The server reads a missing `name` as empty, so an empty one is left out.
    if (this.#name !== "") claims.name = this.#name;
    claims.exp = this.#expiresAt ?? nowSecs() + this.#ttl;
    if (this.#notBefore !== undefined) claims.nbf = this.#notBefore;
    claims.grants = { ...this.#grants };
    const signed = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(claims))}`;
    return `${signed}.${mac(signed, this.#apiSecret)}`;
  }
}

/** A signed token in one call: `new AccessToken(...).addGrant(grants).toJwt()`. */
export function mintToken(options) {
  if (!isPlainObject(options)) throw new TypeError(`mintToken takes an options object, not ${shown(options)}`);
  refuseUnknownOptions(options, MINT_OPTIONS, "mintToken");
  const { apiKey, apiSecret, grants = {}, ...tokenOptions } = options;
  return new AccessToken(apiKey, apiSecret, tokenOptions).addGrant(grants).toJwt();
}

/** A time in an error message; seconds past what a Date holds are shown as they are. */
function utc(secs) {
  const date = new Date(secs * 1000);
  return Number.isNaN(date.getTime()) ? `${secs} seconds since the Unix epoch` : date.toISOString();
}

function decodePart(part, what) {
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (isPlainObject(value)) return value;
  } catch {
    // Said below, as for any other part that is not a JSON object.
  }
  throw new Error(`not a JWT: its ${what} is not a base64url JSON object`);
}

/**
 * The claims of `jwt` once it checks out as the server would check it, the API key aside: HS256,
 * signed with `apiSecret`, not expired, past its `nbf`, with an identity, and only grants the
 * server knows. Throws an Error saying what is wrong otherwise.
 */
export function verifyToken(jwt, apiSecret) {
  requireText(jwt, "jwt");
  requireText(apiSecret, "apiSecret");
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new Error(`not a JWT: it has ${parts.length} dot-separated parts, not 3`);
  const [head, body, signature] = parts;
  const header = decodePart(head, "header");
  if (header.alg !== "HS256") throw new Error(`token must be signed with HS256, not ${shown(header.alg)}`);
  const expected = Buffer.from(mac(`${head}.${body}`, apiSecret));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Error("token signature does not verify with this secret");
  }
  const claims = decodePart(body, "payload");
  if (typeof claims.iss !== "string" || claims.iss === "") throw new Error("token lacks the `iss` claim (the API key)");
  if (typeof claims.sub !== "string" || claims.sub.trim() === "") throw new Error("token has an empty identity (sub)");
  if (!Number.isSafeInteger(claims.exp)) throw new Error("token lacks the `exp` claim in whole seconds");
  const now = nowSecs();
  if (now >= claims.exp) throw new Error(`token has expired (at ${utc(claims.exp)})`);
  if (claims.nbf !== undefined) {
    if (!Number.isSafeInteger(claims.nbf)) throw new Error("token's `nbf` claim is not whole seconds");
    if (now < claims.nbf) throw new Error(`token is not valid yet (nbf ${utc(claims.nbf)})`);
  }
  checkGrants(claims.grants ?? {});
  return claims;
}
