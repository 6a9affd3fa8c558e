// Connection quality as the browser measures it, for the `quality` message
// (docs/signaling.md): round-trip time, packet loss and jitter, from getStats().
//
//   rtt_ms       the selected ICE candidate pair's currentRoundTripTime (mean over the
//                peer connections that have one)
//   packet_loss  0..1: packets lost ÷ (lost + received) over the inbound RTP streams since the
//                previous measurement (since the start for the first one); a connection that
//                receives nothing (you are alone, or publish only) uses the server's reports
//                of what it lost of ours (remote-inbound-rtp fractionLost)
//   jitter_ms    the mean jitter of those same streams
// A field the browser cannot measure yet is left out. `QualityReporter` sends one every 10 s
// while joined; `rtpCounters` is the RTP side of getStats() for debugging (window.aula.stats()).

// The server takes `quality` at most every 10 s: a little over, so timer drift never makes it early.
const QUALITY_INTERVAL_MS = 10_050;

/**
 * @param {RTCPeerConnection[]} connections subscriber first, then publisher
 * @param {object|null} previous the `sample` the last call returned
 * @returns {Promise<{report: object, sample: object}>}
 */
export async function measureQuality(connections, previous = null) {
  const rtts = [];
  const jitters = [];
  let lost = 0;
  let received = 0;
  const remoteLoss = [];
  const remoteJitters = [];
  const sample = { counters: new Map() };

  for (const pc of connections) {
    let report;
    try {
      report = await pc.getStats();
    } catch {
      continue; // closed meanwhile
    }
    const pair = selectedPair(report);
    if (pair && typeof pair.currentRoundTripTime === "number") rtts.push(pair.currentRoundTripTime * 1000);

    const before = previous?.counters.get(pc) ?? new Map();
    const now = new Map();
    report.forEach((stat) => {
      if (stat.type === "inbound-rtp") {
        const counts = { lost: Math.max(0, stat.packetsLost ?? 0), received: stat.packetsReceived ?? 0 };
        now.set(stat.id, counts);
        if (!counts.received) return;
        const last = before.get(stat.id) ?? { lost: 0, received: 0 };
        lost += Math.max(0, counts.lost - last.lost);
        received += Math.max(0, counts.received - last.received);
        if (typeof stat.jitter === "number") jitters.push(stat.jitter * 1000);
      } else if (stat.type === "remote-inbound-rtp") {
        if (typeof stat.fractionLost === "number") remoteLoss.push(stat.fractionLost);
        if (typeof stat.jitter === "number") remoteJitters.push(stat.jitter * 1000);
      }
    });
    sample.counters.set(pc, now);
  }

  const result = {};
  if (rtts.length) result.rtt_ms = round(mean(rtts), 1);
  if (lost + received > 0) result.packet_loss = round(clamp01(lost / (lost + received)), 4);
  else if (remoteLoss.length) result.packet_loss = round(clamp01(mean(remoteLoss)), 4);
  if (jitters.length) result.jitter_ms = round(mean(jitters), 1);
  else if (remoteJitters.length) result.jitter_ms = round(mean(remoteJitters), 1);
  return { report: result, sample };
}

/** The candidate pair ICE is using: the transport's selected one, else a nominated succeeded one. */
function selectedPair(report) {
  let pair = null;
  report.forEach((stat) => {
    if (pair || stat.type !== "transport" || !stat.selectedCandidatePairId) return;
    pair = report.get(stat.selectedCandidatePairId) ?? null;
  });
  if (pair) return pair;
  report.forEach((stat) => {
    if (!pair && stat.type === "candidate-pair" && stat.state === "succeeded" && stat.nominated) pair = stat;
  });
  return pair;
}

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
const clamp01 = (value) => Math.min(1, Math.max(0, value));
const round = (value, digits) => Number(value.toFixed(digits));

/** Sends `quality` every QUALITY_INTERVAL_MS from `start()` to `stop()`, while `active()`. */
export class QualityReporter {
  /**
   * @param {object} options
   * @param {() => RTCPeerConnection[]} options.connections the peer connections now, subscriber first
   * @param {() => boolean} options.active whether to measure now (joined)
   * @param {(message: object) => void} options.send to the server
   */
  constructor({ connections, active, send }) {
    this._connections = connections;
    this._active = active;
    this._send = send;
    this._timer = null;
    this._previous = null;
  }

  start() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._report(), QUALITY_INTERVAL_MS);
  }

  stop() {
    clearTimeout(this._timer);
    this._timer = null;
  }

  async _report() {
    try {
      const connections = this._connections();
      if (this._active() && connections.length) {
        const { report, sample } = await measureQuality(connections, this._previous);
        this._previous = sample;
        if (Object.keys(report).length) this._send({ type: "quality", ...report });
      }
    } catch (error) {
      console.warn("aula: could not measure connection quality", error);
    } finally {
      if (this._timer !== null) this.start();
    }
  }
}

/** The `type` ("outbound-rtp" or "inbound-rtp") RTP counters of a peer connection, for debugging. */
export async function rtpCounters(pc, type) {
  if (!pc) return [];
  const report = await pc.getStats();
  const rows = [];
  report.forEach((s) => {
    if (s.type !== type) return;
    rows.push({
      mid: s.mid,
      kind: s.kind,
      codec: report.get(s.codecId)?.mimeType ?? null,
      packets: s.packetsSent ?? s.packetsReceived,
      bytes: s.bytesSent ?? s.bytesReceived,
      frames: s.framesEncoded ?? s.framesDecoded,
      keyFrames: s.keyFramesEncoded ?? s.keyFramesDecoded,
      pli: s.pliCount,
      nack: s.nackCount,
      packetsLost: s.packetsLost,
    });
  });
  return rows;
}
