// ReactionPicker: the control bar's reaction button and its small menu (#reactions).
//
//   button[data-action="toggle-reactions"][aria-expanded]   opens the menu
//   #reactions button[data-action="react"][data-emoji="👍"]  one per reaction
// Keyboard: arrows / Home / End move between reactions, Enter or Space sends one,
// Escape closes and returns to the button.

import { el } from "./dom.js";

const NAMES = { "👍": "Thumbs up", "👏": "Clap", "😂": "Laugh", "😮": "Surprised", "❤️": "Heart", "🎉": "Celebrate", "🤔": "Thinking" };

export class ReactionPicker {
  /**
   * @param {object} options
   * @param {HTMLButtonElement} options.button
   * @param {HTMLElement} options.menu
   * @param {string[]} options.reactions
   * @param {(emoji: string) => void} options.onPick
   */
  constructor({ button, menu, reactions, onPick }) {
    this.button = button;
    this.menu = menu;
    this.onPick = onPick;
    menu.replaceChildren(
      ...reactions.map((emoji) =>
        el(
          "button",
          {
            type: "button",
            role: "menuitem",
            tabindex: "-1",
            dataset: { action: "react", emoji },
            "aria-label": NAMES[emoji] ?? emoji,
            title: NAMES[emoji] ?? emoji,
            onclick: () => {
              this.onPick(emoji);
              this.close({ restoreFocus: true });
            },
          },
          emoji,
        ),
      ),
    );
    button.setAttribute("aria-haspopup", "menu");
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", menu.id);
    button.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        event.preventDefault();
        this.open();
      }
    });
    menu.addEventListener("keydown", (event) => this._onKey(event));
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !menu.contains(event.target) && !button.contains(event.target)) this.close();
    });
    menu.addEventListener("focusout", (event) => {
      if (this.isOpen && !menu.contains(event.relatedTarget) && event.relatedTarget !== button && event.relatedTarget) this.close();
    });
  }

  get isOpen() {
    return !this.menu.hidden;
  }

  get items() {
    return [...this.menu.querySelectorAll('[role="menuitem"]')];
  }

  open() {
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.items[0]?.focus();
  }

  close({ restoreFocus = false } = {}) {
    if (!this.isOpen) return;
    this.menu.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (restoreFocus) this.button.focus();
  }

  _onKey(event) {
    const items = this.items;
    const index = items.indexOf(document.activeElement);
    const move = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (move) {
      event.preventDefault();
      items[(index + move + items.length) % items.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.close({ restoreFocus: true });
    } else if (event.key === "Tab") {
      this.close();
    }
  }
}
