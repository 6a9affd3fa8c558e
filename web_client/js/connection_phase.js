// The phases of a participant's connection to the room (`Classroom.phase`, shown as
// `#app[data-phase]`), what the user reads when a connection ends (a refusal, or the server
// taking us out of the room), and when a dropped connection is tried again (`Reconnects`).

// Every 1-2 s for the first ~10 s (a node's restart, or its death: a fleet places its rooms
// elsewhere within the heartbeat TTL, 6 s by default), then backing off to every 8 s.
const RECONNECT_DELAYS_MS = [500, 1000, 1000, 2000, 2000, 2000, 4000, 8000];
const RENEGOTIATION_RETRY_MS = 15_000;

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

/** Why the server refused the connection: `refusal` is the `error` it sent first (or null), `code` the close code. */
export function refusalText(refusal, code) {
  return REFUSAL_TEXT[refusal?.code] ?? refusal?.message ?? `The server refused the connection (${code}).`;
}

/**
 * The server took us out of the room (`participant_left` naming us, or a bare close) for
 * `reason`: the phase that ends in and the notice to show ({kind, text}).
 */
export function endedByServer(reason) {
  const text = {
    room_closed: "The class has ended.",
    session_ended: "The class has ended.",
    replaced: "You joined this class from another window; this one is disconnected.",
    removed: "You were removed from the class",
  }[reason] ?? "The server ended your connection to the class.";
  const phase = reason === "removed" ? Phase.REMOVED : Phase.LEFT;
  const ended = reason === "room_closed" || reason === "session_ended";
  return { phase, kind: reason === "removed" ? "removed" : ended ? "ended" : "left", text };
}

/** The timer of the next reconnection: backoff by attempt, since the last `joined` or retry. */
export class Reconnects {
  constructor() {
    this._attempt = 0;
    this._timer = null;
    this._lastNegotiationRetry = 0;
  }

  /** Whether a reconnection is waiting for its delay. */
  get pending() {
    return Boolean(this._timer);
  }

  /**
   * Negotiation failures could repeat on every fresh connection: retry those at most once per
   * RENEGOTIATION_RETRY_MS instead of looping. Whether this one may (it counts as the retry).
   */
  negotiationRetryAllowed() {
    if (Date.now() - this._lastNegotiationRetry < RENEGOTIATION_RETRY_MS) return false;
    this._lastNegotiationRetry = Date.now();
    return true;
  }

  /** Run `connect` after the next delay. */
  schedule(connect) {
    const delay = RECONNECT_DELAYS_MS[Math.min(this._attempt, RECONNECT_DELAYS_MS.length - 1)];
    this._attempt += 1;
    this._timer = setTimeout(() => {
      this._timer = null;
      connect();
    }, delay);
  }

  /** Connected (or retrying by hand): the next drop waits the shortest delay again. */
  reset() {
    this._attempt = 0;
  }

  cancel() {
    clearTimeout(this._timer);
    this._timer = null;
  }
}
