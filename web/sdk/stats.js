// Parley's JavaScript SDK, `room.getStats()`: the browser's WebRTC statistics of both peer
// connections, summed up per track (bitrate, loss, round trip, codec, simulcast layer) beside
// the raw reports.

/** @typedef {import("./media.js").VideoQuality} VideoQuality */
/** @typedef {import("./media.js").TrackSource} TrackSource */

/**
 * One track's numbers, as `room.getStats()` gives them.
 * @typedef {object} TrackStats
 * @property {string} sid The track's sid.
 * @property {"outbound" | "inbound"} direction `outbound` for this client's own tracks.
 * @property {"audio" | "video"} kind
 * @property {TrackSource} source
 * @property {string} participant The publisher's participant sid (`""` for a bridge's slots).
 * @property {string | null} codec e.g. `opus`, `VP8`.
 * @property {number} bitrate Bits per second of media, over the interval since the previous
 *   `getStats()` (the first call measures over half a second).
 * @property {number} packets Packets sent or received so far.
 * @property {number} packetsLost Packets lost so far: as this client counted them (inbound),
 *   or as the server reported them (outbound).
 * @property {number} packetLoss The fraction lost over the interval, 0 to 1.
 * @property {number | null} rtt The round trip to the server, in ms.
 * @property {number | null} jitter In ms.
 * @property {VideoQuality | null} layer The simulcast layer: the highest one being sent
 *   (outbound), or the one the server forwards (inbound); `null` without simulcast.
 * @property {{quality: VideoQuality, rid: string, bitrate: number, width: number | null, height: number | null, active: boolean}[]} layers
 *   Outbound simulcast: each encoding; empty otherwise.
 * @property {number | null} width Video only: the frame size sent (the highest layer) or received.
 * @property {number | null} height
 * @property {number | null} framesPerSecond
 */

/**
 * @typedef {object} RoomStats
 * @property {number} timestamp When it was measured (ms since the epoch).
 * @property {TrackStats[]} tracks Own tracks first, then those received.
 * @property {RTCStatsReport | null} publisher The publisher connection's raw report.
 * @property {RTCStatsReport | null} subscriber The subscriber connection's raw report.
 */

/** The protocol's names of the three simulcast layers, by rid. */
const RID_QUALITY = /** @type {Record<string, VideoQuality>} */ ({ q: "low", h: "medium", f: "high" });

/**
 * What a track needs to be found in the reports.
 * @typedef {object} TrackKey
 * @property {string} sid
 * @property {"audio" | "video"} kind
 * @property {TrackSource} source
 * @property {string} participant
 * @property {string | null} mid
 * @property {string | null} trackId The MediaStreamTrack's id.
 * @property {VideoQuality | null} [quality] Inbound: the layer the server said it forwards.
 * @property {boolean} [simulcast] Inbound: the publication has layers.
 */

/** Per-stat counters of the previous sample, to measure rates between two calls. */
export class StatsHistory {
  constructor() {
    /** @type {Map<string, {bytes: number, packets: number, lost: number, at: number}>} */
    this.previous = new Map();
    this.sampledAt = 0;
  }

  /** Whether a sample recent enough to measure rates against exists. */
  get fresh() {
    return this.previous.size > 0 && Date.now() - this.sampledAt < 10000;
  }

  /** @param {string} key @param {number} bytes @param {number} packets @param {number} lost @param {number} at */
  rate(key, bytes, packets, lost, at) {
    const before = this.previous.get(key);
    this.previous.set(key, { bytes, packets, lost, at });
    if (!before || at <= before.at) return { bitrate: 0, packets: 0, lost: 0 };
    return {
      bitrate: Math.max(0, ((bytes - before.bytes) * 8 * 1000) / (at - before.at)),
      packets: Math.max(0, packets - before.packets),
      lost: Math.max(0, lost - before.lost),
    };
  }
}

/** @param {RTCStatsReport} report @returns {any[]} */
function all(report) {
  return [...report.values()];
}

/** The codec's name (`opus`, `VP8`) of a stat, or `null`. @param {RTCStatsReport} report @param {any} stat */
function codecOf(report, stat) {
  const codec = stat.codecId ? report.get(stat.codecId) : null;
  return codec?.mimeType ? codec.mimeType.split("/")[1] : null;
}

/** The selected candidate pair's round trip (ms), or `null`. @param {RTCStatsReport} report */
function transportRtt(report) {
  const transport = all(report).find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = transport
    ? report.get(transport.selectedCandidatePairId)
    : all(report).find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
  return typeof pair?.currentRoundTripTime === "number" ? pair.currentRoundTripTime * 1000 : null;
}

/**
 * The stat of `type` for a track: by its m-line (`mid`), or by the browser track's id.
 * @param {RTCStatsReport} report @param {string} type @param {TrackKey} key
 */
function statsFor(report, type, key) {
  return all(report).filter((s) => {
    if (s.type !== type) return false;
    if (key.mid !== null && s.mid !== undefined) return s.mid === key.mid;
    if (type === "inbound-rtp") return s.trackIdentifier === key.trackId;
    const source = s.mediaSourceId ? report.get(s.mediaSourceId) : null;
    return source?.trackIdentifier === key.trackId;
  });
}

/**
 * Sum up own tracks from the publisher's report.
 * @param {RTCStatsReport} report @param {TrackKey[]} keys @param {StatsHistory} history
 * @returns {TrackStats[]}
 */
export function outboundStats(report, keys, history) {
  const rtt = transportRtt(report);
  return keys.map((key) => {
    const encodings = statsFor(report, "outbound-rtp", key);
    let bitrate = 0;
    let packets = 0;
    let packetsLost = 0;
    let lossSum = 0;
    let lossCount = 0;
    /** @type {number[]} */
    const rtts = [];
    const layers = [];
    for (const s of encodings) {
      const remote = all(report).find((r) => r.type === "remote-inbound-rtp" && r.localId === s.id);
      const rate = history.rate(`pub:${s.id}`, s.bytesSent || 0, s.packetsSent || 0, remote?.packetsLost || 0, s.timestamp);
      bitrate += rate.bitrate;
      packets += s.packetsSent || 0;
      if (remote) {
        packetsLost += Math.max(0, remote.packetsLost || 0);
        if (typeof remote.fractionLost === "number") {
          lossSum += remote.fractionLost;
          lossCount += 1;
        }
        if (typeof remote.roundTripTime === "number") rtts.push(remote.roundTripTime * 1000);
      }
      if (s.rid && RID_QUALITY[s.rid]) {
        layers.push({
          quality: RID_QUALITY[s.rid], rid: s.rid, bitrate: rate.bitrate,
          width: s.frameWidth ?? null, height: s.frameHeight ?? null, active: s.active !== false,
        });
      }
    }
    const order = ["q", "h", "f"];
    layers.sort((a, b) => order.indexOf(a.rid) - order.indexOf(b.rid));
    const sending = layers.filter((l) => l.active && l.bitrate > 0);
    const top = sending.at(-1) || null;
    const topStat = top ? encodings.find((s) => s.rid === top.rid) : encodings[0];
    return {
      sid: key.sid, direction: /** @type {const} */ ("outbound"), kind: key.kind, source: key.source,
      participant: key.participant, codec: encodings.length ? codecOf(report, encodings[0]) : null,
      bitrate: Math.round(bitrate), packets, packetsLost,
      packetLoss: lossCount ? lossSum / lossCount : 0,
      rtt: rtts.length ? rtts.reduce((a, b) => a + b) / rtts.length : rtt,
      jitter: null,
      layer: layers.length ? (top?.quality ?? null) : null,
      layers,
      ...frameOf(key.kind, topStat),
    };
  });
}

/**
 * Sum up received tracks from the subscriber's report.
 * @param {RTCStatsReport} report @param {TrackKey[]} keys @param {StatsHistory} history
 * @returns {TrackStats[]}
 */
export function inboundStats(report, keys, history) {
  const rtt = transportRtt(report);
  const result = [];
  for (const key of keys) {
    // A receiver may have counted a stream before its SSRC was signalled: the live one is the
    // browser track's, and the one with the most packets.
    const candidates = statsFor(report, "inbound-rtp", key);
    const own = candidates.filter((c) => c.trackIdentifier === key.trackId);
    const s = (own.length ? own : candidates).reduce((best, c) => (!best || (c.packetsReceived || 0) > (best.packetsReceived || 0) ? c : best), null);
    if (!s) continue;
    const lost = Math.max(0, s.packetsLost || 0);
    const rate = history.rate(`sub:${s.id}`, s.bytesReceived || 0, s.packetsReceived || 0, lost, s.timestamp);
    const expected = rate.packets + rate.lost;
    result.push({
      sid: key.sid, direction: /** @type {const} */ ("inbound"), kind: key.kind, source: key.source,
      participant: key.participant, codec: codecOf(report, s), bitrate: Math.round(rate.bitrate),
      packets: s.packetsReceived || 0, packetsLost: lost,
      packetLoss: expected ? rate.lost / expected : 0,
      rtt,
      jitter: typeof s.jitter === "number" ? s.jitter * 1000 : null,
      layer: key.simulcast ? (key.quality ?? null) : null,
      layers: [],
      ...frameOf(key.kind, s),
    });
  }
  return result;
}

/** @param {"audio" | "video"} kind @param {any} s */
function frameOf(kind, s) {
  if (kind !== "video" || !s) return { width: null, height: null, framesPerSecond: null };
  return { width: s.frameWidth ?? null, height: s.frameHeight ?? null, framesPerSecond: s.framesPerSecond ?? null };
}
