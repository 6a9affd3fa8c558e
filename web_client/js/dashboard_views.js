// The dashboard's three views, drawn from what /api/dashboard/ returns (DOM only, no fetching).
//
//   Overview: #sessions-live|upcoming|ended tbody tr[data-session-id][data-status][data-in-room]
//     [data-present][data-expected], cells td[data-field="title|scheduled|in-room|students|engagement|open-flags"]
//   Session:  #view-session[data-session-id], #attendance tbody tr[data-identity][data-in-room][data-category]
//     with td[data-field="engagement"] svg.timeline; #transcript li[data-event-id][data-speaker]
//     (finals arriving on the feed are appended, not re-read)
//   Student:  #view-student[data-identity], #student-risk[data-level], #student-risk-reasons li,
//     #student-history tbody tr[data-session-id][data-category]

import { el, clockTime, duration, toDate } from "./dom.js";
import { timelineChart } from "./dashboard_chart.js";

const $ = (selector) => document.querySelector(selector);

const CATEGORY_LABELS = {
  present: "Present",
  tardy: "Late",
  excused_absence: "Excused",
  unexcused_absence: "Absent",
};
const RISK_LABELS = { none: "No risk", watch: "Watch", at_risk: "At risk", chronic: "Chronic absence" };

function scheduled(session) {
  const start = toDate(session.scheduled_start);
  if (!start) return "";
  const day = start.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
  return `${day} ${clockTime(session.scheduled_start)}–${clockTime(session.scheduled_end)}`;
}

function sessionLink(id, title) {
  return el("a", { href: `#/session/${encodeURIComponent(id)}`, dataset: { link: "session" } }, title);
}

function studentLink(identity, name) {
  return el("a", { href: `#/student/${encodeURIComponent(identity)}`, dataset: { link: "student" } }, name || identity);
}

function sessionRow(session) {
  const engagement = session.engagement?.average_score;
  return el("tr", {
    dataset: {
      sessionId: session.id, status: session.status, inRoom: String(session.in_room),
      present: String(session.present), expected: String(session.expected),
    },
  },
  el("td", { dataset: { field: "title" } }, sessionLink(session.id, session.title)),
  el("td", { dataset: { field: "scheduled" } }, scheduled(session)),
  el("td", { dataset: { field: "in-room" }, className: "number" }, String(session.in_room)),
  el("td", { dataset: { field: "students" }, className: "number" },
    `${session.status === "ended" ? session.joined : session.present} / ${session.expected}`),
  el("td", { dataset: { field: "engagement" }, className: "number" },
    engagement === null || engagement === undefined ? "—" : String(Math.round(engagement))),
  el("td", { dataset: { field: "open-flags" }, className: session.open_flags ? "number has-flags" : "number" },
    String(session.open_flags)),
  );
}

const SESSION_GROUPS = [
  ["live", "Live now", "Students"],
  ["upcoming", "Upcoming", "Students"],
  ["ended", "Ended", "Students came"],
];
const SESSION_COLUMNS = [
  ["Class", ""], ["Scheduled", ""], ["In room", "Everyone connected now"],
  [null, "Roster students in the room now (ended: who came), of those expected"],
  ["Engagement", "Mean engagement score of the students (0–100), from the latest snapshots"],
  ["Open flags", ""],
];

/** The three session tables: live ones first by start, upcoming soonest first, ended latest first. */
export function renderSessions(sessions) {
  const byStart = (a, b) => Date.parse(a.scheduled_start) - Date.parse(b.scheduled_start);
  $("#sessions").replaceChildren(...SESSION_GROUPS.map(([status, heading, students]) => {
    const rows = sessions.filter((session) => session.status === status).sort(byStart);
    if (status === "ended") rows.reverse();
    return el("section", { dataset: { statusGroup: status } },
      el("h3", {}, `${heading} `, el("span", { className: "count", dataset: { countOf: status } }, String(rows.length))),
      el("table", { className: "ops-table sessions-table", id: `sessions-${status}` },
        el("thead", {}, el("tr", {}, ...SESSION_COLUMNS.map(([label, title]) => el("th", { title: title || null }, label ?? students)))),
        el("tbody", {}, ...(rows.length ? rows.map(sessionRow)
          : [el("tr", { className: "empty-row" }, el("td", { colspan: SESSION_COLUMNS.length }, "None"))]))));
  }));
}

function attendanceRow(record) {
  return el("tr", {
    dataset: { identity: record.identity, role: record.role, inRoom: String(record.in_room), category: record.category },
  },
  el("td", { dataset: { field: "name" } }, studentLink(record.identity, record.name)),
  el("td", { dataset: { field: "role" } }, record.role),
  el("td", { dataset: { field: "now" } }, el("span", { className: record.in_room ? "dot dot-in" : "dot" }),
    record.in_room ? "In the room" : "Not here"),
  el("td", { dataset: { field: "category" } }, CATEGORY_LABELS[record.category] ?? record.category),
  el("td", { dataset: { field: "first-join" } }, record.first_join ? clockTime(record.first_join) : "—"),
  el("td", { dataset: { field: "present" }, className: "number" }, duration(record.present_s)),
  el("td", { dataset: { field: "late-by" }, className: "number" }, record.category === "tardy" ? duration(record.late_by_s) : "—"),
  el("td", { dataset: { field: "engagement" } },
    record.role === "student" ? timelineChart(record.engagement, record.name) : el("span", { className: "muted" }, "not scored")),
  );
}

/** One session: its header, attendance table with engagement timelines, transcript. */
export function renderSessionView(view) {
  const session = view.session;
  $("#view-session").dataset.sessionId = session.id;
  $("#view-session").dataset.status = session.status;
  $("#session-title").textContent = session.title;
  $("#session-status").textContent = session.status;
  $("#session-status").dataset.status = session.status;
  $("#session-times").textContent = scheduled(session);
  $("#session-counts").textContent =
    `${session.in_room} in the room · ${session.present} of ${session.expected} students here now`;
  $("#attendance tbody").replaceChildren(...view.attendance.records.map(attendanceRow));
  showTranscript(() => $("#transcript").replaceChildren(...view.transcript.map(transcriptLine)));
}

function transcriptLine(line) {
  return el("li", { dataset: { eventId: line.id, speaker: line.participant } },
    el("time", { datetime: line.ts }, clockTime(line.ts)),
    el("span", { className: "transcript-name" }, line.name || line.participant),
    el("span", { className: "transcript-text" }, line.text));
}

/** Change the transcript, keeping it scrolled to the end if it was there. */
function showTranscript(change) {
  const transcript = $("#transcript");
  const atBottom = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 8;
  change();
  if (atBottom) transcript.scrollTop = transcript.scrollHeight;
  $("#transcript-empty").hidden = transcript.children.length > 0;
}

/** A transcript.final of the session on screen, as the feed brought it (no re-read). */
export function appendTranscript(event) {
  if (!event.data?.text || document.querySelector(`#transcript li[data-event-id="${event.id}"]`)) return;
  showTranscript(() => $("#transcript").append(transcriptLine({
    id: event.id, ts: event.ts, participant: event.participant, name: event.data.name, text: event.data.text,
  })));
}

/** One student: the risk (when the record has one) and every class on record. */
export function renderStudentView(record) {
  $("#view-student").dataset.identity = record.identity;
  $("#student-name").textContent = record.name || record.identity;
  const risk = record.risk;
  const badge = $("#student-risk");
  badge.hidden = !risk;
  if (risk) {
    badge.dataset.level = risk.level;
    badge.textContent = RISK_LABELS[risk.level] ?? risk.level;
    badge.title = risk.updated_at ? `Assessed ${toDate(risk.updated_at)?.toLocaleString() ?? risk.updated_at}` : "";
  }
  $("#student-risk-reasons").replaceChildren(...(risk?.reasons ?? []).map((reason) => el("li", {}, reason)));
  const sessions = [...(record.sessions ?? [])].reverse(); // latest first
  $("#student-history tbody").replaceChildren(...sessions.map((entry) =>
    el("tr", { dataset: { sessionId: entry.session_id, category: entry.category ?? "" } },
      el("td", { dataset: { field: "title" } }, sessionLink(entry.session_id, entry.title || entry.session_id)),
      el("td", { dataset: { field: "scheduled" } },
        entry.scheduled_start ? toDate(entry.scheduled_start)?.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "—"),
      el("td", { dataset: { field: "category" } }, CATEGORY_LABELS[entry.category] ?? entry.category ?? "—"),
      el("td", { dataset: { field: "present" }, className: "number" },
        entry.present_s === undefined || entry.present_s === null ? "—" : duration(entry.present_s)),
      el("td", { dataset: { field: "late-by" }, className: "number" }, entry.category === "tardy" ? duration(entry.late_by_s) : "—"),
      el("td", { dataset: { field: "engagement" }, className: "number" },
        typeof entry.engagement?.score === "number" ? String(Math.round(entry.engagement.score)) : "—"),
      el("td", { dataset: { field: "flags" } }, (entry.flags ?? []).join(", ") || "—"))));
  $("#student-history-empty").hidden = sessions.length > 0;
}
