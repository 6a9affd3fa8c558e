// The subscriber RTCPeerConnection: everybody else's tracks, server → this page.
//
// The server always offers on this connection. Each `offer` (target "subscriber") carries
// `tracks: [{mid, sid, identity, source, kind}]`, the whole list of what this page now
// receives. After applying it we walk the transceivers and hand the caller one *route* per
// m-line: which participant's which source arrives on which MediaStreamTrack. Working from
// the full list every time (rather than from `ontrack` events alone) keeps the page right
// when the server reuses or retires m-lines.

import { candidateToWire, waitForIceGathering, watchConnection } from "./rtc_util.js";

/**
 * @typedef {{mid: string, sid: string, identity: string, source: string, kind: string,
 *            enabled: boolean, track: MediaStreamTrack}} Route
 */

export class Subscriber {
  /**
   * @param {object} options
   * @param {import("./signaling.js").SignalingClient} options.signaling
   * @param {RTCIceServer[]} options.iceServers
   * @param {(routes: Route[]) => void} options.onRoutes called after each applied offer
   * @param {(reason: string) => void} options.onBroken called when the connection is lost
   */
  constructor({ signaling, iceServers, onRoutes, onBroken }) {
    this._signaling = signaling;
    this._onRoutes = onRoutes;
    this._onBroken = onBroken;
    this.pc = new RTCPeerConnection({ iceServers: iceServers ?? [] });
    /** @type {Route[]} */ this.routes = [];
    this._queue = Promise.resolve();
    this._answerSent = false;
    this._closed = false;

    this.pc.addEventListener("icecandidate", (event) => {
      if (!this._answerSent) return; // travels inside the answer's SDP
      signaling.send({ type: "candidate", target: "subscriber", candidate: candidateToWire(event.candidate) });
    });
    this._stopWatching = watchConnection(this.pc, (state) => onBroken(`subscriber ${state}`));
  }

  /** The server's `offer`; answered in arrival order. Resolves when answered. */
  handleOffer(message) {
    this._queue = this._queue
      .then(() => this._answer(message))
      .catch((error) => {
        // Unanswered, the server would wait for this answer forever: start afresh.
        console.error("aula: could not answer the subscriber offer", error);
        this._onBroken(`subscriber offer failed: ${error.message}`);
      });
    return this._queue;
  }

  async _answer(message) {
    if (this._closed) return;
    await this.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    this._route(message.tracks ?? []);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await waitForIceGathering(this.pc, 1000);
    if (this._closed) return;
    this._signaling.send({ type: "answer", target: "subscriber", sdp: this.pc.localDescription.sdp });
    this._answerSent = true;
  }

  _route(tracks) {
    const byMid = new Map(tracks.map((t) => [String(t.mid), t]));
    const routes = [];
    for (const transceiver of this.pc.getTransceivers()) {
      const info = transceiver.mid == null ? null : byMid.get(transceiver.mid);
      if (!info || transceiver.stopped) continue;
      routes.push({
        mid: transceiver.mid,
        sid: info.sid,
        identity: info.identity,
        source: info.source,
        kind: info.kind ?? transceiver.receiver.track.kind,
        enabled: info.enabled ?? true,
        track: transceiver.receiver.track,
      });
    }
    this.routes = routes;
    this._onRoutes(routes);
  }

  async addRemoteCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate ?? undefined);
    } catch (error) {
      console.warn("aula: subscriber could not add a remote candidate", error);
    }
  }

  /** Close the connection and forget the routes. Safe to call twice. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._stopWatching();
    this.pc.close();
    this.routes = [];
  }
}
