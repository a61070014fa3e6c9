// What the SDK's parts share: the error they reject with, their listeners, the
// WebSocket URL on the server's base URL, token functions and the reconnect backoff.

/** An `error` reply, a fatal `closing`, or a request the SDK gave up on. */
export class ParleyError extends Error {
  /**
   * @param {string} code The protocol's stable code (`not_member`, `forbidden`, ...), or
   *   `connection_lost` / `closed` from the SDK itself.
   * @param {string} message
   * @param {{status?: number | null, retryAfter?: number | null}} [http] For a REST answer:
   *   its HTTP status, and the seconds after which a retry may succeed.
   */
  constructor(code, message, http = {}) {
    super(message);
    this.name = "ParleyError";
    /** The event type, for `*` listeners. */
    this.type = "error";
    this.code = code;
    /** The HTTP status of a REST answer; `null` on the WebSockets and for the SDK's own. */
    this.status = http.status ?? null;
    /** Seconds until a retry may succeed, when the server said (`retry_after`). */
    this.retryAfter = http.retryAfter ?? null;
  }
}

/** Listeners by event type; `*` hears everything. A listener that throws breaks nothing. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(event: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * @param {string} type
   * @param {(event: any) => void} fn
   * @returns {() => void} A function that removes the listener.
   */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  /** @param {string} type @param {(event: any) => void} fn */
  off(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }

  /** @param {string} type @param {any} event */
  emit(type, event) {
    const fns = [...(this.listeners.get(type) || []), ...(this.listeners.get("*") || [])];
    for (const fn of fns) {
      try {
        fn(event);
      } catch (err) {
        // A listener's fault is the app's: report it without breaking the client.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}

/** The WebSocket URL of `path` on the server's base URL (`wss:` for `https:`). */
export function wsUrl(base, path) {
  const url = new URL(path, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/** The token itself, or what a token function gives (it may return a promise). */
export async function resolveToken(token) {
  return typeof token === "function" ? token() : token;
}

/** The delay before reconnect attempt `attempt` (1, 2, ...): exponential, capped, with jitter. */
export function backoff(attempt, minMs, maxMs) {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 10));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
