// ChatPanel: the chat side panel (#chat). DOM only; sending goes through `onSend`.
//
//   #chat                              the panel (hidden while closed)
//   └ #chat-messages li[data-message-id]   one per message, with data-from, data-private
//                                          ("true" for a private one), data-self (your own)
//   └ #chat-form: select#chat-to (everyone, or one person privately), textarea#chat-text
//     (Enter sends, Shift+Enter is a new line), button[data-action="send-chat"]

import { el, clockTime } from "./dom.js";

// Keep the page light in a long class: the oldest messages go past this many.
const MAX_MESSAGES = 500;

export class ChatPanel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root the #chat panel, as join.html has it
   * @param {string} options.selfIdentity
   * @param {(identity: string) => string} options.nameOf a participant's display name
   * @param {(text: string, to: string|null) => boolean} options.onSend whether it went out
   * @param {() => void} options.onChange open/closed or the unread count changed
   */
  constructor({ root, selfIdentity, nameOf, onSend, onChange }) {
    this.root = root;
    this.selfIdentity = selfIdentity;
    this.nameOf = nameOf;
    this.onSend = onSend;
    this.onChange = onChange;
    this.unread = 0;
    this._ids = new Set();
    this.list = root.querySelector("#chat-messages");
    this.form = root.querySelector("#chat-form");
    this.to = root.querySelector("#chat-to");
    this.text = root.querySelector("#chat-text");
    this.counter = root.querySelector("#chat-count");
    this.hint = root.querySelector("#chat-hint");
    this.maxChars = Number(this.text.maxLength) || 2000;

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._send();
    });
    this.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this._send();
      }
    });
    this.text.addEventListener("input", () => this._updateCounter());
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close({ restoreFocus: true });
    });
    root.querySelector('[data-action="close-chat"]').addEventListener("click", () => this.close({ restoreFocus: true }));
    this._updateCounter();
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open() {
    this.root.hidden = false;
    this.unread = 0;
    this.onChange(); // shows the sidebar: only then can the text box take focus
    this.list.scrollTop = this.list.scrollHeight;
    this.text.focus();
  }

  close({ restoreFocus = false } = {}) {
    if (!this.isOpen) return;
    this.root.hidden = true;
    this.onChange();
    if (restoreFocus) document.querySelector('#controls [data-action="toggle-chat"]')?.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  /**
   * Who can be written to privately: [{identity, name}]. The select keeps its choice while that
   * person is still there.
   */
  setRecipients(people) {
    const chosen = this.to.value;
    const options = [el("option", { value: "" }, "Everyone")];
    for (const { identity, name } of people) {
      options.push(el("option", { value: identity }, `${name} (private)`));
    }
    this.to.replaceChildren(...options);
    this.to.value = people.some((p) => p.identity === chosen) ? chosen : "";
    this.to.closest("label").hidden = people.length === 0;
  }

  /** Show a `chat` message from the server (each message once, by message_id). */
  add(message) {
    const id = String(message.message_id ?? "");
    if (id && this._ids.has(id)) return;
    if (id) this._ids.add(id);
    const mine = message.from === this.selfIdentity;
    const privateTo = message.to ?? null;
    let privacy = null;
    if (privateTo) {
      const text = mine ? `Private to ${this.nameOf(privateTo)}` : "Private to you";
      privacy = el("span", { className: "chat-private" }, text);
    }
    const when = clockTime(message.ts);
    const item = el(
      "li",
      {
        className: "chat-message",
        dataset: { messageId: id, from: message.from ?? "", private: String(Boolean(privateTo)) },
        "data-self": mine ? "true" : null,
        "data-to": privateTo,
      },
      el(
        "div",
        { className: "chat-meta" },
        el("span", { className: "chat-name" }, mine ? "You" : message.name || message.from || "?"),
        privacy,
        when ? el("time", { datetime: isoOrNull(message.ts) }, when) : null,
      ),
      el("p", { className: "chat-text" }, String(message.text ?? "")),
    );
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    while (this.list.childElementCount > MAX_MESSAGES) {
      this._ids.delete(this.list.firstElementChild.dataset.messageId);
      this.list.firstElementChild.remove();
    }
    if (atBottom || mine) this.list.scrollTop = this.list.scrollHeight;
    if (!mine && !this.isOpen) {
      this.unread += 1;
      this.onChange();
    }
  }

  _send() {
    const text = this.text.value.trim();
    if (!text) return;
    if (text.length > this.maxChars) {
      this._hint(`Messages are limited to ${this.maxChars} characters.`);
      return;
    }
    if (this.onSend(text, this.to.value || null)) {
      this.text.value = "";
      this._hint("");
      this._updateCounter();
    } else {
      this._hint("Not sent: you are not connected right now.");
    }
    this.text.focus();
  }

  _hint(text) {
    this.hint.textContent = text;
    this.hint.hidden = !text;
  }

  _updateCounter() {
    const length = this.text.value.length;
    this.counter.textContent = `${length} / ${this.maxChars}`;
    this.counter.dataset.near = String(length > this.maxChars * 0.9);
  }
}

function isoOrNull(ts) {
  if (typeof ts === "string") return ts;
  if (typeof ts === "number") return new Date(ts < 1e12 ? ts * 1000 : ts).toISOString();
  return null;
}
