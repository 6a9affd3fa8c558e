// Where the signaling socket goes in a fleet of nodes (docs/operations.md, Scaling out): the
// page's own node, the node a `redirect` names (the class's room lives there), or — when the
// node we were on stops answering — the fleet's other nodes, as the `joined` message lists
// them, one after another: any of them places the room again once its node is gone.

import { signalingUrl } from "./signaling.js";

// A join follows at most this many redirects in a row (one is the rule).
const MAX_REDIRECTS = 3;

/** A node's signaling URL for this token: ws: for http:, wss: for https:. */
function nodeSignalingUrl(nodeUrl, token) {
  return `${nodeUrl.replace(/^http/, "ws").replace(/\/$/, "")}/api/rtc?token=${encodeURIComponent(token)}`;
}

export class SignalingRoute {
  constructor(token, location = window.location) {
    this._token = token;
    this._home = signalingUrl(token, location);
    this._candidates = [this._home];
    this._failures = 0;
    this._redirects = 0;
    this._unreachable = new Set(); // nodes whose socket never opened since we were last in
    /** The URL the next socket opens. */
    this.url = this._home;
  }

  /** The room lives on another node: go there next. False after too many redirects in a row. */
  redirected(nodeSocketUrl) {
    this._redirects += 1;
    if (this._redirects > MAX_REDIRECTS) return false;
    this.url = `${nodeSocketUrl}?token=${encodeURIComponent(this._token)}`;
    return true;
  }

  /** In the room: `nodes` are the fleet's nodes' base URLs, the ones to try if this one goes. */
  joined(nodes) {
    this._redirects = 0;
    this._failures = 0;
    this._unreachable.clear();
    const others = nodes.map((url) => nodeSignalingUrl(url, this._token)).filter((url) => url !== this.url);
    this._candidates = [this.url, ...others];
  }

  /**
   * The connection dropped: the next attempt goes to the next node (back to this one in turn),
   * skipping those that could not be reached at all while another one can.
   */
  failed(unreachable = false) {
    if (unreachable) this._unreachable.add(this.url);
    let choices = this._candidates.filter((url) => !this._unreachable.has(url));
    if (!choices.length) {
      this._unreachable.clear();
      choices = this._candidates;
    }
    this._failures += 1;
    this.url = choices[this._failures % choices.length];
  }
}
