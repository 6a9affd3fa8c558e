// The publisher RTCPeerConnection: this page's microphone, camera and screen → the server.
//
// The client always offers on this connection (docs/signaling.md, "target: publisher"):
// each (re)negotiation sends `offer` with the SDP and `tracks: [{mid, source}]`, and waits
// for the server's `answer`. Negotiations are run one at a time; a change made while one is
// in flight is folded into one more round.

import { candidateToWire, waitForIceGathering, watchConnection } from "./rtc_util.js";

const ANSWER_TIMEOUT_MS = 15_000;
/** The token permission each source needs to be published. */
const SOURCE_PERMISSION = { microphone: "publish_audio", camera: "publish_video", screen: "publish_screen" };

export class PublishError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "PublishError";
    this.code = code;
  }
}

export class Publisher {
  /**
   * @param {object} options
   * @param {import("./signaling.js").SignalingClient} options.signaling
   * @param {RTCIceServer[]} options.iceServers
   * @param {(reason: string) => void} options.onBroken called when the connection is lost
   */
  constructor({ signaling, iceServers, onBroken }) {
    this._signaling = signaling;
    this.pc = new RTCPeerConnection({ iceServers: iceServers ?? [] });
    /** source ("microphone" | "camera" | "screen") → RTCRtpTransceiver, while published */
    this._transceivers = new Map();
    /** source → publication sid, from the server's last answer */
    this.publications = new Map();
    this._stream = new MediaStream();
    this._negotiating = null; // Promise of the running negotiation
    this._again = false;
    this._pendingAnswer = null; // {resolve, reject, timer}
    this._offerSent = false;
    this._closed = false;

    this.pc.addEventListener("icecandidate", (event) => {
      // Candidates found before the first offer is sent travel inside its SDP.
      if (!this._offerSent) return;
      signaling.send({ type: "candidate", target: "publisher", candidate: candidateToWire(event.candidate) });
    });
    this._stopWatching = watchConnection(this.pc, (state) => onBroken(`publisher ${state}`));
  }

  /** Which sources are published now. */
  get sources() {
    return [...this._transceivers.keys()];
  }

  /** Add each track `media` (LocalMedia) captured that `perms` allow; call negotiate() afterwards. */
  async addCaptured(media, perms) {
    const captured = [["microphone", media.micTrack], ["camera", media.cameraTrack], ["screen", media.screenTrack]];
    for (const [source, track] of captured) {
      if (track && perms[SOURCE_PERMISSION[source]]) await this.addSource(source, track);
    }
  }

  /** Add (or put back) the track for `source`; call negotiate() afterwards. */
  async addSource(source, track) {
    const existing = this._transceivers.get(source) ?? this._idleTransceiver(source);
    if (existing) {
      await existing.sender.replaceTrack(track);
      existing.sender.setStreams?.(this._stream);
      existing.direction = "sendonly";
      this._transceivers.set(source, existing);
      return;
    }
    const transceiver = this.pc.addTransceiver(track, { direction: "sendonly", streams: [this._stream] });
    transceiver.aulaSource = source;
    this._transceivers.set(source, transceiver);
  }

  /** Stop sending `source` (its m-line goes inactive and is reused next time); then negotiate(). */
  async removeSource(source) {
    const transceiver = this._transceivers.get(source);
    if (!transceiver) return;
    this._transceivers.delete(source);
    this.publications.delete(source);
    if (this.pc.signalingState !== "closed") {
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = "inactive";
    }
  }

  _idleTransceiver(source) {
    return this.pc.getTransceivers().find((t) => t.aulaSource === source && !t.stopped) ?? null;
  }

  /** Send an offer for what is published now and apply the answer. Resolves when done. */
  negotiate() {
    if (this._negotiating) {
      this._again = true;
      return this._negotiating;
    }
    this._negotiating = (async () => {
      try {
        do {
          this._again = false;
          await this._negotiateOnce();
        } while (this._again && !this._closed);
      } finally {
        this._negotiating = null;
      }
    })();
    return this._negotiating;
  }

  async _negotiateOnce() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await waitForIceGathering(this.pc);
    if (this._closed) return;
    const tracks = [];
    for (const [source, transceiver] of this._transceivers) {
      tracks.push({ mid: transceiver.mid, source });
    }
    const answered = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new PublishError("the server did not answer the publisher offer", "timeout")),
        ANSWER_TIMEOUT_MS,
      );
      this._pendingAnswer = { resolve, reject, timer };
    });
    this._signaling.send({ type: "offer", target: "publisher", sdp: this.pc.localDescription.sdp, tracks });
    this._offerSent = true;
    let answer;
    try {
      answer = await answered;
    } catch (error) {
      if (!this._closed && this.pc.signalingState === "have-local-offer") {
        await this.pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw error;
    } finally {
      clearTimeout(this._pendingAnswer?.timer);
      this._pendingAnswer = null;
    }
    if (this._closed) return;
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.publications.clear();
    for (const track of answer.tracks ?? []) {
      if (track.source && this._transceivers.has(track.source)) this.publications.set(track.source, track.sid);
    }
  }

  /** The server's `answer` (target "publisher"). */
  handleAnswer(message) {
    this._pendingAnswer?.resolve(message);
  }

  /** The server refused the offer (an `error` whose ref_type is "offer"). */
  handleOfferError(message) {
    this._pendingAnswer?.reject(new PublishError(message.message || message.code, message.code));
  }

  /** A trickled candidate from the server (rare: its candidates are in its SDP). */
  async addRemoteCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate ?? undefined);
    } catch (error) {
      console.warn("aula: publisher could not add a remote candidate", error);
    }
  }

  /** Close the connection; the captured tracks stay alive (LocalMedia owns them). Safe twice. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._stopWatching();
    this._pendingAnswer?.reject(new PublishError("the publisher was closed", "closed"));
    this.pc.close();
  }
}
