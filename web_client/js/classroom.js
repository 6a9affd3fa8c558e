// Classroom: one participant's live connection to a room.
//
// It owns the signaling client and the two peer connections (publisher, subscriber), keeps
// the room state the server reports, draws it through RoomView, and reconnects when the
// network drops. The page's controls call its methods; it announces changes with events:
//   "change"  something in `state` changed (re-render controls, banners)
//   "notice"  {kind, text}: something the user must read (removed, refused, muted by the instructor)
//   "toast"   {text, level}: a passing message (server errors)
// and, for class activity:
//   "chat"        a chat message as the server sent it
//   "hands"       `hands` (the raised-hands queue, oldest first) changed
//   "reaction"    {identity, emoji, ts}
//   "poll"        `poll` changed (started, live results, your answer, ended)
//   "engagement"  `engagement` (the instructor's live panel rows) arrived
//   "caption"     a live caption (partial or final) of someone's speech
// and `recording` ({active, started_by, started_at}) is kept current ("change" on each update).

import { SignalingClient, signalingUrl, FINAL_CLOSE_CODES } from "./signaling.js";
import { Publisher } from "./publisher.js";
import { Subscriber } from "./subscriber.js";
import { measureQuality } from "./quality.js";

/** Connection phases, in `state.phase`. */
export const Phase = Object.freeze({
  IDLE: "idle", // not joined yet (pre-join screen)
  CONNECTING: "connecting",
  JOINED: "joined",
  RECONNECTING: "reconnecting",
  REFUSED: "refused", // the server refused the connection (locked room, bad token…)
  REMOVED: "removed", // a moderator removed us
  LEFT: "left", // we left, or the class ended, or another window took over
});

const REFUSAL_TEXT = {
  room_locked: "The room is locked. Ask the instructor to unlock it, then try again.",
  removed: "You were removed from the class and cannot rejoin it.",
  token_expired: "This join link has expired. Ask for a new one.",
  token_invalid: "This join link is not valid.",
  wrong_session: "This join link belongs to another class.",
  session_not_found: "This class does not exist.",
  session_ended: "This class has ended.",
};

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
const RENEGOTIATION_RETRY_MS = 15_000;
const SOURCE_PERMISSION = { microphone: "publish_audio", camera: "publish_video", screen: "publish_screen" };

/** The reactions the server accepts (docs/signaling.md, `reaction`). */
export const REACTIONS = Object.freeze(["👍", "👏", "😂", "😮", "❤️", "🎉", "🤔"]);
export const CHAT_MAX_CHARS = 2000;
export const POLL_MIN_OPTIONS = 2;
export const POLL_MAX_OPTIONS = 8;
// The server takes `quality` at most every 10 s: a little over, so timer drift never makes it early.
const QUALITY_INTERVAL_MS = 10_050;
// Messages the page sends on its own (not on a click): their errors are logged, not shown.
const BACKGROUND_TYPES = new Set(["visibility", "quality", "update_subscription", "ping"]);

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
    this._publisher = null;
    this._subscriber = null;
    this._iceServers = [];
    this._attempt = 0;
    this._reconnectTimer = null;
    this._connectError = null; // the `error` sent just before a refusal close
    this._lastNegotiationRetry = 0;
    /** camera sid → whether the server forwards it to us now (update_subscription) */
    this._forwarding = new Map();

    /** the raised hands, oldest first: [{identity, name, raised_at}] */
    this.hands = [];
    /**
     * The poll on screen, or null: {poll_id, question, options, status: "running"|"ended",
     * counts, answered, eligible (moderators' live results), correct, yourAnswer}.
     */
    this.poll = null;
    /** the rows of the last `engagement` message (moderators) */
    this.engagement = [];
    this._createdPoll = null; // {question, correct} of the poll this moderator just asked
    this._qualityTimer = null;
    this._qualityPrevious = null;
    this._onPageVisibility = () => this._sendVisibility();
  }

  get perms() {
    return this.claims.perms;
  }

  get sharingScreen() {
    return Boolean(this.media.screenTrack);
  }

  /** Whether our own hand is in the queue. */
  get handRaised() {
    return this.hands.some((hand) => hand.identity === this.claims.identity);
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
      hands: this.hands,
      handRaised: this.handRaised,
      poll: this.poll,
      engagement: this.engagement,
    });
  }

  /** RTP counters of both peer connections, for debugging (window.aula.stats()). */
  async stats() {
    const summarise = async (pc, type) => {
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
    };
    return {
      publisher: await summarise(this._publisher?.pc, "outbound-rtp"),
      subscriber: await summarise(this._subscriber?.pc, "inbound-rtp"),
    };
  }

  // ---- joining and leaving ------------------------------------------------------------------

  /** Join the room with whatever LocalMedia captured. */
  join() {
    if (this.phase === Phase.CONNECTING || this.phase === Phase.JOINED) return;
    this._setPhase(Phase.CONNECTING);
    this._showSelf();
    document.addEventListener("visibilitychange", this._onPageVisibility);
    this._scheduleQuality();
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
    const signaling = new SignalingClient(signalingUrl(this.token));
    this._signaling = signaling;
    signaling.on("*", (message) => this._onMessage(message));
    signaling.onClose((info) => this._onSocketClosed(signaling, info));
    signaling.connect().catch(() => {
      /* reported through onClose */
    });
  }

  _onSocketClosed(signaling, { code, reason, byClient }) {
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
      this._showSelf();
      if (refusal?.code === "removed") {
        this._finish(Phase.REMOVED);
        this._notice("removed", "You were removed from the class");
        return;
      }
      this._setPhase(Phase.REFUSED);
      const text = REFUSAL_TEXT[refusal?.code] ?? refusal?.message ?? `The server refused the connection (${code}).`;
      this._notice("refused", text, refusal?.code ?? String(code));
      return;
    }
    this._scheduleReconnect(`signaling closed (${code})`);
  }

  /** Tear the connection down and build it again: new socket, fresh peer connections. */
  _scheduleReconnect(reason, { rateLimited = false } = {}) {
    if (this._reconnectTimer || this.phase === Phase.IDLE) return;
    if ([Phase.REMOVED, Phase.LEFT, Phase.REFUSED].includes(this.phase)) return;
    // Negotiation failures could repeat on every fresh connection: retry those at most
    // once per RENEGOTIATION_RETRY_MS instead of looping.
    if (rateLimited) {
      if (Date.now() - this._lastNegotiationRetry < RENEGOTIATION_RETRY_MS) {
        console.warn(`aula: not reconnecting again so soon: ${reason}`);
        return;
      }
      this._lastNegotiationRetry = Date.now();
    }
    console.info(`aula: reconnecting: ${reason}`);
    const signaling = this._signaling;
    this._signaling = null;
    signaling?.close(1000, "reconnecting");
    this._closeConnections();
    this._detachRemoteMedia();
    this._setPhase(Phase.RECONNECTING);
    const delay = RECONNECT_DELAYS_MS[Math.min(this._attempt, RECONNECT_DELAYS_MS.length - 1)];
    this._attempt += 1;
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this.reconnects += 1;
      this._connect();
    }, delay);
  }

  /** Retry after a refusal (e.g. the room was locked and is now open). */
  retry() {
    if (this.phase !== Phase.REFUSED) return;
    this._attempt = 0;
    this._setPhase(Phase.CONNECTING);
    this._connect();
  }

  _finish(phase) {
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    clearTimeout(this._qualityTimer);
    this._qualityTimer = null;
    document.removeEventListener("visibilitychange", this._onPageVisibility);
    const signaling = this._signaling;
    this._signaling = null;
    signaling?.close(1000, phase);
    this._closeConnections();
    this.media.stop();
    this.view.clear();
    this._setPhase(phase);
  }

  /** The server took us out of the room (`participant_left` naming us, or a bare close). */
  _endedByServer(reason) {
    const text = {
      room_closed: "The class has ended.",
      session_ended: "The class has ended.",
      server_shutdown: "The server is restarting. Rejoin in a moment.",
      replaced: "You joined this class from another window; this one is disconnected.",
      removed: "You were removed from the class",
    }[reason] ?? "The server ended your connection to the class.";
    const phase = reason === "removed" ? Phase.REMOVED : Phase.LEFT;
    this._finish(phase);
    const ended = reason === "room_closed" || reason === "session_ended";
    this._notice(reason === "removed" ? "removed" : ended ? "ended" : "left", text);
  }

  _closeConnections() {
    this._publisher?.close();
    this._subscriber?.close();
    this._publisher = this._subscriber = null;
    this._forwarding.clear();
  }

  // ---- messages from the server -----------------------------------------------------------

  _onMessage(message) {
    const handler = this._handlers[message.type];
    if (handler) handler.call(this, message);
  }

  _handlers = {
    joined(message) {
      this._attempt = 0;
      this._iceServers = message.ice_servers ?? [];
      this.room = message.room ?? null;
      this.self = message.participant ?? null;
      this.transcription = Boolean(message.transcription);
      this.recording = message.recording ?? { active: false };
      this.participants.clear();
      for (const participant of message.participants ?? []) this.participants.set(participant.identity, participant);
      // Drop tiles of people who left while we were away.
      for (const identity of this.view.identities()) {
        if (identity !== this.claims.identity && !this.participants.has(identity)) this.view.removeParticipant(identity);
      }
      this._showSelf();
      for (const participant of this.participants.values()) this._showParticipant(participant);
      this._setPhase(Phase.JOINED);
      this._publish().catch((error) => this._toast(`Could not publish: ${error.message}`, "error"));
      this._sendVisibility();
      // `joined` carries the raised hands and the running poll (a reconnect catches up).
      const hands = message.hands ?? message.room?.hands ?? [];
      this._setHands(Array.isArray(hands) ? hands : hands.queue ?? []);
      const running = message.poll ?? message.room?.poll ?? null;
      if (running) this._pollStarted(running.poll ?? running);
      else if (this.poll?.status === "running") {
        // It ended while we were away; we did not get its results.
        this.poll = null;
        this._emit("poll");
      }
    },

    answer(message) {
      if (message.target === "publisher") this._publisher?.handleAnswer(message);
    },

    offer(message) {
      if (message.target !== "subscriber") return;
      if (!this._subscriber) {
        const signaling = this._signaling;
        this._subscriber = new Subscriber({
          signaling,
          iceServers: this._iceServers,
          onRoutes: (routes) => this._applyRoutes(routes),
          onBroken: (reason) => this._scheduleReconnect(reason, { rateLimited: reason.includes("offer") }),
        });
      }
      this._subscriber.handleOffer(message);
    },

    candidate(message) {
      const peer = message.target === "subscriber" ? this._subscriber : this._publisher;
      peer?.addRemoteCandidate(message.candidate);
    },

    participant_joined(message) {
      this._upsertParticipant(message.participant);
    },

    participant_updated(message) {
      this._upsertParticipant(message.participant);
    },

    participant_left(message) {
      if (message.identity === this.claims.identity) {
        // The server gave up on this connection's media: join again on fresh connections.
        if (message.reason === "connection_lost") this._scheduleReconnect("the server lost our connection");
        else this._endedByServer(message.reason);
        return;
      }
      if (message.reason === "replaced") return; // the same person, on a new connection
      this.participants.delete(message.identity);
      this.view.removeParticipant(message.identity);
      this._emit("change");
    },

    track_published(message) {
      const participant = this.participants.get(message.identity);
      if (!participant || !message.track) return;
      participant.tracks = [...(participant.tracks ?? []).filter((t) => t.sid !== message.track.sid), message.track];
      this._showParticipant(participant);
    },

    track_unpublished(message) {
      const participant = this.participants.get(message.identity);
      if (!participant) return;
      const gone = (participant.tracks ?? []).find((t) => t.sid === message.sid);
      participant.tracks = (participant.tracks ?? []).filter((t) => t.sid !== message.sid);
      if (gone?.source === "screen") this.view.setScreen(message.identity, null);
      this._showParticipant(participant);
    },

    muted_by_moderator(message) {
      const source = message.source || "microphone";
      this._setSourceEnabled(source, false);
      const what = { microphone: "microphone", camera: "camera", screen: "screen share" }[source] ?? source;
      this._notice("muted", `The instructor muted your ${what}.`);
    },

    room_updated(message) {
      this.room = message.room;
      this._emit("change");
    },

    active_speakers(message) {
      this.speakers = (message.speakers ?? []).map((s) => s.identity);
      this.view.setSpeakers(this.speakers);
      this._emit("change");
    },

    chat(message) {
      this._emit("chat", message);
    },

    hands(message) {
      this._setHands(message.queue ?? []);
    },

    caption(message) {
      this._emit("caption", message);
    },

    recording(message) {
      const was = this.recording?.active;
      this.recording = { active: Boolean(message.active), started_by: message.started_by ?? null, started_at: message.started_at ?? null };
      if (was !== this.recording.active) {
        this._toast(this.recording.active ? "This class is being recorded." : "Recording stopped.", "info");
      }
      this._emit("change");
    },

    reaction(message) {
      this.view.showReaction(message.identity, message.emoji, this.nameOf(message.identity));
      this._emit("reaction", message);
    },

    poll_started(message) {
      this._pollStarted(message.poll ?? message);
    },

    poll_results(message) {
      if (!this.poll || this.poll.poll_id !== message.poll_id || this.poll.status !== "running") return;
      this.poll = { ...this.poll, counts: message.counts ?? null, answered: message.answered ?? null, eligible: message.eligible ?? null };
      this._emit("poll");
    },

    poll_ended(message) {
      if (!this.poll || this.poll.poll_id !== message.poll_id) return; // a poll we never saw
      this.poll = {
        ...this.poll,
        status: "ended",
        counts: message.counts ?? this.poll.counts,
        correct: message.correct ?? null,
        yourAnswer: message.your_answer ?? this.poll.yourAnswer,
      };
      this._emit("poll");
    },

    engagement(message) {
      this.engagement = message.participants ?? [];
      this._emit("engagement");
    },

    removed() {
      this._finish(Phase.REMOVED);
      this._notice("removed", "You were removed from the class");
    },

    error(message) {
      this.lastError = { code: message.code, message: message.message, ref_type: message.ref_type ?? null };
      if (this.phase !== Phase.JOINED) {
        // Before `joined`, an error is the reason the socket is about to close.
        this._connectError = this.lastError;
      }
      if (message.ref_type === "offer") this._publisher?.handleOfferError(message);
      if (message.ref_type === "answer" && this._subscriber) {
        // The server could not use our subscriber answer: that negotiation is stuck.
        this._scheduleReconnect(`subscriber answer refused: ${message.code}`, { rateLimited: true });
      }
      if (BACKGROUND_TYPES.has(message.ref_type)) {
        console.warn(`aula: the server refused ${message.ref_type}: ${message.code} ${message.message ?? ""}`);
      } else if (this.phase === Phase.JOINED || message.ref_type) {
        this._toast(message.message || message.code, "error");
      }
      this._emit("change");
    },
  };

  // ---- publishing --------------------------------------------------------------------------

  async _publish() {
    const publisher = new Publisher({
      signaling: this._signaling,
      iceServers: this._iceServers,
      onBroken: (reason) => this._scheduleReconnect(reason),
    });
    this._publisher = publisher;
    const wanted = [
      ["microphone", this.media.micTrack],
      ["camera", this.media.cameraTrack],
      ["screen", this.media.screenTrack],
    ];
    for (const [source, track] of wanted) {
      if (track && this.perms[SOURCE_PERMISSION[source]]) await publisher.addSource(source, track);
    }
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
    this._showSelf();
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
    if (!this.perms.moderate || this.phase !== Phase.JOINED) return;
    this._signaling?.send({ type: "moderate", action: "end_class" });
  }

  toggleLock() {
    if (!this.perms.moderate || !this.room) return;
    this._signaling?.send({ type: "moderate", action: this.room.locked ? "unlock" : "lock" });
  }

  /** Moderators: start or stop recording the class. */
  toggleRecording() {
    return Boolean(this._signaling?.send({ type: "recording", action: this.recording?.active ? "stop" : "start" }));
  }

  // ---- class activity: chat, hands, reactions, polls ---------------------------------------

  /** Send a chat message to everyone, or privately `to` one identity. Returns whether it went out. */
  sendChat(text, to = null) {
    const body = String(text ?? "").trim();
    if (!body || body.length > CHAT_MAX_CHARS || this.phase !== Phase.JOINED) return false;
    const message = { type: "chat", text: body };
    if (to) message.to = to;
    return Boolean(this._signaling?.send(message));
  }

  /** Raise or lower our own hand; the server answers with `hands`. */
  setHand(raised) {
    return Boolean(this._signaling?.send({ type: "hand", raised: Boolean(raised) }));
  }

  toggleHand() {
    return this.setHand(!this.handRaised);
  }

  react(emoji) {
    if (!REACTIONS.includes(emoji)) return false;
    return Boolean(this._signaling?.send({ type: "reaction", emoji }));
  }

  /** Start a poll (moderators): `correct` is the index of the right option, or null. */
  createPoll({ question, options, correct = null }) {
    if (!this.perms.moderate) return false;
    const text = String(question ?? "").trim();
    const choices = (options ?? []).map((option) => String(option).trim()).filter(Boolean);
    if (!text || choices.length < POLL_MIN_OPTIONS || choices.length > POLL_MAX_OPTIONS) return false;
    const message = { type: "poll_create", question: text, options: choices };
    if (Number.isInteger(correct) && correct >= 0 && correct < choices.length) message.correct = correct;
    const sent = Boolean(this._signaling?.send(message));
    if (sent) this._createdPoll = { question: text, correct: message.correct ?? null };
    return sent;
  }

  /** Answer the running poll; answering again replaces the answer. */
  answerPoll(option) {
    const poll = this.poll;
    if (!poll || poll.status !== "running" || !Number.isInteger(option)) return false;
    if (option < 0 || option >= poll.options.length) return false;
    if (!this._signaling?.send({ type: "poll_answer", poll_id: poll.poll_id, option })) return false;
    this.poll = { ...poll, yourAnswer: option };
    this._emit("poll");
    return true;
  }

  endPoll() {
    if (!this.perms.moderate || this.poll?.status !== "running") return false;
    return Boolean(this._signaling?.send({ type: "poll_end", poll_id: this.poll.poll_id }));
  }

  /** Put an ended poll's results away. */
  dismissPoll() {
    if (this.poll?.status !== "ended") return;
    this.poll = null;
    this._emit("poll");
  }

  _setHands(queue) {
    this.hands = queue.filter((hand) => hand && typeof hand.identity === "string");
    this.view.setHands(this.hands.map((hand) => hand.identity));
    this._emit("hands");
    this._emit("change");
  }

  _pollStarted(poll) {
    if (!poll?.poll_id) return;
    const same = this.poll?.poll_id === poll.poll_id ? this.poll : null;
    const created = this._createdPoll?.question === poll.question ? this._createdPoll : null;
    if (created) this._createdPoll = null;
    this.poll = {
      poll_id: poll.poll_id,
      question: poll.question ?? "",
      options: poll.options ?? [],
      status: "running",
      counts: same?.counts ?? null,
      answered: same?.answered ?? null,
      eligible: same?.eligible ?? null,
      // Only the moderator who asked knows the right answer before the end.
      correct: poll.correct ?? created?.correct ?? same?.correct ?? null,
      yourAnswer: same?.yourAnswer ?? null,
    };
    this._emit("poll");
  }

  /** A participant's display name (ours included). */
  nameOf(identity) {
    if (identity === this.claims.identity) return this.claims.name;
    return this.participants.get(identity)?.name ?? identity;
  }

  // ---- what the browser reports: page visibility, connection quality ------------------------

  _sendVisibility() {
    if (this.phase !== Phase.JOINED) return;
    this._signaling?.send({ type: "visibility", visible: document.visibilityState !== "hidden" });
  }

  _scheduleQuality() {
    clearTimeout(this._qualityTimer);
    this._qualityTimer = setTimeout(() => this._reportQuality(), QUALITY_INTERVAL_MS);
  }

  async _reportQuality() {
    try {
      const connections = [this._subscriber?.pc, this._publisher?.pc].filter(Boolean);
      if (this.phase === Phase.JOINED && connections.length) {
        const { report, sample } = await measureQuality(connections, this._qualityPrevious);
        this._qualityPrevious = sample;
        if (Object.keys(report).length) this._signaling?.send({ type: "quality", ...report });
      }
    } catch (error) {
      console.warn("aula: could not measure connection quality", error);
    } finally {
      if (this._qualityTimer !== null) this._scheduleQuality();
    }
  }

  // ---- drawing -----------------------------------------------------------------------------

  _showSelf() {
    const { identity, name, role } = this.claims;
    this.view.showParticipant({ identity, name, role }, { isSelf: true });
    this.view.setIndicators(identity, {
      micMuted: !this.media.micTrack || !this.media.micEnabled,
      cameraOff: !this.media.cameraTrack || !this.media.cameraEnabled,
    });
    this.view.setMedia(identity, { video: this.media.cameraTrack });
  }

  _upsertParticipant(participant) {
    if (!participant || participant.identity === this.claims.identity) return;
    this.participants.set(participant.identity, participant);
    this._showParticipant(participant);
    this._emit("change");
  }

  _showParticipant(participant) {
    this.view.showParticipant(participant);
    const live = (source) => (participant.tracks ?? []).some((t) => t.source === source && !t.muted);
    this.view.setIndicators(participant.identity, {
      micMuted: !live("microphone"), cameraOff: !live("camera"), connectionLost: participant.connection === "lost",
    });
  }

  /** Put each received track in its participant's tile (or on the stage, for screens). */
  _applyRoutes(routes) {
    const byIdentity = new Map();
    for (const route of routes) {
      if (!byIdentity.has(route.identity)) byIdentity.set(route.identity, {});
      byIdentity.get(route.identity)[route.source] = route.track;
    }
    for (const [identity, sources] of byIdentity) {
      if (!this.view.has(identity)) {
        // The offer can arrive before participant_joined: show a placeholder tile.
        this._showParticipant(this.participants.get(identity) ?? { identity, name: identity, role: "student", tracks: [] });
      }
      this.view.setMedia(identity, { video: sources.camera ?? null, audio: sources.microphone ?? null });
      const name = this.participants.get(identity)?.name ?? identity;
      this.view.setScreen(identity, sources.screen ?? null, `${name}'s screen`);
    }
    for (const identity of this.view.identities()) {
      if (identity !== this.claims.identity && !byIdentity.has(identity)) this.view.setMedia(identity, {});
    }
    for (const identity of this.view.screenIdentities()) {
      if (identity !== this.claims.identity && !byIdentity.get(identity)?.screen) this.view.setScreen(identity, null);
    }
    const current = new Set(routes.map((route) => route.sid));
    for (const sid of this._forwarding.keys()) if (!current.has(sid)) this._forwarding.delete(sid);
    // Each offer states what is forwarded now (`enabled`): start again from that.
    for (const route of routes) this._forwarding.set(route.sid, route.enabled);
    this._syncForwarding();
    this._emit("change");
  }

  /** A tile scrolled into or out of view: resume or pause its camera video. */
  onTileVisibility() {
    this._syncForwarding();
  }

  /**
   * Ask the server to forward only the cameras whose tiles are on screen (update_subscription;
   * no renegotiation). Screen shares and microphones are always received.
   */
  _syncForwarding() {
    const routes = this._subscriber?.routes ?? [];
    const changes = { true: [], false: [] };
    for (const route of routes) {
      if (route.source !== "camera") continue;
      if (!this._forwarding.has(route.sid)) this._forwarding.set(route.sid, route.enabled);
      const wanted = this.view.isVisible(route.identity);
      if (this._forwarding.get(route.sid) !== wanted) {
        changes[wanted].push(route.sid);
        this._forwarding.set(route.sid, wanted);
      }
    }
    for (const enabled of [true, false]) {
      const sids = changes[enabled];
      if (sids.length) this._signaling?.send({ type: "update_subscription", sids, enabled });
    }
  }

  _detachRemoteMedia() {
    this._applyRoutes([]);
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
