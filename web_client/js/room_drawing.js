// RoomDrawing: what the RoomView shows of the Classroom's state — our own tile, the others'
// tiles and their indicators, each received track in its participant's tile (or on the stage,
// for a screen share) — and which cameras the server forwards to us: only those whose tiles
// are on screen (`update_subscription`; no renegotiation). Screen shares and microphones are
// always received.

export class RoomDrawing {
  /**
   * @param {object} options
   * @param {import("./room_view.js").RoomView} options.view
   * @param {object} options.claims the token's claims: our identity, name and role
   * @param {import("./local_media.js").LocalMedia} options.media
   * @param {Map<string, object>} options.participants identity → participant, the others in the room
   * @param {() => object[]} options.routes the subscriber's routes now ([] without one)
   * @param {(message: object) => void} options.send to the server
   */
  constructor({ view, claims, media, participants, routes, send }) {
    this.view = view;
    this.claims = claims;
    this.media = media;
    this.participants = participants;
    this._routes = routes;
    this._send = send;
    /** camera sid → whether the server forwards it to us now (update_subscription) */
    this._forwarding = new Map();
  }

  get selfIdentity() {
    return this.claims.identity;
  }

  /** Our own tile: the camera preview and the mute indicators. */
  showSelf() {
    const { identity, name, role } = this.claims;
    this.view.showParticipant({ identity, name, role }, { isSelf: true });
    this.view.setIndicators(identity, {
      micMuted: !this.media.micTrack || !this.media.micEnabled,
      cameraOff: !this.media.cameraTrack || !this.media.cameraEnabled,
    });
    this.view.setMedia(identity, { video: this.media.cameraTrack });
  }

  /** Another participant's tile and indicators, from what the server says of its tracks. */
  showParticipant(participant) {
    this.view.showParticipant(participant);
    const live = (source) => (participant.tracks ?? []).some((t) => t.source === source && !t.muted);
    this.view.setIndicators(participant.identity, {
      micMuted: !live("microphone"), cameraOff: !live("camera"), connectionLost: participant.connection === "lost",
    });
  }

  /** Put each received track in its participant's tile (or on the stage, for screens). */
  applyRoutes(routes) {
    const byIdentity = new Map();
    for (const route of routes) {
      if (!byIdentity.has(route.identity)) byIdentity.set(route.identity, {});
      byIdentity.get(route.identity)[route.source] = route.track;
    }
    for (const [identity, sources] of byIdentity) {
      if (!this.view.has(identity)) {
        // The offer can arrive before participant_joined: show a placeholder tile.
        this.showParticipant(this.participants.get(identity) ?? { identity, name: identity, role: "student", tracks: [] });
      }
      this.view.setMedia(identity, { video: sources.camera ?? null, audio: sources.microphone ?? null });
      const name = this.participants.get(identity)?.name ?? identity;
      this.view.setScreen(identity, sources.screen ?? null, `${name}'s screen`);
    }
    for (const identity of this.view.identities()) {
      if (identity !== this.selfIdentity && !byIdentity.has(identity)) this.view.setMedia(identity, {});
    }
    for (const identity of this.view.screenIdentities()) {
      if (identity !== this.selfIdentity && !byIdentity.get(identity)?.screen) this.view.setScreen(identity, null);
    }
    const current = new Set(routes.map((route) => route.sid));
    for (const sid of this._forwarding.keys()) if (!current.has(sid)) this._forwarding.delete(sid);
    // Each offer states what is forwarded now (`enabled`): start again from that.
    for (const route of routes) this._forwarding.set(route.sid, route.enabled);
    this.syncForwarding();
  }

  /** Ask the server to forward only the cameras whose tiles are on screen. */
  syncForwarding() {
    const changes = { true: [], false: [] };
    for (const route of this._routes()) {
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
      if (sids.length) this._send({ type: "update_subscription", sids, enabled });
    }
  }

  /** The peer connections closed: what the server forwarded no longer holds. */
  forget() {
    this._forwarding.clear();
  }
}
