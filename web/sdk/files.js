// Parley's JavaScript SDK, files: resumable uploads over tus 1.0 (`/v1/uploads`) with `fetch`,
// and the REST calls around them (a file's description, its bytes). Re-exported by `parley.js`;
// apps usually reach it through `ParleyClient`:
//
//   const upload = client.upload(file, { channel, onProgress: (p) => bar(p.sent / p.total) });
//   const sent = await upload.promise; // the file's JSON
//   await client.send(channel, "the report", { attachments: [sent.id] });
//
// An upload goes in chunks, one `PATCH` each. A network error, a busy upload (`423`) or a server
// error is retried with backoff: the SDK asks the server where the upload stands (`HEAD`) and
// goes on from there, so nothing the server has is sent twice. `fetch` cannot report progress
// within a request, so progress comes once per chunk.

import { ParleyError, backoff, resolveToken } from "./common.js";

const TUS_VERSION = "1.0.0";

/**
 * A file as the server describes it (`GET /v1/files/{id}`).
 * @typedef {object} ParleyFile
 * @property {number} id
 * @property {string} name
 * @property {number} size
 * @property {string} mime Read from the bytes, never from the name.
 * @property {string} sha256 The current version's content, in hex.
 * @property {number} version
 * @property {number} owner
 * @property {number} created_at
 * @property {number} updated_at
 * @property {number} [folder] On a file of the library.
 * @property {number} [channel] On an attachment: the channel it was uploaded for.
 * @property {number} [message] On an attachment once sent.
 * @property {boolean} [thumbnail] An image with thumbnails.
 * @property {number} [locked_by]
 * @property {number} [locked_until]
 * @property {number} [deleted_at]
 */

/**
 * How far an upload is: reported after it was created, after each chunk, and after asking the
 * server where it stands.
 * @typedef {object} UploadProgress
 * @property {"progress"} type
 * @property {number} sent Bytes the server has.
 * @property {number} total The file's size.
 * @property {string | null} url The upload's URL: keep it to resume after a reload
 *   (`resumeFrom`).
 */

/** @typedef {"uploading" | "paused" | "done" | "failed" | "aborted"} UploadState */

/**
 * @typedef {object} UploadOptions
 * @property {string} [name] The file's name (default: the `File`'s own; a `Blob` needs one).
 * @property {number} [channel] Upload it as an attachment for this channel, to send with
 *   `send(channel, body, {attachments})`.
 * @property {number} [folder] Upload it to this folder of the library (default, with no
 *   `channel` either: the caller's own root folder).
 * @property {string} [comment] Said of the version (shown in the file's versions).
 * @property {number} [chunkSize] Bytes per `PATCH` (default 8 MiB). Progress is reported once
 *   per chunk.
 * @property {(progress: UploadProgress) => void} [onProgress]
 * @property {AbortSignal} [signal] Aborting it aborts the upload (as `abort()`).
 * @property {string} [resumeFrom] The URL of an upload started earlier (e.g. before a page
 *   reload) of the same bytes: it goes on from where the server stands.
 * @property {number} [maxRetries] Failed tries in a row before the upload fails (default 5).
 * @property {number} [minBackoffMs] The first retry delay (default 500).
 * @property {number} [maxBackoffMs] The longest retry delay (default 8000).
 */

/**
 * Where and as whom REST requests go: what `ParleyClient` passes on.
 * @typedef {object} RestTarget
 * @property {string} url The server's base URL.
 * @property {string | (() => string | Promise<string>)} token
 * @property {typeof fetch} [fetch] The fetch function (default: the global one).
 */

/**
 * One REST request as the token's user. A token function is asked once more when the server
 * says the token expired. Resolves with a `2xx` response; rejects with a `ParleyError` naming
 * the server's code (with `status` and `retryAfter`), or `connection_lost` when no answer came
 * (the network failed, or the browser refused a cross-origin request), or with the `AbortError`
 * of a request cancelled by its `signal`.
 * @param {RestTarget} target
 * @param {string} method
 * @param {string} path A path on the base URL, or a whole URL.
 * @param {{headers?: Record<string, string>, body?: BodyInit, signal?: AbortSignal}} [init]
 * @returns {Promise<Response>}
 */
export async function rest(target, method, path, init = {}) {
  const doFetch = target.fetch || globalThis.fetch.bind(globalThis);
  const url = new URL(path, target.url).toString();
  for (let renewed = false; ; renewed = true) {
    const token = await resolveToken(target.token);
    let response;
    try {
      response = await doFetch(url, {
        method,
        body: init.body,
        signal: init.signal,
        headers: { ...init.headers, authorization: `Bearer ${token}` },
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new ParleyError("connection_lost", `${method} ${url} got no answer: ${err}`);
    }
    if (response.ok) return response;
    const error = await errorOf(response);
    if (error.code === "token_expired" && typeof target.token === "function" && !renewed) continue;
    throw error;
  }
}

/** The `ParleyError` an error answer carries (`{"error": {"code", "message"}}`). */
async function errorOf(response) {
  let body = null;
  try {
    body = (await response.json()).error;
  } catch {}
  const header = Number(response.headers.get("retry-after"));
  const retryAfter = body?.retry_after ?? (header > 0 ? header : null);
  return new ParleyError(body?.code || `http_${response.status}`, body?.message || response.statusText, {
    status: response.status,
    retryAfter,
  });
}

/**
 * A file's description.
 * @param {RestTarget} target
 * @param {number} id
 * @returns {Promise<ParleyFile>}
 */
export async function getFile(target, id) {
  return (await rest(target, "GET", `/v1/files/${id}`)).json();
}

/**
 * A file's bytes (the current version, or `version`).
 * @param {RestTarget} target
 * @param {number} id
 * @param {{version?: number, signal?: AbortSignal}} [options]
 * @returns {Promise<Blob>}
 */
export async function downloadFile(target, id, options = {}) {
  const query = options.version !== undefined ? `?version=${options.version}` : "";
  return (await rest(target, "GET", `/v1/files/${id}/content${query}`, { signal: options.signal })).blob();
}

/** Base64 of a string's UTF-8 bytes, as `Upload-Metadata` values are. @param {string} text */
function base64Utf8(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Whether trying again may help: no answer came (`connection_lost`), the server was busy or
 * failed, or the upload stands elsewhere than we thought (`409 upload_offset_mismatch`).
 * @param {unknown} err
 */
function retryable(err) {
  if (!(err instanceof ParleyError)) return false;
  if (err.code === "connection_lost") return true;
  return err.status !== null && (err.status >= 500 || [408, 409, 423, 429].includes(err.status));
}

/** The browser says it has no network (a failed request then waits for it to come back). */
function offline() {
  return typeof navigator !== "undefined" && navigator.onLine === false;
}

/**
 * A resumable upload of a `Blob` (or `File`): started by `ParleyClient.upload()` (or `new
 * Upload(target, blob, options).start()`). `promise` resolves with the file once the last
 * chunk is in; `pause()`, `resume()` and `abort()` control it meanwhile.
 */
export class Upload {
  /**
   * @param {RestTarget} target
   * @param {Blob} blob
   * @param {UploadOptions} [options]
   */
  constructor(target, blob, options = {}) {
    const name = options.name ?? (typeof File !== "undefined" && blob instanceof File ? blob.name : undefined);
    if (!name) throw new TypeError("upload() needs a name for a Blob: { name }");
    if (options.chunkSize !== undefined && !(options.chunkSize >= 1)) throw new TypeError("chunkSize must be at least 1");
    this.target = target;
    this.blob = blob;
    this.name = name;
    this.options = { chunkSize: 8 * 1024 * 1024, maxRetries: 5, minBackoffMs: 500, maxBackoffMs: 8000, ...options };
    /** @type {UploadState} */
    this.state = "paused";
    /** Bytes the server has, as it last said. */
    this.sent = 0;
    /** The file's size. */
    this.total = blob.size;
    /**
     * The upload's URL once created (or `resumeFrom`): keep it to resume after a reload.
     * @type {string | null}
     */
    this.url = options.resumeFrom ? new URL(options.resumeFrom, target.url).toString() : null;
    /** The file's id once the last byte is in. @type {number | null} */
    this.fileId = null;
    /** The file, once done. @type {ParleyFile | null} */
    this.file = null;
    /** Why it failed or was aborted. @type {ParleyError | null} */
    this.error = null;
    /** Bumped by pause and abort: a loop started before gives up. */
    this.generation = 0;
    /** @type {AbortController | null} */
    this.controller = null;
    /** Wakes a retry delay early (pause, abort, the browser back online). @type {(() => void) | null} */
    this.wake = null;
    /** @type {(file: ParleyFile) => void} */
    let resolve;
    /** @type {(error: ParleyError) => void} */
    let reject;
    /** Resolves with the file once the upload is complete; rejects if it fails or is aborted. @type {Promise<ParleyFile>} */
    this.promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be listening yet; a rejection unheard is still the app's to see in `error`.
    this.promise.catch(() => {});
    this.settle = { resolve, reject };
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => this.abort().catch(() => {}));
      else options.signal.addEventListener("abort", () => this.abort().catch(() => {}), { once: true });
    }
  }

  /** Start (or go on): the same as `resume()`. @returns {this} */
  start() {
    this.resume();
    return this;
  }

  /** Stop sending: the request in flight is cancelled. `resume()` goes on from the server's offset. */
  pause() {
    if (this.state !== "uploading") return;
    this.generation += 1;
    this.state = "paused";
    this.controller?.abort();
    this.wake?.();
  }

  /** Go on after `pause()`: the SDK asks the server where the upload stands, and sends the rest. */
  resume() {
    if (this.state !== "paused") return;
    this.generation += 1;
    this.state = "uploading";
    this.run(this.generation);
  }

  /**
   * Give up: the request in flight is cancelled, the server removes the upload and its bytes
   * (`DELETE`), and `promise` rejects with code `aborted`. Resolves once the server was told;
   * rejects if it could not be. Nothing happens to an upload already done.
   * @returns {Promise<void>}
   */
  async abort() {
    if (this.state === "done" || this.state === "aborted") return;
    this.generation += 1;
    this.state = "aborted";
    this.controller?.abort();
    this.wake?.();
    this.error = new ParleyError("aborted", "the upload was aborted");
    this.settle.reject(this.error);
    if (this.url) await this.terminate();
  }

  /**
   * Remove the upload from the server. A request cancelled here may still be writing there
   * (`423`): the removal waits for it. Should that request have completed the file, the file
   * goes to the trash instead.
   */
  async terminate() {
    for (let attempt = 1; ; attempt++) {
      try {
        const head = await this.tus("HEAD", this.url, {}, undefined, null);
        const id = head.headers.get("parley-file-id");
        if (id) {
          await rest(this.target, "DELETE", `/v1/files/${id}`);
          return;
        }
        await this.tus("DELETE", this.url, {}, undefined, null);
        return;
      } catch (err) {
        if (err instanceof ParleyError && err.status === 404) return;
        if (!retryable(err) || attempt > this.options.maxRetries) throw err;
        await this.sleep(this.delay(err, attempt), null);
      }
    }
  }

  /** @param {number} generation */
  async run(generation) {
    const live = () => this.generation === generation && this.state === "uploading";
    // Where the server stands is asked first when resuming, whatever happened before.
    let locate = this.url !== null;
    // Failed tries since bytes last went in: asking where the upload stands is no progress.
    let failures = 0;
    while (live()) {
      const patching = this.fileId === null && this.url !== null && !locate;
      try {
        if (this.fileId !== null) {
          const file = await getFile(this.target, this.fileId);
          if (!live()) return;
          this.done(file);
          return;
        }
        if (!this.url) {
          await this.create(generation);
          failures = 0;
        } else if (locate) {
          await this.locate(generation);
          locate = false;
        } else {
          await this.patch(generation);
          failures = 0;
        }
      } catch (err) {
        if (!live()) return;
        // While the browser is offline, a failed request waits for the network without using
        // up a try.
        if (err instanceof ParleyError && err.code === "connection_lost" && offline()) {
          await this.sleep(this.options.maxBackoffMs, generation);
          locate = this.url !== null;
          continue;
        }
        failures += 1;
        // An upload the server no longer knows (expired) is asked after, then started over.
        const gone = patching && err instanceof ParleyError && err.status === 404;
        if (!(retryable(err) || gone) || failures > this.options.maxRetries) {
          this.fail(err);
          return;
        }
        locate = this.url !== null;
        // An offset mismatch or a vanished upload needs no wait: the server says at once.
        const mismatch = err instanceof ParleyError && err.code === "upload_offset_mismatch";
        if (!mismatch && !gone) await this.sleep(this.delay(err, failures), generation);
      }
    }
  }

  /** `POST /v1/uploads`: a new upload for the whole blob. @param {number} generation */
  async create(generation) {
    const meta = [`filename ${base64Utf8(this.name)}`];
    const { channel, folder, comment } = this.options;
    for (const [key, value] of Object.entries({ channel, folder, comment })) {
      if (value !== undefined && value !== null) meta.push(`${key} ${base64Utf8(String(value))}`);
    }
    const response = await this.tus("POST", "/v1/uploads", {
      "upload-length": String(this.total),
      "upload-metadata": meta.join(","),
    }, undefined, generation);
    const location = response.headers.get("location");
    if (!location) throw new ParleyError("internal", "the server created an upload without a Location");
    this.url = new URL(location, this.target.url).toString();
    this.took(response, 0, generation);
  }

  /**
   * `HEAD`: where the server's copy stands. One that vanished (expired, or removed) starts over
   * from the first byte; one of another size is not this blob's.
   * @param {number} generation
   */
  async locate(generation) {
    let response;
    try {
      response = await this.tus("HEAD", this.url, {}, undefined, generation);
    } catch (err) {
      if (!(err instanceof ParleyError) || err.status !== 404) throw err;
      this.url = null;
      this.sent = 0;
      return;
    }
    const length = Number(response.headers.get("upload-length"));
    if (response.headers.has("upload-length") && length !== this.total) {
      throw new ParleyError("invalid_input", `the upload at ${this.url} is ${length} bytes long, this blob ${this.total}`);
    }
    this.took(response, this.sent, generation);
  }

  /** `PATCH`: the next chunk from where the server stands. @param {number} generation */
  async patch(generation) {
    const end = Math.min(this.total, this.sent + this.options.chunkSize);
    const response = await this.tus("PATCH", this.url, {
      "upload-offset": String(this.sent),
      "content-type": "application/offset+octet-stream",
    }, this.blob.slice(this.sent, end), generation);
    this.took(response, end, generation);
  }

  /**
   * What an answer says: the offset, and the file once the server made it.
   * @param {Response} response @param {number} fallback @param {number} generation
   */
  took(response, fallback, generation) {
    const offset = response.headers.get("upload-offset");
    this.sent = offset !== null ? Number(offset) : fallback;
    const id = response.headers.get("parley-file-id");
    if (id) {
      this.fileId = Number(id);
      this.sent = this.total;
    }
    if (this.generation !== generation) return;
    const report = this.options.onProgress;
    if (report) {
      try {
        report({ type: "progress", sent: this.sent, total: this.total, url: this.url });
      } catch (err) {
        // The app's fault: report it without breaking the upload.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  /** @param {ParleyFile} file */
  done(file) {
    this.file = file;
    this.state = "done";
    this.settle.resolve(file);
  }

  /** @param {unknown} err */
  fail(err) {
    this.state = "failed";
    if (!(err instanceof ParleyError)) {
      this.error = new ParleyError("internal", `the upload failed: ${err}`);
    } else if (err.code === "connection_lost") {
      this.error = new ParleyError("connection_lost", `the upload failed ${this.options.maxRetries + 1} times in a row: ${err.message}`);
    } else {
      this.error = err;
    }
    this.settle.reject(this.error);
  }

  /**
   * How long to wait before try `attempt`: what the server asked for, or a backoff.
   * @param {unknown} err @param {number} attempt
   */
  delay(err, attempt) {
    if (err instanceof ParleyError && err.retryAfter) return err.retryAfter * 1000;
    return backoff(attempt, this.options.minBackoffMs, this.options.maxBackoffMs);
  }

  /**
   * Wait `ms`, or less: `pause()` and `abort()` end the wait, and so does the browser coming
   * back online.
   * @param {number} ms @param {number | null} generation
   * @returns {Promise<void>}
   */
  sleep(ms, generation) {
    if (generation !== null && this.generation !== generation) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        if (typeof window !== "undefined") window.removeEventListener("online", finish);
        if (this.wake === finish) this.wake = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      if (typeof window !== "undefined") window.addEventListener("online", finish);
      this.wake = finish;
    });
  }

  /**
   * One tus request, cancelled by `pause()` and `abort()` (unless `generation` is `null`: the
   * termination's own requests).
   * @param {string} method @param {string} url @param {Record<string, string>} headers
   * @param {Blob | undefined} body @param {number | null} generation
   * @returns {Promise<Response>}
   */
  tus(method, url, headers, body, generation) {
    const controller = new AbortController();
    if (generation !== null) this.controller = controller;
    return rest(this.target, method, url, {
      headers: { ...headers, "tus-resumable": TUS_VERSION },
      body,
      signal: controller.signal,
    });
  }
}
