// Flags as operations sees them: what the workflow worker raised (no-shows, at-risk
// students), technical trouble (high packet loss), notices that could not be delivered.
// Each one can be acknowledged ("someone is on it") or resolved, by name.
//
//   li.flag[data-flag-id][data-kind][data-severity][data-state][data-participant][data-session-id]
//     .flag-kind, .flag-reason, .flag-where (links), time, .flag-resolution,
//     button[data-action="acknowledge-flag" | "resolve-flag" | "reopen-flag"]

import { el, clockTime, toDate } from "./dom.js";

const KIND_LABELS = {
  no_show: "No-show",
  at_risk: "At risk",
  technical: "Technical trouble",
  notification_failed: "Notice not delivered",
};
const ACTIONS = {
  open: [["acknowledge", "Acknowledge"], ["resolve", "Resolve"]],
  acknowledged: [["resolve", "Resolve"]],
  resolved: [["reopen", "Reopen"]],
};

function when(value) {
  const date = toDate(value);
  if (!date) return "";
  const today = new Date().toDateString() === date.toDateString();
  return today ? clockTime(value) : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

function flagItem(flag, titles, onAction) {
  const resolution = flag.resolution;
  const where = [];
  if (flag.participant) {
    where.push(el("a", { href: `#/student/${encodeURIComponent(flag.participant)}`, dataset: { link: "student" } },
      flag.participant));
  }
  if (flag.session_id) {
    where.push(el("a", { href: `#/session/${encodeURIComponent(flag.session_id)}`, dataset: { link: "session" } },
      titles.get(flag.session_id) ?? flag.session_id));
  }
  return el("li", {
    className: "flag",
    dataset: {
      flagId: flag.id, kind: flag.kind, severity: flag.severity, state: flag.state,
      participant: flag.participant ?? "", sessionId: flag.session_id ?? "",
    },
  },
  el("div", { className: "flag-head" },
    el("span", { className: "flag-kind" }, KIND_LABELS[flag.kind] ?? flag.kind),
    el("time", { datetime: flag.raised_at }, when(flag.raised_at))),
  el("p", { className: "flag-reason" }, flag.reason),
  where.length ? el("p", { className: "flag-where" }, ...where.flatMap((link, i) => (i ? [" · ", link] : [link]))) : null,
  resolution ? el("p", { className: "flag-resolution" },
    `${resolution.state === "resolved" ? "Resolved" : "Acknowledged"} by ${resolution.name} at ${when(resolution.at)}`,
    resolution.note ? ` — “${resolution.note}”` : "") : null,
  el("div", { className: "flag-actions" },
    ...(ACTIONS[flag.state] ?? []).map(([action, label]) =>
      el("button", { type: "button", dataset: { action: `${action}-flag` }, onclick: () => onAction(flag, action) }, label))),
  );
}

/** Fill `list` with `flags` (newest first); `empty` shows when there are none. */
export function renderFlags(list, empty, flags, titles, onAction) {
  list.replaceChildren(...flags.map((flag) => flagItem(flag, titles, onAction)));
  empty.hidden = flags.length > 0;
}
