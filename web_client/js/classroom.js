// Classroom: one participant's live connection to a room.
//
// It owns the signaling client and the two peer connections (publisher, subscriber), keeps
// the room state the server reports (classroom_messages.js), draws it through RoomView, and
// reconnects when the network drops. The page's controls call its methods; it announces
// changes with events:
//   "change"  something in `state` changed (re-render controls, banners)
//   "notice"  {kind, text}: something the user must read (removed, refused, muted by the instructor)
//   "toast"   {text, level}: a passing message (server errors)
// and, for class activity (`activity`, a ClassActivity: class_activity.js):
//   "chat"        a chat message as the server sent it
//   "hands"       `activity.hands` (the raised-hands queue, oldest first) changed
//   "reaction"    {identity, emoji, ts}
//   "poll"        `activity.poll` changed (started, live results, your answer, ended)
//   "engagement"  `activity.engagement` (the instructor's live panel rows) arrived
//   "caption"     a live caption (partial or final) of someone's speech
// and `recording` ({active, started_by, started_at}) is kept current ("change" on each update).

import { SignalingClient, FINAL_CLOSE_CODES } from "./signaling.js";
import { SignalingRoute } from "./signaling_route.js";
import { Publisher } from "./publisher.js";
import { QualityReporter, rtpCounters } from "./quality.js";
import { Phase, Reconnects, refusalText, endedByServer } from "./connection_phase.js";
import { MESSAGE_HANDLERS } from "./classroom_messages.js";
import { ClassActivity } from "./class_activity.js";
import { RoomDrawing } from "./room_drawing.js";

export class Classroom extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.token the join token
   * @param {object} options.claims the token's claims (token.js)
   * @param {import("./local_media.js").LocalMedia} options.media
   * @param {import("./room_view.js").RoomView} options.view
   */
  constructor({ token, claims, media, view }) {
    super();
    this.token = token;
    this.claims = claims;
    this.media = media;
    this.view = view;
    this.phase = Phase.IDLE;
    this.room = null;
    this.self = null;
    /** identity → Participant, the others in the room */
    this.participants = new Map();
    this.speakers = [];
    this.reconnects = 0;
    this.lastError = null;

    this._signaling = null;
    this._route = new SignalingRoute(token);
    this._publisher = null;
    this._subscriber = null;
    this._iceServers = [];
    this._reconnects = new Reconnects();
    this._connectError = null; // the `error` sent just before a refusal close

    const send = (message) => this._signaling?.send(message);
    this.activity = new ClassActivity({
      selfIdentity: claims.identity,
      perms: claims.perms,
      view,
      send,
      emit: (type, detail) => this._emit(type, detail),
      joined: () => this.phase === Phase.JOINED,
      nameOf: (identity) => this.nameOf(identity),
    });
    this._drawing = new RoomDrawing({
      view,
      claims,
      media,
      participants: this.participants,
      routes: () => this._subscriber?.routes ?? [],
      send,
    });
    this._quality = new QualityReporter({
      connections: () => [this._subscriber?.pc, this._publisher?.pc].filter(Boolean),
      active: () => this.phase === Phase.JOINED,
      send,
    });
    this._onPageVisibility = () => this._sendVisibility();
  }

  get perms() {
    return this.claims.perms;
  }

  get sharingScreen() {
    return Boolean(this.media.screenTrack);
  }

  /** A read-only snapshot for tests and debugging (window.aula.state). */
  get state() {
    return structuredClone({
      phase: this.phase,
      identity: this.claims.identity,
      role: this.claims.role,
      room: this.room,
      locked: Boolean(this.room?.locked),
      micEnabled: this.media.micEnabled,
      cameraEnabled: this.media.cameraEnabled,
      sharingScreen: this.sharingScreen,
      participants: [...this.participants.keys()],
      speakers: this.speakers,
      published: this._publisher?.sources ?? [],
      routes: (this._subscriber?.routes ?? []).map(({ track, ...route }) => ({ ...route, readyState: track.readyState })),
      publisherState: this._publisher?.pc.connectionState ?? null,
      subscriberState: this._subscriber?.pc.connectionState ?? null,
      reconnects: this.reconnects,
      lastError: this.lastError,
      hands: this.activity.hands,
      handRaised: this.activity.handRaised,
      poll: this.activity.poll,
      engagement: this.activity.engagement,
    });
  }

  /** RTP counters of both peer connections, for debugging (window.aula.stats()). */
  async stats() {
    return {
      publisher: await rtpCounters(this._publisher?.pc, "outbound-rtp"),
      subscriber: await rtpCounters(this._subscriber?.pc, "inbound-rtp"),
    };
  }

  // ---- joining and leaving ------------------------------------------------------------------

  /** Join the room with whatever LocalMedia captured. */
  join() {
    if (this.phase === Phase.CONNECTING || this.phase === Phase.JOINED) return;
    this._setPhase(Phase.CONNECTING);
    this._drawing.showSelf();
    document.addEventListener("visibilitychange", this._onPageVisibility);
    this._quality.start();
    this._connect();
  }

  /** Leave now: tell the server, close everything, stop the camera and microphone. */
  leave() {
    this._signaling?.send({ type: "leave" });
    this._finish(Phase.LEFT);
    this._notice("left", "You left the class.");
  }

  _connect() {
    this._connectError = null;
    const signaling = new SignalingClient(this._route.url);
    this._signaling = signaling;
    signaling.on("*", (message) => this._onMessage(message));
    signaling.onClose((info) => this._onSocketClosed(signaling, info));
    signaling.connect().catch(() => {
      /* reported through onClose */
    });
  }

  _onSocketClosed(signaling, { code, reason, byClient, opened }) {
    if (signaling !== this._signaling || byClient) return;
    if (this.phase === Phase.REMOVED || this.phase === Phase.LEFT || this.phase === Phase.REFUSED) return;
    const refusal = this._connectError;
    if (!refusal && this.phase === Phase.JOINED && (code === 1000 || code === 4003)) {
      // The server ended a working connection without saying why first.
      this._endedByServer(reason);
      return;
    }
    if (refusal || code in FINAL_CLOSE_CODES) {
      this._closeConnections();
      this.view.clear();
      this._drawing.showSelf();
      if (refusal?.code === "removed") {
        this._finish(Phase.REMOVED);
        this._notice("removed", "You were removed from the class");
        return;
      }
      this._setPhase(Phase.REFUSED);
      this._notice("refused", refusalText(refusal, code), refusal?.code ?? String(code));
      return;
    }
    this._scheduleReconnect(`signaling closed (${code})`, { unreachable: opened === false });
  }

  /** Tear the connection down and build it again: new socket, fresh peer connections. */
  _scheduleReconnect(reason, { rateLimited = false, unreachable = false } = {}) {
    if (this._reconnects.pending || this.phase === Phase.IDLE) return;
    if ([Phase.REMOVED, Phase.LEFT, Phase.REFUSED].includes(this.phase)) return;
    if (rateLimited && !this._reconnects.negotiationRetryAllowed()) {
      console.warn(`aula: not reconnecting again so soon: ${reason}`);
      return;
    }
    console.info(`aula: reconnecting: ${reason}`);
    this._route.failed(unreachable);
    const signaling = this._signaling;
    this._signaling = null;
    signaling?.close(1000, "reconnecting");
    this._closeConnections();
    this._applyRoutes([]); // the remote tracks are gone with the subscriber
    this._setPhase(Phase.RECONNECTING);
    this._reconnects.schedule(() => {
      this.reconnects += 1;
      this._connect();
    });
  }

  /** Retry after a refusal (e.g. the room was locked and is now open). */
  retry() {
    if (this.phase !== Phase.REFUSED) return;
    this._reconnects.reset();
    this._setPhase(Phase.CONNECTING);
    this._connect();
  }

  _finish(phase) {
    this._reconnects.cancel();
    this._quality.stop();
    document.removeEventListener("visibilitychange", this._onPageVisibility);
    const signaling = this._signaling;
    this._signaling = null;
    signaling?.close(1000, phase);
    this._closeConnections();
    this.media.stop();
    this.view.clear();
    this._setPhase(phase);
  }

  /** The server took us out of the room (`participant_left` naming us, or a bare close); a node
   *  stopping (an upgrade, a drain) or its room moving is no end: the class goes on, on its node. */
  _endedByServer(reason) {
    if (["server_shutdown", "room_moved"].includes(reason)) return this._scheduleReconnect(`the class's node: ${reason}`);
    const { phase, kind, text } = endedByServer(reason);
    this._finish(phase);
    this._notice(kind, text);
  }

  _closeConnections() {
    this._publisher?.close();
    this._subscriber?.close();
    this._publisher = this._subscriber = null;
    this._drawing.forget();
  }

  // ---- messages from the server -----------------------------------------------------------

  _onMessage(message) {
    const handler = MESSAGE_HANDLERS[message.type];
    if (handler) handler.call(this, message);
    else this.activity.onMessage(message);
  }

  // ---- publishing --------------------------------------------------------------------------

  async _publish() {
    const publisher = new Publisher({
      signaling: this._signaling,
      iceServers: this._iceServers,
      onBroken: (reason) => this._scheduleReconnect(reason),
    });
    this._publisher = publisher;
    await publisher.addCaptured(this.media, this.perms);
    if (!publisher.sources.length) return; // nothing to send: subscribe only
    await publisher.negotiate();
    if (publisher !== this._publisher) return;
    // Tell the server about tracks that start muted.
    if (!this.media.micEnabled && publisher.sources.includes("microphone")) this._sendMute("microphone", true);
    if (!this.media.cameraEnabled && publisher.sources.includes("camera")) this._sendMute("camera", true);
    this._emit("change");
  }

  _sendMute(source, muted) {
    this._signaling?.send({ type: "mute", source, muted });
  }

  // ---- the user's controls -----------------------------------------------------------------

  toggleMic() {
    this._setSourceEnabled("microphone", !this.media.micEnabled);
  }

  toggleCamera() {
    this._setSourceEnabled("camera", !this.media.cameraEnabled);
  }

  _setSourceEnabled(source, enabled) {
    if (source === "microphone") this.media.setMicEnabled(enabled);
    else if (source === "camera") this.media.setCameraEnabled(enabled);
    else if (source === "screen" && !enabled) {
      this.stopScreenShare();
      return;
    }
    if (this._publisher?.sources.includes(source)) this._sendMute(source, !enabled);
    this._drawing.showSelf();
    this._emit("change");
  }

  async startScreenShare() {
    if (!this.perms.publish_screen || this.sharingScreen) return;
    let track;
    try {
      track = await this.media.startScreen(() => this.stopScreenShare());
    } catch (error) {
      if (error.name !== "NotAllowedError") this._toast(`Screen sharing failed: ${error.message}`, "error");
      return;
    }
    this.view.setScreen(this.claims.identity, track, "Your screen");
    this._emit("change");
    if (!this._publisher) return; // published when the (re)connection completes
    try {
      await this._publisher.addSource("screen", track);
      await this._publisher.negotiate();
    } catch (error) {
      this._toast(`Screen sharing failed: ${error.message}`, "error");
      await this.stopScreenShare();
    }
  }

  async stopScreenShare() {
    if (!this.media.screenTrack) return;
    this.media.stopScreen();
    this.view.setScreen(this.claims.identity, null);
    this._emit("change");
    const publisher = this._publisher;
    if (publisher?.sources.includes("screen")) {
      await publisher.removeSource("screen");
      await publisher.negotiate().catch((error) => this._toast(`Could not stop sharing: ${error.message}`, "error"));
    }
  }

  /** Moderator actions on another participant: "mute" (microphone), "remove" or "lower_hand". */
  moderate(action, identity) {
    if (!this.perms.moderate) return;
    const message = { type: "moderate", action, identity };
    if (action === "mute") message.source = "microphone";
    this._signaling?.send(message);
  }

  /** End the class for everyone (attendance summary, session.ended), as the API's end does. */
  endClass() {
    if (this.phase === Phase.JOINED) this.moderate("end_class");
  }

  toggleLock() {
    if (this.room) this.moderate(this.room.locked ? "unlock" : "lock");
  }

  /** Moderators: start or stop recording the class. */
  toggleRecording() {
    return Boolean(this._signaling?.send({ type: "recording", action: this.recording?.active ? "stop" : "start" }));
  }

  /** A participant's display name (ours included). */
  nameOf(identity) {
    if (identity === this.claims.identity) return this.claims.name;
    return this.participants.get(identity)?.name ?? identity;
  }

  // ---- what the browser reports: page visibility -----------------------------------------

  _sendVisibility() {
    if (this.phase !== Phase.JOINED) return;
    this._signaling?.send({ type: "visibility", visible: document.visibilityState !== "hidden" });
  }

  // ---- drawing (room_drawing.js) -------------------------------------------------------------

  _upsertParticipant(participant) {
    if (!participant || participant.identity === this.claims.identity) return;
    this.participants.set(participant.identity, participant);
    this._drawing.showParticipant(participant);
    this._emit("change");
  }

  /** Put each received track in its participant's tile (or on the stage, for screens). */
  _applyRoutes(routes) {
    this._drawing.applyRoutes(routes);
    this._emit("change");
  }

  /** A tile scrolled into or out of view: resume or pause its camera video. */
  onTileVisibility() {
    this._drawing.syncForwarding();
  }

  // ---- events ------------------------------------------------------------------------------

  _setPhase(phase) {
    this.phase = phase;
    this._emit("change");
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _notice(kind, text, code) {
    this._emit("notice", { kind, text, code });
  }

  _toast(text, level = "info") {
    this._emit("toast", { text, level });
  }
}
