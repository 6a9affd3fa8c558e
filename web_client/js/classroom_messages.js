// What each server message (docs/signaling.md) does to the Classroom: the room, its people
// and their tracks, the peer connections' negotiation, moderation and errors. Each handler is
// called with the Classroom as `this`; the class activity's messages (chat, hands, reactions,
// polls, engagement) are ClassActivity's.

import { Phase } from "./connection_phase.js";
import { Subscriber } from "./subscriber.js";

// Messages the page sends on its own (not on a click): their errors are logged, not shown.
const BACKGROUND_TYPES = new Set(["visibility", "quality", "update_subscription", "ping"]);

/** The Classroom's server messages, by `type`. */
export const MESSAGE_HANDLERS = {
  joined(message) {
    this._reconnects.reset();
    this._route.joined(message.nodes ?? []);
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
    this._drawing.showSelf();
    for (const participant of this.participants.values()) this._drawing.showParticipant(participant);
    this._setPhase(Phase.JOINED);
    this._publish().catch((error) => this._toast(`Could not publish: ${error.message}`, "error"));
    this._sendVisibility();
    this.activity.onJoined(message);
  },

  redirect(message) {
    // The class's room lives on another node: the same token joins there (docs/signaling.md).
    // After too many in a row the socket's close reconnects as any dropped connection does.
    if (!this._route.redirected(message.url)) return;
    const signaling = this._signaling;
    this._signaling = null;
    signaling?.close(1000, "redirected");
    this._connect();
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
    this._drawing.showParticipant(participant);
  },

  track_unpublished(message) {
    const participant = this.participants.get(message.identity);
    if (!participant) return;
    const gone = (participant.tracks ?? []).find((t) => t.sid === message.sid);
    participant.tracks = (participant.tracks ?? []).filter((t) => t.sid !== message.sid);
    if (gone?.source === "screen") this.view.setScreen(message.identity, null);
    this._drawing.showParticipant(participant);
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
