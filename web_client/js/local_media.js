// The participant's own microphone, camera and screen.
//
// LocalMedia owns the MediaStreamTracks captured in this page. Muting keeps the track and
// sets `track.enabled = false` (the browser then sends silence / black frames and the server,
// told by a `mute` message, stops forwarding), so unmuting needs no renegotiation.

const CAMERA_CONSTRAINTS = {
  width: { ideal: 640 },
  height: { ideal: 360 },
  frameRate: { ideal: 24, max: 30 },
};

export class LocalMedia {
  constructor() {
    /** @type {MediaStreamTrack|null} */ this.micTrack = null;
    /** @type {MediaStreamTrack|null} */ this.cameraTrack = null;
    /** @type {MediaStreamTrack|null} */ this.screenTrack = null;
    this.micEnabled = true;
    this.cameraEnabled = true;
  }

  /**
   * Ask for the microphone and/or camera. A device that is missing or refused is left out
   * rather than failing the whole join; the returned list says what went wrong.
   */
  async start({ audio, video }) {
    const problems = [];
    const want = { audio: audio && !this.micTrack, video: video && !this.cameraTrack };
    if (!want.audio && !want.video) return problems;
    try {
      this._adopt(await getUserMedia(want.audio, want.video));
    } catch (error) {
      // Both together failed: try each alone so one broken device does not mute the other.
      for (const kind of ["audio", "video"]) {
        if (!want[kind]) continue;
        try {
          this._adopt(await getUserMedia(kind === "audio", kind === "video"));
        } catch (inner) {
          problems.push(`${kind === "audio" ? "microphone" : "camera"}: ${inner.message || inner.name}`);
        }
      }
      if (!problems.length) console.info("aula: devices opened one by one after", error);
    }
    return problems;
  }

  _adopt(stream) {
    for (const track of stream.getTracks()) {
      if (track.kind === "audio" && !this.micTrack) {
        this.micTrack = track;
        track.enabled = this.micEnabled;
      } else if (track.kind === "video" && !this.cameraTrack) {
        this.cameraTrack = track;
        track.enabled = this.cameraEnabled;
      } else {
        track.stop();
      }
    }
  }

  /** A stream for the local preview (camera only: never play your own microphone back). */
  previewStream() {
    return this.cameraTrack ? new MediaStream([this.cameraTrack]) : null;
  }

  setMicEnabled(enabled) {
    this.micEnabled = enabled;
    if (this.micTrack) this.micTrack.enabled = enabled;
  }

  setCameraEnabled(enabled) {
    this.cameraEnabled = enabled;
    if (this.cameraTrack) this.cameraTrack.enabled = enabled;
  }

  /** Capture a screen or window; `onEnded` runs when the browser's own "Stop sharing" is used. */
  async startScreen(onEnded) {
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 15, max: 30 } },
      audio: false,
    });
    this.screenTrack = stream.getVideoTracks()[0];
    this.screenTrack.addEventListener("ended", () => onEnded?.(), { once: true });
    return this.screenTrack;
  }

  stopScreen() {
    this.screenTrack?.stop();
    this.screenTrack = null;
  }

  /** Stop every capture (leaving, removed). Safe to call twice. */
  stop() {
    for (const track of [this.micTrack, this.cameraTrack, this.screenTrack]) track?.stop();
    this.micTrack = this.cameraTrack = this.screenTrack = null;
  }
}

function getUserMedia(audio, video) {
  return navigator.mediaDevices.getUserMedia({
    audio: audio ? { echoCancellation: true, noiseSuppression: true } : false,
    video: video ? CAMERA_CONSTRAINTS : false,
  });
}
