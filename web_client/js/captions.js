// CaptionsView: live captions under the grid (#captions), when the user turns them on.
//
//   #captions[role=log] > .caption[data-utterance-id][data-speaker][data-final]
//     > .caption-name, .caption-text > .settled + .unsettled
// A running utterance shows its settled words (LocalAgreement on the server) and, dimmed, the
// words still settling; its final replaces them. The latest few lines stay; an idle line fades
// out after a while.

import { el } from "./dom.js";

const MAX_LINES = 3;
const IDLE_MS = 8000;

export class CaptionsView {
  /** @param {{root: HTMLElement}} options */
  constructor({ root }) {
    this.root = root;
    this.enabled = false;
    /** @type {Map<string, {line: HTMLElement, timer: number}>} */
    this._lines = new Map();
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    this.root.hidden = !enabled;
    if (!enabled) {
      for (const { timer } of this._lines.values()) clearTimeout(timer);
      this._lines.clear();
      this.root.replaceChildren();
    }
  }

  /** A `caption` message from the server (docs/signaling.md). */
  update(caption) {
    if (!this.enabled) return;
    let entry = this._lines.get(caption.utterance_id);
    if (!entry) {
      const line = el("p", { className: "caption", dataset: { utteranceId: caption.utterance_id, speaker: caption.identity } },
        el("span", { className: "caption-name" }, caption.name || caption.identity),
        el("span", { className: "caption-text" }));
      entry = { line, timer: 0 };
      this._lines.set(caption.utterance_id, entry);
      this.root.append(line);
      while (this._lines.size > MAX_LINES) this._remove(this._lines.keys().next().value);
    }
    const settled = caption.final ? caption.text : caption.stable_text || "";
    const settledWords = settled ? settled.split(/\s+/).length : 0;
    const unsettled = caption.final ? "" : caption.text.split(/\s+/).slice(settledWords).join(" ");
    entry.line.dataset.final = String(Boolean(caption.final));
    entry.line.querySelector(".caption-text").replaceChildren(
      el("span", { className: "settled" }, settled ? `${settled} ` : ""),
      el("span", { className: "unsettled" }, unsettled));
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this._remove(caption.utterance_id), IDLE_MS);
  }

  _remove(utteranceId) {
    const entry = this._lines.get(utteranceId);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.line.remove();
    this._lines.delete(utteranceId);
  }
}
