// The summary review page (/review/{session}?token=…): the draft summary of a class, every line
// editable or removable, each with the moment of the class it rests on; save, approve (sent to
// guardians) or reject.
//
//   #review[data-state="loading|ready|empty|error"][data-status="draft|approved|rejected"]
//   li.review-item[data-item-id][data-kind][data-removed] > textarea.review-text
//   .review-student[data-identity]

import { el, duration } from "./dom.js";

const $ = (selector) => document.querySelector(selector);
const token = new URLSearchParams(window.location.search).get("token") ?? "";
const sessionId = window.location.pathname.split("/").filter(Boolean)[1] ?? "";
const base = `/review/${encodeURIComponent(sessionId)}`;
const query = `?token=${encodeURIComponent(token)}`;
const LISTS = ["topics", "key_points", "questions", "action_items"];

let summary = null;

async function call(path, method = "GET", body = undefined) {
  const response = await fetch(`${base}${path}${query}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new Error(payload?.error?.message ?? `the server answered ${response.status}`);
  return payload;
}

function say(message) {
  $("#review-message").textContent = message;
}

function evidenceLabel(evidence) {
  const first = evidence?.[0];
  if (!first) return "";
  return `at ${duration(first.at_s)}`;
}

function itemView(item, kind) {
  const original = item.title ?? item.text;
  const text = el("textarea", { className: "review-text", rows: 2, "aria-label": kind }, );
  text.value = original;
  const remove = el("button", { type: "button", className: "review-remove" }, "Remove");
  const row = el("li", { className: "review-item", dataset: { itemId: item.id, kind, original } },
    text,
    el("span", { className: "review-evidence", title: (item.evidence ?? []).map((e) => `${e.type} ${e.event_id}`).join("\n") },
      evidenceLabel(item.evidence)),
    remove);
  remove.addEventListener("click", () => {
    const removed = row.toggleAttribute("data-removed");
    remove.textContent = removed ? "Restore" : "Remove";
  });
  return row;
}

function render() {
  const page = $("#review");
  page.dataset.status = summary.status;
  $("#review-status").textContent = { draft: "Draft", approved: "Approved and sent", rejected: "Rejected" }[summary.status];
  $("#review-title").textContent = summary.title ? `${summary.title}: class summary` : "Class summary";
  document.title = `Aula · ${$("#review-title").textContent}`;
  $("#overview").value = summary.overview;
  $("#instructor-note").value = summary.instructor_note ?? "";
  for (const name of LISTS) {
    const items = summary[name] ?? [];
    $(`#${name}`).replaceChildren(...(items.length ? items.map((item) => itemView(item, name)) : [el("li", { className: "review-empty" }, "None.")]));
  }
  $("#students").replaceChildren(...summary.students.map((student) =>
    el("article", { className: "review-student", dataset: { identity: student.identity } },
      el("h3", {}, student.name),
      el("ul", { className: "review-items" }, ...student.statements.map((statement) => itemView(statement, statement.kind))))));
  const decided = summary.status === "approved";
  for (const id of ["#save", "#approve", "#reject"]) $(id).disabled = decided;
  page.dataset.state = "ready";
}

function edits() {
  const changes = { items: {} };
  if ($("#overview").value.trim() !== summary.overview) changes.overview = $("#overview").value;
  if ($("#instructor-note").value.trim() !== (summary.instructor_note ?? "")) changes.instructor_note = $("#instructor-note").value;
  for (const row of document.querySelectorAll("li.review-item")) {
    const text = row.querySelector("textarea").value.trim();
    if (row.hasAttribute("data-removed")) changes.items[row.dataset.itemId] = null;
    else if (text !== row.dataset.original) changes.items[row.dataset.itemId] = text;
  }
  const empty = Object.keys(changes.items).length === 0 && !("overview" in changes) && !("instructor_note" in changes);
  return empty ? null : changes;
}

async function save() {
  const changes = edits();
  if (changes) {
    summary = await call("/summary", "PATCH", { edits: changes });
    render();
  }
  return changes !== null;
}

function action(button, run) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await run();
    } catch (error) {
      say(error.message);
    } finally {
      button.disabled = summary?.status === "approved";
    }
  });
}

async function main() {
  try {
    summary = await call("/summary");
  } catch (error) {
    $("#review").dataset.state = "empty";
    say(error.message);
    return;
  }
  render();
  action($("#save"), async () => say((await save()) ? "Saved." : "Nothing to save."));
  action($("#approve"), async () => {
    await save();
    summary = await call("/approve", "POST", {});
    render();
    say("Approved: the guardians are being sent the summary.");
  });
  action($("#reject"), async () => {
    const reason = window.prompt("Why is this summary rejected? (kept with it; nothing is sent)", "");
    if (reason === null) return;
    await save();
    summary = await call("/reject", "POST", { reason });
    render();
    say("Rejected: nothing will be sent.");
  });
}

main();
