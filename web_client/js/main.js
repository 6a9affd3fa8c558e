// The join page: reads the link, shows the pre-join screen, wires the controls to a
// Classroom and keeps the page's chrome (buttons, banners, notices) in step with it.
//
// URL: /join/<session_id>?token=<join token>[&autojoin=1]
// With autojoin=1 the page joins at once with camera and microphone (kiosks, bots, tests).

import { readJoinToken } from "./token.js";
import { LocalMedia } from "./local_media.js";
import { RoomView } from "./room_view.js";
import { Classroom, Phase } from "./classroom.js";
import { icon } from "./icons.js";

const $ = (selector) => document.querySelector(selector);
const TOAST_MS = 6000;

function sessionIdFromPath(pathname) {
  const match = pathname.match(/\/join\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function showFatal(text) {
  $("#app").dataset.phase = "refused";
  showNotice({ kind: "refused", text });
}

async function boot() {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token") ?? "";
  let claims;
  try {
    claims = readJoinToken(token);
  } catch (error) {
    showFatal(`This join link does not work: ${error.message}.`);
    return;
  }
  const pathSession = sessionIdFromPath(window.location.pathname);
  if (pathSession && claims.sessionId && pathSession !== claims.sessionId) {
    showFatal("This join link's token belongs to another class.");
    return;
  }

  const media = new LocalMedia();
  let classroom = null;
  const view = new RoomView({
    grid: $("#grid"),
    stage: $("#stage"),
    onModerate: (action, identity) => classroom.moderate(action, identity),
    onAutoplayBlocked: () => ($("#enable-audio").hidden = false),
    onVisibility: () => classroom?.onTileVisibility(),
  });
  view.setModerator(Boolean(claims.perms.moderate));
  classroom = new Classroom({ token, claims, media, view });
  // Read-only hook for tests and debugging.
  window.aula = Object.freeze({
    get state() {
      return classroom.state;
    },
    stats: () => classroom.stats(),
  });

  wireControls(classroom);
  classroom.addEventListener("change", () => render(classroom));
  classroom.addEventListener("notice", (event) => showNotice(event.detail));
  classroom.addEventListener("toast", (event) => showToast(event.detail));

  $("#prejoin-name").textContent = claims.name;
  $("#prejoin-role").textContent = claims.role;
  $("#self-label").textContent = `${claims.name} · ${claims.role}`;
  render(classroom);

  const problems = await media.start({ audio: claims.perms.publish_audio, video: claims.perms.publish_video });
  if (problems.length) {
    $("#device-problems").textContent = `Some devices could not be opened (${problems.join("; ")}). You can still join.`;
    $("#device-problems").hidden = false;
  }
  if (params.get("autojoin") === "1") {
    classroom.join();
  } else {
    render(classroom);
    $("#join-button").focus();
  }
}

function wireControls(classroom) {
  const actions = {
    join: () => classroom.join(),
    "toggle-mic": () => {
      classroom.toggleMic();
      render(classroom);
    },
    "toggle-camera": () => {
      classroom.toggleCamera();
      render(classroom);
    },
    "toggle-screen": () => (classroom.sharingScreen ? classroom.stopScreenShare() : classroom.startScreenShare()),
    "toggle-lock": () => classroom.toggleLock(),
    leave: () => classroom.leave(),
    retry: () => {
      hideNotice();
      classroom.retry();
    },
    rejoin: () => window.location.reload(),
    "dismiss-notice": () => hideNotice(),
  };
  for (const [action, run] of Object.entries(actions)) {
    for (const button of document.querySelectorAll(`#app > :not(#room) [data-action="${action}"]`)) {
      button.addEventListener("click", run);
    }
  }
  $("#enable-audio").addEventListener("click", () => {
    for (const audio of document.querySelectorAll("#grid audio")) audio.play().catch(() => {});
    $("#enable-audio").hidden = true;
  });
}

/** Bring the page's chrome in line with the classroom's state. */
function render(classroom) {
  const { phase, perms, media, room } = {
    phase: classroom.phase,
    perms: classroom.perms,
    media: classroom.media,
    room: classroom.room,
  };
  const app = $("#app");
  app.dataset.phase = phase === Phase.IDLE ? "prejoin" : phase;
  const inRoom = [Phase.CONNECTING, Phase.JOINED, Phase.RECONNECTING].includes(phase);
  $("#prejoin").hidden = phase !== Phase.IDLE;
  $("#room").hidden = !inRoom;
  $("#controls").hidden = !(inRoom || phase === Phase.IDLE);
  $("#reconnecting-banner").hidden = phase !== Phase.RECONNECTING;
  if (room?.title) {
    $("#room-title").textContent = room.title;
    document.title = `${room.title} · Aula`;
  }
  const locked = Boolean(room?.locked);
  $("#lock-state").hidden = !locked || !inRoom;
  app.dataset.locked = String(locked);

  const preview = $("#preview");
  const cameraTrack = phase === Phase.IDLE ? media.cameraTrack : null;
  if ((preview.srcObject?.getVideoTracks()[0] ?? null) !== cameraTrack) {
    preview.srcObject = cameraTrack ? new MediaStream([cameraTrack]) : null;
  }
  $(".prejoin-preview").dataset.cameraOff = String(!media.cameraTrack || !media.cameraEnabled);
  if (phase === Phase.JOINED && $("#notice").dataset.kind === "refused") hideNotice();

  setToggle($('[data-action="toggle-mic"]'), {
    on: Boolean(media.micTrack) && media.micEnabled,
    disabled: !media.micTrack,
    icons: ["mic", "micOff"],
    text: "Mic",
  });
  setToggle($('[data-action="toggle-camera"]'), {
    on: Boolean(media.cameraTrack) && media.cameraEnabled,
    disabled: !media.cameraTrack,
    icons: ["camera", "cameraOff"],
    text: "Camera",
  });
  const screen = $('[data-action="toggle-screen"]');
  screen.hidden = !(perms.publish_screen && inRoom && navigator.mediaDevices?.getDisplayMedia);
  setToggle(screen, { on: classroom.sharingScreen, icons: ["screen", "screen"], text: classroom.sharingScreen ? "Stop sharing" : "Share screen" });
  const lock = $('[data-action="toggle-lock"]');
  lock.hidden = !(perms.moderate && inRoom);
  lock.disabled = phase !== Phase.JOINED;
  lock.setAttribute("aria-label", locked ? "Unlock room" : "Lock room");
  setToggle(lock, { on: locked, icons: ["lock", "unlock"], text: locked ? "Unlock room" : "Lock room" });
  const leave = $('[data-action="leave"]');
  leave.hidden = !inRoom;
  if (!leave.childElementCount) leave.append(icon("leave"), label("Leave"));
}

function setToggle(button, { on, disabled = false, icons: [onIcon, offIcon], text }) {
  button.setAttribute("aria-pressed", String(on));
  button.disabled = disabled;
  button.dataset.on = String(on);
  button.replaceChildren(icon(on ? onIcon : offIcon), label(text));
}

function label(text) {
  const span = document.createElement("span");
  span.className = "label";
  span.textContent = text;
  return span;
}

function showNotice({ kind, text, code }) {
  const notice = $("#notice");
  notice.dataset.kind = kind;
  if (code) notice.dataset.code = code;
  else delete notice.dataset.code;
  $("#notice-text").textContent = text;
  $("#retry-button").hidden = kind !== "refused" || code === "removed";
  $("#rejoin-button").hidden = kind !== "left";
  $("#dismiss-button").hidden = kind !== "muted";
  notice.hidden = false;
  ($("#notice .notice-actions button:not([hidden])") ?? notice).focus?.();
}

function hideNotice() {
  const notice = $("#notice");
  notice.hidden = true;
  delete notice.dataset.kind;
}

function showToast({ text, level }) {
  const toast = document.createElement("div");
  toast.className = `toast toast-${level}`;
  toast.setAttribute("role", level === "error" ? "alert" : "status");
  toast.textContent = text;
  $("#toasts").append(toast);
  setTimeout(() => toast.remove(), TOAST_MS);
}

boot();
