// The room's DOM: one tile per participant, and a stage for screen shares.
//
// Public DOM contract (tests and kiosks rely on it):
//   tile:    [data-identity="<identity>"]  with data-role, data-self (own tile),
//            data-mic-muted, data-camera-off, data-speaking ("true" / "false"),
//            data-visible ("false" once scrolled out of view: its video is then paused),
//            data-hand ("true" while the participant's hand is raised: a hand .tile-hand shows)
//            └ video   the participant's camera (always muted; autoplay, playsinline)
//            └ audio   the participant's microphone (remote tiles only)
//            └ button[data-action="moderate-mute"], button[data-action="moderate-remove"]
//              (moderators only, on students' and observers' tiles)
//            └ .tile-reaction  a received reaction, floating for a few seconds
//   screen:  [data-screen-of="<identity>"] video   inside #stage
// RoomView only draws: it holds no connection state and sends nothing itself.

import { icon } from "./icons.js";

const REACTION_MS = 2600;
const MAX_FLOATING_REACTIONS = 6;

export class RoomView {
  /**
   * @param {object} options
   * @param {HTMLElement} options.grid where tiles go
   * @param {HTMLElement} options.stage where screen shares go
   * @param {(action: string, identity: string) => void} options.onModerate
   * @param {() => void} options.onAutoplayBlocked a remote <audio> may not play without a click
   * @param {(identity: string, visible: boolean) => void} [options.onVisibility] a remote
   *        tile scrolled into or out of view (so its video can be paused)
   */
  constructor({ grid, stage, onModerate, onAutoplayBlocked, onVisibility }) {
    this.grid = grid;
    this.stage = stage;
    this._onModerate = onModerate;
    this._onAutoplayBlocked = onAutoplayBlocked;
    this._moderator = false;
    /** identity → tile element */
    this._tiles = new Map();
    /** identities whose hand is raised */
    this._hands = new Set();
    this._observer =
      onVisibility && "IntersectionObserver" in window
        ? new IntersectionObserver((entries) => {
            for (const entry of entries) {
              const tile = entry.target;
              const visible = entry.isIntersecting;
              if (tile.dataset.visible === String(visible)) continue;
              tile.dataset.visible = String(visible);
              onVisibility(tile.dataset.identity, visible);
            }
          })
        : null;
  }

  /** Whether the participant's tile is on screen (true until the browser says otherwise). */
  isVisible(identity) {
    return this._tiles.get(identity)?.dataset.visible !== "false";
  }

  /** Show or hide the moderation buttons on every tile. */
  setModerator(isModerator) {
    this._moderator = isModerator;
    for (const tile of this._tiles.values()) this._renderModeration(tile);
  }

  has(identity) {
    return this._tiles.has(identity);
  }

  identities() {
    return [...this._tiles.keys()];
  }

  /** Create or update the tile of `participant` ({identity, name, role}). */
  showParticipant(participant, { isSelf = false } = {}) {
    let tile = this._tiles.get(participant.identity);
    if (!tile) {
      tile = this._createTile(participant.identity, isSelf);
      this._tiles.set(participant.identity, tile);
      if (isSelf) this.grid.prepend(tile);
      else {
        this.grid.append(tile);
        this._observer?.observe(tile);
      }
    }
    tile.dataset.hand = String(this._hands.has(participant.identity));
    const name = participant.name || participant.identity;
    const role = participant.role || "student";
    tile.dataset.role = role;
    tile.querySelector(".tile-name").textContent = isSelf ? `${name} (you)` : name;
    tile.querySelector(".tile-badge").textContent = role === "student" ? "" : role;
    tile.querySelector(".tile-avatar").textContent = initials(name);
    tile.setAttribute("aria-label", isSelf ? `${name} (you)` : `${name}, ${role}`);
    tile.aulaName = name;
    this._renderModeration(tile);
    this._updateCount();
    return tile;
  }

  /** Show whether the participant's microphone is muted, camera is off, and whether the
   * server has lost its network (its picture is frozen until it comes back). */
  setIndicators(identity, { micMuted, cameraOff, connectionLost = false }) {
    const tile = this._tiles.get(identity);
    if (!tile) return;
    tile.dataset.micMuted = String(Boolean(micMuted));
    tile.dataset.cameraOff = String(Boolean(cameraOff));
    tile.dataset.connection = connectionLost ? "lost" : "ok";
  }

  removeParticipant(identity) {
    const tile = this._tiles.get(identity);
    if (tile) {
      this._observer?.unobserve(tile);
      detach(tile.querySelector("video"));
      detach(tile.querySelector("audio"));
      tile.remove();
      this._tiles.delete(identity);
    }
    this.setScreen(identity, null);
    this._updateCount();
  }

  /** Play `video` (camera) and `audio` (microphone) tracks in the participant's tile. */
  setMedia(identity, { video = null, audio = null }) {
    const tile = this._tiles.get(identity);
    if (!tile) return;
    attach(tile.querySelector("video"), video);
    const audioElement = tile.querySelector("audio");
    if (audioElement && attach(audioElement, audio) && audio) {
      audioElement.play().catch(() => this._onAutoplayBlocked?.());
    }
  }

  /** Show `track` as the participant's screen share on the stage; null removes it. */
  setScreen(identity, track, label) {
    let figure = this._screenOf(identity);
    if (!track) {
      if (figure) {
        detach(figure.querySelector("video"));
        figure.remove();
      }
      this.stage.hidden = !this.stage.querySelector("[data-screen-of]");
      return;
    }
    if (!figure) {
      figure = document.createElement("figure");
      figure.className = "screen";
      figure.dataset.screenOf = identity;
      const video = mediaElement("video");
      const caption = document.createElement("figcaption");
      figure.append(video, caption);
      this.stage.append(figure);
    }
    figure.querySelector("figcaption").textContent = label;
    attach(figure.querySelector("video"), track);
    this.stage.hidden = false;
  }

  /** The identities on stage now. */
  screenIdentities() {
    return [...this.stage.querySelectorAll("[data-screen-of]")].map((el) => el.dataset.screenOf);
  }

  /** Highlight the tiles of the identities speaking now. */
  setSpeakers(identities) {
    const speaking = new Set(identities);
    for (const [identity, tile] of this._tiles) tile.dataset.speaking = String(speaking.has(identity));
  }

  /** Show the ✋ on the tiles of the identities whose hand is raised. */
  setHands(identities) {
    this._hands = new Set(identities);
    for (const [identity, tile] of this._tiles) tile.dataset.hand = String(this._hands.has(identity));
  }

  /** Float `emoji` over the participant's tile for a moment. */
  showReaction(identity, emoji, name = identity) {
    const tile = this._tiles.get(identity);
    if (!tile || typeof emoji !== "string") return;
    const layer = tile.querySelector(".tile-reactions");
    while (layer.childElementCount >= MAX_FLOATING_REACTIONS) layer.firstElementChild.remove();
    const float = document.createElement("span");
    float.className = "tile-reaction";
    float.dataset.emoji = emoji;
    float.setAttribute("role", "img");
    float.setAttribute("aria-label", `${name} reacted ${emoji}`);
    float.textContent = emoji;
    float.style.setProperty("--drift", `${Math.round(Math.random() * 60 - 30)}px`);
    layer.append(float);
    setTimeout(() => float.remove(), REACTION_MS);
  }

  /** Remove every tile and screen. */
  clear() {
    for (const identity of this.identities()) this.removeParticipant(identity);
    for (const identity of this.screenIdentities()) this.setScreen(identity, null);
  }

  _screenOf(identity) {
    return [...this.stage.querySelectorAll("[data-screen-of]")].find((el) => el.dataset.screenOf === identity) ?? null;
  }

  _createTile(identity, isSelf) {
    const tile = document.createElement("article");
    tile.className = "tile";
    tile.dataset.identity = identity;
    tile.dataset.micMuted = "false";
    tile.dataset.cameraOff = "false";
    tile.dataset.speaking = "false";
    tile.dataset.hand = "false";
    if (isSelf) tile.dataset.self = "true";

    const video = mediaElement("video");
    const avatar = document.createElement("div");
    avatar.className = "tile-avatar";
    avatar.setAttribute("aria-hidden", "true");
    tile.append(video, avatar);
    if (!isSelf) {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      tile.append(audio);
    }

    const bar = document.createElement("div");
    bar.className = "tile-bar";
    const name = document.createElement("span");
    name.className = "tile-name";
    const badge = document.createElement("span");
    badge.className = "tile-badge";
    const micOff = indicator("micOff", "mic-off", "Microphone muted");
    const cameraOff = indicator("cameraOff", "camera-off", "Camera off");
    bar.append(name, badge, micOff, cameraOff);

    const hand = document.createElement("span");
    hand.className = "tile-hand";
    hand.setAttribute("role", "img");
    hand.setAttribute("aria-label", "Hand raised");
    hand.title = "Hand raised";
    hand.append(icon("hand"));
    const reactions = document.createElement("div");
    reactions.className = "tile-reactions";

    const moderation = document.createElement("div");
    moderation.className = "tile-moderation";
    tile.append(hand, reactions, bar, moderation);
    return tile;
  }

  _renderModeration(tile) {
    const box = tile.querySelector(".tile-moderation");
    const wanted = this._moderator && !tile.dataset.self && tile.dataset.role !== "instructor";
    if (!wanted) {
      box.replaceChildren();
      return;
    }
    const name = tile.aulaName || tile.dataset.identity;
    if (!box.childElementCount) {
      box.append(
        this._moderationButton(tile, "moderate-mute", "micOff", "Mute"),
        this._moderationButton(tile, "moderate-remove", "remove", "Remove"),
      );
    }
    box.querySelector('[data-action="moderate-mute"]').setAttribute("aria-label", `Mute ${name}'s microphone`);
    box.querySelector('[data-action="moderate-remove"]').setAttribute("aria-label", `Remove ${name} from the class`);
  }

  _moderationButton(tile, action, iconName, text) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = action;
    button.append(icon(iconName), document.createTextNode(text));
    button.addEventListener("click", () => this._onModerate(action.replace("moderate-", ""), tile.dataset.identity));
    return button;
  }

  _updateCount() {
    this.grid.dataset.count = String(this._tiles.size);
  }
}

function mediaElement(tag) {
  const element = document.createElement(tag);
  element.autoplay = true;
  element.playsInline = true;
  element.muted = true;
  element.setAttribute("playsinline", "");
  element.setAttribute("muted", "");
  return element;
}

/** Point `element` at `track` (or nothing). Returns whether anything changed. */
function attach(element, track) {
  if (!element) return false;
  const current = element.srcObject?.getTracks?.()[0] ?? null;
  if (current === track) return false;
  element.srcObject = track ? new MediaStream([track]) : null;
  if (track && element.tagName === "VIDEO") element.play().catch(() => {});
  return true;
}

function detach(element) {
  if (element) element.srcObject = null;
}

function indicator(iconName, className, label) {
  const span = document.createElement("span");
  span.className = `tile-indicator ${className}`;
  span.setAttribute("role", "img");
  span.setAttribute("aria-label", label);
  span.title = label;
  span.append(icon(iconName));
  return span;
}

function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => w[0].toUpperCase()).join("") || "?";
}
