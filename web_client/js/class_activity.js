// ClassActivity: what the class does besides audio and video — chat, raised hands,
// reactions, polls and (moderators) the live panel's engagement rows. `Classroom.activity`.
//
// It keeps the raised-hands queue (`hands`), the poll on screen (`poll`) and the last
// `engagement` rows, sends `chat`, `hand`, `reaction` and `poll_create` / `poll_answer` /
// `poll_end`, and announces changes through the Classroom's events: "chat", "hands" (with a
// "change"), "reaction", "poll", "engagement". Its only drawing is on the tiles (RoomView:
// raised-hand badges, floating reactions); the panels are the views' (main.js).

/** The reactions the server accepts (docs/signaling.md, `reaction`). */
export const REACTIONS = Object.freeze(["👍", "👏", "😂", "😮", "❤️", "🎉", "🤔"]);
export const CHAT_MAX_CHARS = 2000;
export const POLL_MIN_OPTIONS = 2;
export const POLL_MAX_OPTIONS = 8;

export class ClassActivity {
  /**
   * @param {object} options
   * @param {string} options.selfIdentity
   * @param {object} options.perms the token's permissions
   * @param {import("./room_view.js").RoomView} options.view
   * @param {(message: object) => boolean|undefined} options.send to the server; whether it went out
   * @param {(type: string, detail?: any) => void} options.emit dispatch one of the Classroom's events
   * @param {() => boolean} options.joined whether we are in the room now
   * @param {(identity: string) => string} options.nameOf a participant's display name
   */
  constructor({ selfIdentity, perms, view, send, emit, joined, nameOf }) {
    this.selfIdentity = selfIdentity;
    this.perms = perms;
    this.view = view;
    this._send = send;
    this._emit = emit;
    this._joined = joined;
    this._nameOf = nameOf;
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
  }

  /** Whether our own hand is in the queue. */
  get handRaised() {
    return this.hands.some((hand) => hand.identity === this.selfIdentity);
  }

  /** Send a chat message to everyone, or privately `to` one identity. Returns whether it went out. */
  sendChat(text, to = null) {
    const body = String(text ?? "").trim();
    if (!body || body.length > CHAT_MAX_CHARS || !this._joined()) return false;
    const message = { type: "chat", text: body };
    if (to) message.to = to;
    return Boolean(this._send(message));
  }

  /** Raise or lower our own hand; the server answers with `hands`. */
  setHand(raised) {
    return Boolean(this._send({ type: "hand", raised: Boolean(raised) }));
  }

  toggleHand() {
    return this.setHand(!this.handRaised);
  }

  react(emoji) {
    if (!REACTIONS.includes(emoji)) return false;
    return Boolean(this._send({ type: "reaction", emoji }));
  }

  /** Start a poll (moderators): `correct` is the index of the right option, or null. */
  createPoll({ question, options, correct = null }) {
    if (!this.perms.moderate) return false;
    const text = String(question ?? "").trim();
    const choices = (options ?? []).map((option) => String(option).trim()).filter(Boolean);
    if (!text || choices.length < POLL_MIN_OPTIONS || choices.length > POLL_MAX_OPTIONS) return false;
    const message = { type: "poll_create", question: text, options: choices };
    if (Number.isInteger(correct) && correct >= 0 && correct < choices.length) message.correct = correct;
    const sent = Boolean(this._send(message));
    if (sent) this._createdPoll = { question: text, correct: message.correct ?? null };
    return sent;
  }

  /** Answer the running poll; answering again replaces the answer. */
  answerPoll(option) {
    const poll = this.poll;
    if (!poll || poll.status !== "running" || !Number.isInteger(option)) return false;
    if (option < 0 || option >= poll.options.length) return false;
    if (!this._send({ type: "poll_answer", poll_id: poll.poll_id, option })) return false;
    this.poll = { ...poll, yourAnswer: option };
    this._emit("poll");
    return true;
  }

  endPoll() {
    if (!this.perms.moderate || this.poll?.status !== "running") return false;
    return Boolean(this._send({ type: "poll_end", poll_id: this.poll.poll_id }));
  }

  /** Put an ended poll's results away. */
  dismissPoll() {
    if (this.poll?.status !== "ended") return;
    this.poll = null;
    this._emit("poll");
  }

  /** `joined` carries the raised hands and the running poll (a reconnect catches up). */
  onJoined(message) {
    const hands = message.hands ?? message.room?.hands ?? [];
    this._setHands(Array.isArray(hands) ? hands : hands.queue ?? []);
    const running = message.poll ?? message.room?.poll ?? null;
    if (running) this._pollStarted(running.poll ?? running);
    else if (this.poll?.status === "running") {
      // It ended while we were away; we did not get its results.
      this.poll = null;
      this._emit("poll");
    }
  }

  /** A server message about the class activity (the others are the Classroom's). */
  onMessage(message) {
    const handler = HANDLERS[message.type];
    if (handler) handler.call(this, message);
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
}

/** The class activity's server messages, by `type` (`this` is the ClassActivity). */
const HANDLERS = {
  chat(message) {
    this._emit("chat", message);
  },

  hands(message) {
    this._setHands(message.queue ?? []);
  },

  reaction(message) {
    this.view.showReaction(message.identity, message.emoji, this._nameOf(message.identity));
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
};
