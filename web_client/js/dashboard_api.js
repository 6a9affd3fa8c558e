// The operations dashboard's server: JSON endpoints under /api/dashboard/ and the live feed
// (Server-Sent Events), all with the ops token from the page's link.

// What the dashboard listens to (the feed leaves the rest out: partial captions, tracks…).
const FEED_TYPES = [
  "session.started", "session.ended", "participant.joined", "participant.left",
  "attendance.late", "attendance.no_show", "attendance.summary",
  "engagement.snapshot", "engagement.signal", "transcript.final",
  "flag.raised", "workflow.notification_failed",
];

export class DashboardApi {
  constructor(token) {
    this.token = token;
  }

  async get(path) {
    const response = await fetch(`/api/dashboard/${path}`, { headers: this.#headers() });
    return this.#body(response);
  }

  async post(path, body) {
    const response = await fetch(`/api/dashboard/${path}`, {
      method: "POST",
      headers: { ...this.#headers(), "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return this.#body(response);
  }

  /**
   * Open the live feed: `onEvent(envelope)` for each event, `onState("live" | "reconnecting" |
   * "closed")`. EventSource reconnects by itself and sends Last-Event-ID, so the server
   * resumes after the last event received. Returns the EventSource (close() to stop).
   */
  feed(onEvent, onState) {
    const query = new URLSearchParams({ token: this.token, types: FEED_TYPES.join(",") });
    const source = new EventSource(`/api/dashboard/events?${query}`);
    source.addEventListener("ready", () => onState("live"));
    source.onmessage = (message) => {
      try {
        onEvent(JSON.parse(message.data));
      } catch (error) {
        console.error("dashboard feed: bad message", error);
      }
    };
    source.onerror = () => onState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    return source;
  }

  #headers() {
    return { Authorization: `Bearer ${this.token}` };
  }

  async #body(response) {
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(body?.error?.message ?? `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }
}
