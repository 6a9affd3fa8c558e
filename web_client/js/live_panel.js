// LivePanel: the instructor's live view of the class (#panel), from the `engagement` message
// (every 5 s, moderators only) and the running poll's live results.
//
//   #panel tr[data-identity="<identity>"]  one row per participant, with data-role,
//     data-speaking, data-camera-on, data-away ("true" when the page is hidden), data-hand,
//     data-score (empty for people without one)
//   └ button[data-action="score-parts"][aria-expanded]  the score; hovering shows its parts,
//     pressing it opens tr.score-parts-row[data-parts-of="<identity>"] just below the row
//   #panel-poll  the running (or just ended) poll's results, compact
// Rows are updated in place (an opened score stays open); the sort is the viewer's choice.

import { el, duration } from "./dom.js";
import { icon } from "./icons.js";
import { renderResults, answeredText } from "./poll_view.js";

const PART_NAMES = { talk: "Talk", chat: "Chat", hands: "Hands", reactions: "Reactions", polls: "Polls" };

const SORTS = {
  name: (a, b) => roleRank(a) - roleRank(b) || nameOf(a).localeCompare(nameOf(b)),
  score: (a, b) => roleRank(a) - roleRank(b) || (a.score ?? Infinity) - (b.score ?? Infinity) || nameOf(a).localeCompare(nameOf(b)),
  talk: (a, b) => (b.talk_time_s ?? 0) - (a.talk_time_s ?? 0) || nameOf(a).localeCompare(nameOf(b)),
  attention: (a, b) => attentionRank(b) - attentionRank(a) || nameOf(a).localeCompare(nameOf(b)),
};

export class LivePanel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root the #panel section
   */
  constructor({ root }) {
    this.root = root;
    this.body = root.querySelector("#panel-rows");
    this.summary = root.querySelector("#panel-summary");
    this.pollBox = root.querySelector("#panel-poll");
    this.empty = root.querySelector("#panel-empty");
    this.sort = root.querySelector("#panel-sort");
    /** identity → <tr> */
    this._rows = new Map();
    /** identity → the <tr> under it with the score's parts */
    this._partsRows = new Map();
    /** identities whose score parts are open */
    this._expanded = new Set();
    this._last = { participants: [], speakers: [], poll: null };
    this.sort.addEventListener("change", () => this.render(this._last));
  }

  get isOpen() {
    return !this.root.hidden;
  }

  /**
   * @param {object} data
   * @param {object[]} data.participants the `engagement` rows
   * @param {string[]} data.speakers who the SFU says speaks right now (active_speakers)
   * @param {object|null} data.poll the classroom's poll
   */
  render({ participants, speakers, poll }) {
    this._last = { participants, speakers, poll };
    this._renderPoll(poll);
    const speakingNow = new Set(speakers);
    const rows = participants.map((p) => ({ ...p, speaking: Boolean(p.speaking) || speakingNow.has(p.identity) }));
    this.empty.hidden = rows.length > 0;

    const seen = new Set();
    for (const row of rows) {
      seen.add(row.identity);
      let tr = this._rows.get(row.identity);
      if (!tr) {
        tr = this._createRow(row.identity);
        this._rows.set(row.identity, tr);
      }
      updateRow(tr, this._partsRows.get(row.identity), row, this._expanded.has(row.identity));
    }
    for (const [identity, tr] of this._rows) {
      if (!seen.has(identity)) {
        tr.remove();
        this._partsRows.get(identity).remove();
        this._rows.delete(identity);
        this._partsRows.delete(identity);
      }
    }
    const wanted = [...rows]
      .sort(SORTS[this.sort.value] ?? SORTS.name)
      .flatMap((row) => [this._rows.get(row.identity), this._partsRows.get(row.identity)]);
    const current = [...this.body.children];
    if (wanted.length !== current.length || wanted.some((tr, i) => tr !== current[i])) {
      // Only move rows when the order changed: a moved row would lose keyboard focus.
      for (const tr of wanted) this.body.append(tr);
    }

    const students = rows.filter((r) => r.role === "student" || r.role === undefined);
    const away = rows.filter((r) => r.visible === false).length;
    const hands = rows.filter((r) => r.hand_raised).length;
    const speaking = rows.filter((r) => r.speaking).length;
    const cameras = rows.filter((r) => r.camera_on).length;
    this.summary.textContent = rows.length
      ? `${rows.length} in class (${students.length} students) · ${away} away · ${hands} ${hands === 1 ? "hand" : "hands"} up · ${speaking} speaking · ${cameras} cameras on`
      : "";
  }

  /** Re-draw with the last data (e.g. the active speakers changed). */
  refresh({ speakers, poll }) {
    this.render({ ...this._last, speakers: speakers ?? this._last.speakers, poll: poll === undefined ? this._last.poll : poll });
  }

  _renderPoll(poll) {
    if (!poll) {
      this.pollBox.hidden = true;
      this.pollBox.replaceChildren();
      return;
    }
    this.pollBox.hidden = false;
    this.pollBox.dataset.state = poll.status;
    this.pollBox.replaceChildren(
      el("h3", {}, poll.status === "running" ? `Poll · ${answeredText(poll)}` : "Poll · ended"),
      el("p", { className: "poll-question" }, poll.question),
      renderResults(poll, { compact: true }),
    );
  }

  _createRow(identity) {
    const tr = createRow(identity);
    const parts = el("tr", { className: "score-parts-row", dataset: { partsOf: identity }, hidden: true }, el("td", { colspan: "6" }));
    parts.id = `score-parts-${this._rows.size + 1}-${Math.random().toString(36).slice(2, 8)}`;
    this._partsRows.set(identity, parts);
    const button = tr.querySelector('[data-action="score-parts"]');
    button.setAttribute("aria-controls", parts.id);
    button.addEventListener("click", () => {
      const open = !this._expanded.has(identity);
      if (open) this._expanded.add(identity);
      else this._expanded.delete(identity);
      button.setAttribute("aria-expanded", String(open));
      parts.hidden = !open;
    });
    return tr;
  }
}

function createRow(identity) {
  const tr = el(
    "tr",
    { dataset: { identity } },
    el(
      "th",
      { scope: "row" },
      el(
        "div",
        { className: "cell-name" },
        el("span", { className: "speaking-dot", role: "img" }),
        el("span", { className: "row-name" }),
        el("span", { className: "row-role pill" }),
      ),
    ),
    el("td", { className: "cell-talk" }),
    el("td", { className: "cell-camera" }),
    el("td", { className: "cell-tab" }),
    el("td", { className: "cell-hand" }, el("span", { className: "hand-icon", role: "img", "aria-label": "hand raised" }, icon("hand"))),
    el(
      "td",
      { className: "cell-score" },
      el("button", { type: "button", className: "score-button", dataset: { action: "score-parts" }, "aria-expanded": "false" }),
      el("span", { className: "no-score" }, "—"),
    ),
  );
  return tr;
}

function updateRow(tr, partsRow, row, expanded) {
  const name = nameOf(row);
  const away = row.visible === false;
  const hasScore = typeof row.score === "number";
  const parts = row.score_parts && typeof row.score_parts === "object" ? row.score_parts : {};
  tr.dataset.role = row.role ?? "student";
  tr.dataset.speaking = String(Boolean(row.speaking));
  tr.dataset.cameraOn = String(Boolean(row.camera_on));
  tr.dataset.away = String(away);
  tr.dataset.hand = String(Boolean(row.hand_raised));
  tr.dataset.score = hasScore ? String(Math.round(row.score)) : "";

  const nameCell = tr.querySelector(".row-name");
  setText(nameCell, name);
  nameCell.title = name;
  setText(tr.querySelector(".row-role"), row.role && row.role !== "student" ? row.role : "");
  const dot = tr.querySelector(".speaking-dot");
  dot.setAttribute("aria-label", row.speaking ? "speaking" : "not speaking");
  setText(tr.querySelector(".cell-talk"), duration(row.talk_time_s));
  setText(tr.querySelector(".cell-camera"), row.camera_on ? "On" : "Off");
  setText(tr.querySelector(".cell-tab"), away ? "Away" : "Here");
  tr.querySelector(".hand-icon").hidden = !row.hand_raised;

  const cell = tr.querySelector(".cell-score");
  const button = cell.querySelector("button");
  button.hidden = !hasScore;
  cell.querySelector(".no-score").hidden = hasScore;
  partsRow.hidden = !hasScore || !expanded;
  if (!hasScore) return;
  const entries = Object.entries(parts);
  const score = String(Math.round(row.score));
  setText(button, score);
  const breakdown = entries.map(([part, points]) => `${PART_NAMES[part] ?? part} ${formatPoints(points)}`).join(" · ");
  button.title = breakdown ? `${name}: ${breakdown} (of 20 each)` : "";
  button.setAttribute("aria-label", `${name}'s score ${score} of 100, show its parts`);
  const key = JSON.stringify(entries);
  if (partsRow.dataset.key !== key) {
    partsRow.dataset.key = key;
    partsRow.firstElementChild.replaceChildren(
      el(
        "ul",
        { className: "score-parts", "aria-label": `${name}'s score parts, out of 20 each` },
        entries.map(([part, points]) =>
          el("li", { dataset: { part } }, el("span", {}, PART_NAMES[part] ?? part), " ", el("strong", {}, formatPoints(points))),
        ),
      ),
    );
  }
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function formatPoints(points) {
  const value = Number(points);
  return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : String(points);
}

function nameOf(row) {
  return row.name || row.identity;
}

function roleRank(row) {
  return row.role === "instructor" ? 1 : row.role === "observer" ? 2 : 0;
}

/** Who needs a look first: hand up, then away, then camera off. */
function attentionRank(row) {
  return (row.hand_raised ? 4 : 0) + (row.visible === false ? 2 : 0) + (row.camera_on ? 0 : 1);
}
