// Polls on the page: the card everyone sees (#poll), the moderator's "new poll" dialog
// (#poll-dialog), and the results list both they and the live panel draw.
//
//   #poll[data-state="running|ended"]
//   └ students, running:   button[data-option="<i>"][aria-pressed]   (answer; again to change)
//   └ moderators, running: .poll-results li[data-option="<i>"] (live counts),
//                          button[data-action="end-poll"]
//   └ ended (everyone):    .poll-results li[data-option="<i>"] with data-correct="true" on the
//                          right answer and data-yours="true" on yours;
//                          button[data-action="dismiss-poll"]
//   #poll-dialog form#poll-form: input[name="question"], input[name="option"] (2–8),
//     input[type=radio][name="correct"] (value "" = no correct answer, else the option's
//     index), button[data-action="add-option"], button[data-action="remove-option"],
//     button[data-action="start-poll"] (submit), button[data-action="cancel-poll"]

import { el } from "./dom.js";

const LETTERS = "ABCDEFGH";
export const optionLabel = (index) => LETTERS[index] ?? String(index + 1);

/** The results of `poll` as a list: one li[data-option] per option, with a bar and the count. */
export function renderResults(poll, { showCorrect = true, compact = false } = {}) {
  const counts = poll.counts ?? poll.options.map(() => 0);
  const total = counts.reduce((sum, n) => sum + (Number(n) || 0), 0);
  const list = el("ol", { className: compact ? "poll-results compact" : "poll-results", "aria-label": `Results: ${poll.question}` });
  poll.options.forEach((option, index) => {
    const count = Number(counts[index]) || 0;
    const percent = total ? Math.round((count / total) * 100) : 0;
    const correct = showCorrect && poll.correct === index;
    const yours = poll.yourAnswer === index;
    const notes = [correct ? "correct answer" : null, yours ? "your answer" : null].filter(Boolean);
    list.append(
      el(
        "li",
        {
          dataset: { option: String(index), count: String(count) },
          title: compact ? `${optionLabel(index)}. ${option}: ${count}` : null,
          "data-correct": correct ? "true" : null,
          "data-yours": yours ? "true" : null,
        },
        el(
          "div",
          { className: "poll-result-line" },
          el("span", { className: "poll-letter", "aria-hidden": "true" }, optionLabel(index)),
          el("span", { className: compact ? "poll-option-text visually-hidden" : "poll-option-text" }, option),
          correct ? el("span", { className: "poll-mark poll-mark-correct", title: "Correct answer" }, "✓") : null,
          yours ? el("span", { className: "poll-mark poll-mark-yours" }, "yours") : null,
          el("span", { className: "poll-count" }, compact ? String(count) : `${count} (${percent}%)`),
        ),
        compact ? null : el("div", { className: "poll-bar", "aria-hidden": "true" }, el("span", { style: `width: ${percent}%` })),
        notes.length ? el("span", { className: "visually-hidden" }, `, ${notes.join(", ")}`) : null,
      ),
    );
  });
  return list;
}

/** "12 of 28 answered", when the server said. */
export function answeredText(poll) {
  if (poll.answered === null || poll.answered === undefined) return "Waiting for answers…";
  return poll.eligible ? `${poll.answered} of ${poll.eligible} answered` : `${poll.answered} answered`;
}

export class PollCard {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root the #poll section
   * @param {(option: number) => void} options.onAnswer
   * @param {() => void} options.onEnd
   * @param {() => void} options.onDismiss
   */
  constructor({ root, onAnswer, onEnd, onDismiss }) {
    this.root = root;
    this.onAnswer = onAnswer;
    this.onEnd = onEnd;
    this.onDismiss = onDismiss;
    this.title = root.querySelector("#poll-title");
    this.body = root.querySelector(".poll-body");
  }

  render(poll, { moderator }) {
    if (!poll) {
      this.root.hidden = true;
      delete this.root.dataset.state;
      this.body.replaceChildren();
      return;
    }
    const focused = focusKey(this.root);
    this.root.hidden = false;
    this.root.dataset.state = poll.status;
    this.root.dataset.pollId = poll.poll_id;
    const running = poll.status === "running";
    this.title.textContent = running ? "Poll" : "Poll results";
    const question = el("p", { className: "poll-question", id: "poll-question" }, poll.question);
    const parts = [question];

    if (running && !moderator) {
      const group = el("div", { className: "poll-options", role: "group", "aria-labelledby": "poll-question" });
      poll.options.forEach((option, index) => {
        const chosen = poll.yourAnswer === index;
        group.append(
          el(
            "button",
            {
              type: "button",
              className: "poll-option",
              dataset: { option: String(index) },
              "aria-pressed": String(chosen),
              onclick: () => this.onAnswer(index),
            },
            el("span", { className: "poll-letter", "aria-hidden": "true" }, optionLabel(index)),
            el("span", { className: "poll-option-text" }, option),
          ),
        );
      });
      parts.push(group);
      parts.push(
        el(
          "p",
          { className: "poll-status", role: "status" },
          poll.yourAnswer === null
            ? "Choose an answer. You can change it until the poll ends."
            : `You answered ${optionLabel(poll.yourAnswer)}. You can change it until the poll ends.`,
        ),
      );
    } else if (running) {
      parts.push(renderResults(poll));
      parts.push(el("p", { className: "poll-status", "aria-live": "polite" }, answeredText(poll)));
      parts.push(
        el(
          "div",
          { className: "poll-actions" },
          el("button", { type: "button", className: "danger", dataset: { action: "end-poll" }, onclick: () => this.onEnd() }, "End poll"),
        ),
      );
    } else {
      parts.push(renderResults(poll));
      parts.push(el("p", { className: "poll-status" }, endedText(poll, moderator)));
      parts.push(
        el(
          "div",
          { className: "poll-actions" },
          el("button", { type: "button", dataset: { action: "dismiss-poll" }, onclick: () => this.onDismiss() }, "Close"),
        ),
      );
    }
    this.body.replaceChildren(...parts);
    restoreFocus(this.root, focused);
  }
}

function endedText(poll, moderator) {
  if (moderator) {
    return poll.correct === null ? "The poll is over." : `The poll is over. The answer was ${optionLabel(poll.correct)}.`;
  }
  if (poll.yourAnswer === null || poll.yourAnswer === undefined) {
    return poll.correct === null ? "The poll is over. You did not answer." : `The poll is over. The answer was ${optionLabel(poll.correct)}; you did not answer.`;
  }
  if (poll.correct === null) return `The poll is over. You answered ${optionLabel(poll.yourAnswer)}.`;
  return poll.yourAnswer === poll.correct
    ? `You answered ${optionLabel(poll.yourAnswer)}: correct!`
    : `You answered ${optionLabel(poll.yourAnswer)}; the answer was ${optionLabel(poll.correct)}.`;
}

export class PollDialog {
  /**
   * @param {object} options
   * @param {HTMLDialogElement} options.dialog #poll-dialog
   * @param {number} options.minOptions
   * @param {number} options.maxOptions
   * @param {(poll: {question: string, options: string[], correct: number|null}) => boolean} options.onCreate
   */
  constructor({ dialog, minOptions, maxOptions, onCreate }) {
    this.dialog = dialog;
    this.form = dialog.querySelector("#poll-form");
    this.rows = dialog.querySelector("#poll-options");
    this.error = dialog.querySelector("#poll-error");
    this.min = minOptions;
    this.max = maxOptions;
    this.onCreate = onCreate;
    this._opener = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._submit();
    });
    dialog.querySelector('[data-action="add-option"]').addEventListener("click", () => {
      this._addRow("");
      this.rows.lastElementChild.querySelector('input[name="option"]').focus();
    });
    dialog.querySelector('[data-action="cancel-poll"]').addEventListener("click", () => this.close());
    dialog.addEventListener("close", () => this._opener?.focus());
  }

  open(opener = null) {
    this._opener = opener;
    this.form.reset();
    this.rows.replaceChildren();
    for (let i = 0; i < this.min; i += 1) this._addRow("");
    this._showError("");
    this.dialog.showModal();
    this.form.querySelector('input[name="question"]').focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  _addRow(text) {
    if (this.rows.childElementCount >= this.max) return;
    const row = el(
      "li",
      { className: "poll-option-row" },
      el("input", { type: "radio", name: "correct", value: "0" }),
      el("input", { type: "text", name: "option", maxlength: "200", autocomplete: "off", value: text }),
      el("button", { type: "button", className: "icon-button", dataset: { action: "remove-option" } }, "×"),
    );
    row.querySelector('[data-action="remove-option"]').addEventListener("click", () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      this._renumber();
      next?.querySelector('input[name="option"]').focus();
    });
    this.rows.append(row);
    this._renumber();
  }

  /** Labels, radio values and the add/remove buttons follow the rows' order and count. */
  _renumber() {
    const rows = [...this.rows.children];
    rows.forEach((row, index) => {
      const letter = optionLabel(index);
      row.dataset.option = String(index);
      row.querySelector('input[type="radio"]').value = String(index);
      row.querySelector('input[type="radio"]').setAttribute("aria-label", `Option ${letter} is the correct answer`);
      row.querySelector('input[name="option"]').setAttribute("aria-label", `Option ${letter}`);
      row.querySelector('input[name="option"]').placeholder = `Option ${letter}`;
      const remove = row.querySelector('[data-action="remove-option"]');
      remove.setAttribute("aria-label", `Remove option ${letter}`);
      remove.disabled = rows.length <= this.min;
    });
    this.dialog.querySelector('[data-action="add-option"]').disabled = rows.length >= this.max;
  }

  _submit() {
    const question = this.form.elements.question.value.trim();
    const options = [];
    let correct = null;
    for (const row of this.rows.children) {
      const text = row.querySelector('input[name="option"]').value.trim();
      if (!text) continue;
      if (row.querySelector('input[type="radio"]').checked) correct = options.length;
      options.push(text);
    }
    if (!question) return this._showError("Write a question.");
    if (options.length < this.min) return this._showError(`Give at least ${this.min} options.`);
    if (new Set(options).size !== options.length) return this._showError("Two options are the same.");
    if (!this.onCreate({ question, options, correct })) return this._showError("Not started: you are not connected right now.");
    this.close();
  }

  _showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }
}

/** What has focus inside `root`, as a selector that finds it again after a redraw. */
export function focusKey(root) {
  const active = document.activeElement;
  if (!active || !root.contains(active) || active === root) return null;
  const parts = [];
  if (active.dataset.action) parts.push(`[data-action="${active.dataset.action}"]`);
  if (active.dataset.option) parts.push(`[data-option="${active.dataset.option}"]`);
  const row = active.closest("[data-identity]");
  return { selector: parts.join("") || null, identity: row?.dataset.identity ?? null };
}

export function restoreFocus(root, key) {
  if (!key?.selector || root.contains(document.activeElement)) return;
  const candidates = [...root.querySelectorAll(key.selector)];
  const target = (key.identity && candidates.find((c) => c.closest("[data-identity]")?.dataset.identity === key.identity)) || candidates[0];
  (target ?? root).focus?.();
}
