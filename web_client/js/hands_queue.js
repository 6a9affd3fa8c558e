// HandsQueue: the moderators' list of raised hands (#hands), oldest first.
//
//   #hands li[data-identity="<identity>"]  one per raised hand, in the server's order
//   └ button[data-action="lower-hand"]      lower that hand (`moderate` `lower_hand`)

import { el, clockTime } from "./dom.js";
import { icon } from "./icons.js";
import { focusKey, restoreFocus } from "./poll_view.js";

export class HandsQueue {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root the #hands section
   * @param {(identity: string) => void} options.onLower
   */
  constructor({ root, onLower }) {
    this.root = root;
    this.onLower = onLower;
    this.list = root.querySelector("#hands-list");
    this.count = root.querySelector("#hands-count");
  }

  /** Draw `queue` ([{identity, name, raised_at}]); only moderators see the list. */
  render(queue, { moderator }) {
    const focused = focusKey(this.root);
    const focusedIndex = focused?.identity ? [...this.list.children].findIndex((li) => li.dataset.identity === focused.identity) : -1;
    this.root.hidden = !moderator || queue.length === 0;
    this.count.textContent = queue.length ? `(${queue.length})` : "";
    this.list.replaceChildren(
      ...queue.map((hand, index) => {
        const name = hand.name || hand.identity;
        const raised = clockTime(hand.raised_at);
        return el(
          "li",
          { dataset: { identity: hand.identity } },
          el("span", { className: "hand-order", "aria-hidden": "true" }, `${index + 1}.`),
          el("span", { className: "hand-emoji", "aria-hidden": "true" }, icon("hand")),
          el("span", { className: "hand-name" }, name),
          raised ? el("span", { className: "hand-time" }, raised) : null,
          el(
            "button",
            {
              type: "button",
              dataset: { action: "lower-hand" },
              "aria-label": `Lower ${name}'s hand`,
              onclick: () => this.onLower(hand.identity),
            },
            "Lower",
          ),
        );
      }),
    );
    if (!focused) return;
    if (this.list.querySelector(`li[data-identity="${CSS.escape(focused.identity ?? "")}"]`)) {
      restoreFocus(this.root, focused);
    } else if (!this.root.contains(document.activeElement) || document.activeElement === document.body) {
      // The hand we just lowered is gone: go on to the next one in line (or the controls).
      const next = this.list.children[Math.min(Math.max(focusedIndex, 0), this.list.childElementCount - 1)];
      (next?.querySelector("button") ?? document.querySelector('#controls [data-action="toggle-panel"]'))?.focus();
    }
  }
}
