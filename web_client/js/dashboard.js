// The operations dashboard (/dashboard?token=<ops token>): every session with live counts,
// engagement and flags; one session's attendance, engagement timelines and transcript; one
// student's history and risk. Views are chosen by the hash (#/, #/session/<id>,
// #/student/<identity>); the live feed (SSE) triggers a re-read of what is on screen, so
// counts change as people join and leave without a reload.
//
//   #dashboard[data-view="overview|session|student"][data-state="loading|ready|error"]
//   #feed-status[data-state="connecting|live|reconnecting|closed"]
//   #flags[data-filter="open|resolved"] #flags-list li.flag (see dashboard_flags.js)
//   window.aulaDashboard.state (read-only: view, sessions, flags, feed, events) for tests

import { readJoinToken } from "./token.js";
import { DashboardApi } from "./dashboard_api.js";
import { renderFlags } from "./dashboard_flags.js";
import { appendTranscript, renderSessionView, renderSessions, renderStudentView } from "./dashboard_views.js";
import { el } from "./dom.js";

const $ = (selector) => document.querySelector(selector);
// Several events in a burst (a class starting) make one re-read.
const REFRESH_DELAY_MS = 250;
// The overview's statuses also change with the clock (an upcoming class reaching its start).
const PERIODIC_REFRESH_MS = 20_000;
const FEED_LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", closed: "Disconnected" };

const token = new URLSearchParams(window.location.search).get("token") ?? "";
const api = new DashboardApi(token);
const state = {
  view: "overview",
  target: null, // the session id or student identity on screen
  sessions: [],
  flags: [],
  flagFilter: "open",
  feed: "connecting",
  events: 0, // feed events received
};
let refreshTimer = null;

function route() {
  const [, kind, id] = window.location.hash.match(/^#\/(session|student)\/(.+)$/) ?? [];
  state.view = kind ?? "overview";
  state.target = id ? decodeURIComponent(id) : null;
  for (const view of ["overview", "session", "student"]) $(`#view-${view}`).hidden = view !== state.view;
  $("#dashboard").dataset.view = state.view;
  $("#breadcrumbs").replaceChildren(...(state.view === "overview" ? [] : [
    el("a", { href: "#/" }, "All sessions"), el("span", { "aria-hidden": "true" }, " › "),
    el("span", {}, state.view === "session" ? "Session" : `Student ${state.target}`)]));
  refresh();
}

function sessionTitles() {
  return new Map(state.sessions.map((session) => [session.id, session.title]));
}

async function changeFlag(flag, action) {
  try {
    await api.post(`flags/${encodeURIComponent(flag.id)}`, { action });
  } catch (error) {
    showError(`Could not ${action} the flag: ${error.message}`);
  }
  refresh();
}

async function loadOverview() {
  const [overview, flags] = await Promise.all([
    api.get("sessions"), api.get(`flags?state=${state.flagFilter}`),
  ]);
  state.sessions = overview.sessions;
  state.flags = flags.flags;
  renderSessions(state.sessions);
  renderFlags($("#flags-list"), $("#flags-empty"), state.flags, sessionTitles(), changeFlag);
  $("#flags-count").textContent = String(state.flags.length);
}

async function loadSession(sessionId) {
  const view = await api.get(`sessions/${encodeURIComponent(sessionId)}`);
  renderSessionView(view);
  const titles = new Map([[view.session.id, view.session.title]]);
  renderFlags($("#session-flags"), $("#session-flags-empty"), view.flags, titles, changeFlag);
}

async function loadStudent(identity) {
  const [record, flags] = await Promise.all([
    api.get(`students/${encodeURIComponent(identity)}`),
    api.get(`flags?state=all&participant=${encodeURIComponent(identity)}`),
  ]);
  renderStudentView(record);
  renderFlags($("#student-flags"), $("#student-flags-empty"), flags.flags, sessionTitles(), changeFlag);
}

/** Re-read what is on screen. */
async function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  const view = state.view;
  try {
    if (view === "session") await loadSession(state.target);
    else if (view === "student") await loadStudent(state.target);
    else await loadOverview();
    $("#dashboard").dataset.state = "ready";
    $("#load-error").hidden = true;
  } catch (error) {
    if (error.status === 401 || error.status === 403) $("#dashboard").dataset.state = "error";
    showError(error.status === 404 ? `Not found: ${state.target}` : `Could not load: ${error.message}`);
  }
}

function refreshSoon() {
  if (refreshTimer === null) refreshTimer = setTimeout(refresh, REFRESH_DELAY_MS);
}

function showError(message) {
  $("#load-error").textContent = message;
  $("#load-error").hidden = false;
}

/** Does this event change what is on screen? */
function concerns(event) {
  if (event.type === "engagement.signal") return event.data?.signal === "connection_quality";
  if (state.view === "session") return event.session_id === state.target;
  if (state.view === "student") return event.participant === state.target || event.type === "attendance.summary";
  return event.type !== "transcript.final";
}

function onFeedState(feed) {
  const reconnected = state.feed === "reconnecting" && feed === "live";
  state.feed = feed;
  $("#feed-status").dataset.state = feed;
  $("#feed-status").textContent = FEED_LABELS[feed];
  if (reconnected) refresh();
}

function main() {
  try {
    const claims = readJoinToken(token);
    $("#ops-user").textContent = claims.name || claims.identity;
  } catch {
    // The server already checked the token to serve this page; a name is only a nicety.
  }
  for (const button of document.querySelectorAll('[data-action="flags-filter"]')) {
    button.addEventListener("click", () => {
      state.flagFilter = button.dataset.filter;
      $("#flags").dataset.filter = state.flagFilter;
      for (const other of document.querySelectorAll('[data-action="flags-filter"]')) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      refresh();
    });
  }
  window.addEventListener("hashchange", route);
  api.feed((event) => {
    state.events += 1;
    if (state.view === "session" && event.session_id === state.target && event.type === "transcript.final") {
      appendTranscript(event); // frequent while people talk: no re-read of the whole session
    } else if (concerns(event)) {
      refreshSoon();
    }
  }, onFeedState);
  setInterval(() => {
    if (state.view === "overview") refresh();
  }, PERIODIC_REFRESH_MS);
  window.aulaDashboard = {
    get state() {
      return structuredClone(state);
    },
  };
  route();
}

main();
