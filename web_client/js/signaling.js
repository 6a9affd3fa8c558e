// The signaling WebSocket: JSON messages with a `type` (see docs/signaling.md).
//
// SignalingClient knows nothing of WebRTC. It opens `/api/rtc?token=…`, hands each message
// to the handlers registered for its type, keeps the connection alive with `ping` every
// 10 s, and reports how the socket closed so the caller can decide whether to reconnect.

const PING_INTERVAL_MS = 10_000;
// No pong for this long: the connection is dead even if the socket has not noticed yet.
const PONG_TIMEOUT_MS = 25_000;

/** Close codes after which reconnecting with the same token cannot help. */
export const FINAL_CLOSE_CODES = Object.freeze({
  1000: "closed",
  4001: "auth",
  4003: "refused",
  4004: "no_such_session",
});

/** The signaling URL on this page's host: ws: for http:, wss: for https:. */
export function signalingUrl(token, location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/rtc?token=${encodeURIComponent(token)}`;
}

export class SignalingClient {
  /** @param {string} url the full ws:// or wss:// URL */
  constructor(url) {
    this.url = url;
    this._socket = null;
    this._handlers = new Map(); // type -> Set<fn>; "*" gets every message
    this._closeHandlers = new Set();
    this._pingTimer = null;
    this._lastPong = 0;
    this._closedByUs = false;
  }

  /** Register `handler(message)` for messages of `type` ("*" for all). Returns an unsubscribe. */
  on(type, handler) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(handler);
    return () => this._handlers.get(type)?.delete(handler);
  }

  /** Register `handler({code, reason, byClient, opened})`, called once when the socket closes. */
  onClose(handler) {
    this._closeHandlers.add(handler);
  }

  /** Open the socket; resolves when it is open, rejects if it closes first. */
  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this._socket = socket;
      let opened = false;
      socket.addEventListener("open", () => {
        opened = true;
        this._startPing();
        resolve();
      });
      socket.addEventListener("message", (event) => this._dispatch(event.data));
      socket.addEventListener("close", (event) => {
        this._finish({ code: event.code, reason: event.reason, byClient: this._closedByUs, opened });
        if (!opened) reject(new Error(`signaling closed before opening (code ${event.code})`));
      });
    });
  }

  get isOpen() {
    return this._socket?.readyState === WebSocket.OPEN;
  }

  /** Send one message; silently dropped when the socket is not open (a reconnect resends state). */
  send(message) {
    if (!this.isOpen) return false;
    this._socket.send(JSON.stringify(message));
    return true;
  }

  /** Close on purpose (leaving, being removed): the close is reported with `byClient: true`. */
  close(code = 1000, reason = "") {
    this._closedByUs = true;
    this._stopPing();
    if (this._socket && this._socket.readyState <= WebSocket.OPEN) this._socket.close(code, reason);
  }

  _dispatch(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("aula: ignoring a signaling frame that is not JSON");
      return;
    }
    if (!message || typeof message.type !== "string") return;
    if (message.type === "pong") this._lastPong = Date.now();
    for (const key of [message.type, "*"]) {
      for (const handler of this._handlers.get(key) ?? []) safeCall(handler, message);
    }
  }

  _startPing() {
    this._lastPong = Date.now();
    this._pingTimer = setInterval(() => {
      if (Date.now() - this._lastPong > PONG_TIMEOUT_MS) {
        // The server went silent: close without marking it ours, so the caller reconnects.
        // A dead TCP connection can take long to report its close: report it now.
        console.warn("aula: no pong from the server, dropping the connection");
        this._finish({ code: 1006, reason: "ping timeout", byClient: false });
        this._socket?.close(4000, "ping timeout");
        return;
      }
      this.send({ type: "ping", ts: Date.now() });
    }, PING_INTERVAL_MS);
  }

  /** Report the close once, however many ways it is noticed. */
  _finish(info) {
    this._stopPing();
    const handlers = [...this._closeHandlers];
    this._closeHandlers.clear();
    for (const handler of handlers) safeCall(handler, info);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }
}

function safeCall(handler, arg) {
  try {
    handler(arg);
  } catch (error) {
    console.error("aula: a signaling handler failed", error);
  }
}
