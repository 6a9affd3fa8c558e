// The join page: reads the link, shows the pre-join screen, wires the controls to a
// Classroom and keeps the page's chrome (buttons, banners, notices) in step with it; the
// class-activity views are activity_views.js.
//
// URL: /join/<session_id>?token=<join token>[&autojoin=1]
// With autojoin=1 the page joins at once with camera and microphone (kiosks, bots, tests).

import { readJoinToken } from "./token.js";
import { LocalMedia } from "./local_media.js";
import { RoomView } from "./room_view.js";
import { Classroom } from "./classroom.js";
import { Phase } from "./connection_phase.js";
import { icon } from "./icons.js";
import { wireActivityViews } from "./activity_views.js";

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

  const activity = wireActivityViews(classroom, { rerender: () => render(classroom, activity) });
  wireControls(classroom, activity);
  classroom.addEventListener("change", () => {
    render(classroom, activity);
    activity.refresh();
  });
  classroom.addEventListener("notice", (event) => showNotice(event.detail));
  classroom.addEventListener("toast", (event) => showToast(event.detail));

  $("#prejoin-name").textContent = claims.name;
  $("#prejoin-role").textContent = claims.role;
  $("#self-label").textContent = `${claims.name} · ${claims.role}`;
  render(classroom, activity);

  const problems = await media.start({ audio: claims.perms.publish_audio, video: claims.perms.publish_video });
  if (problems.length) {
    $("#device-problems").textContent = `Some devices could not be opened (${problems.join("; ")}). You can still join.`;
    $("#device-problems").hidden = false;
  }
  if (params.get("autojoin") === "1") {
    classroom.join();
  } else {
    render(classroom, activity);
    $("#join-button").focus();
  }
}

function wireControls(classroom, activity) {
  const actions = {
    join: () => classroom.join(),
    "toggle-mic": () => {
      classroom.toggleMic();
      render(classroom, activity);
    },
    "toggle-camera": () => {
      classroom.toggleCamera();
      render(classroom, activity);
    },
    "toggle-screen": () => (classroom.sharingScreen ? classroom.stopScreenShare() : classroom.startScreenShare()),
    "toggle-lock": () => classroom.toggleLock(),
    "toggle-recording": () => classroom.toggleRecording(),
    "toggle-hand": () => classroom.activity.toggleHand(),
    "toggle-chat": () => activity.toggleChat(),
    "toggle-captions": () => activity.toggleCaptions(),
    "toggle-panel": () => activity.togglePanel(),
    "create-poll": () => activity.createPoll(),
    leave: () => classroom.leave(),
    "end-class": () => {
      if (window.confirm("End the class for everyone?")) classroom.endClass();
    },
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
function render(classroom, activity) {
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
  renderActivityControls(classroom, activity, { inRoom, joined: phase === Phase.JOINED });
  const leave = $('[data-action="leave"]');
  leave.hidden = !inRoom;
  if (!leave.childElementCount) leave.append(icon("leave"), label("Leave"));
  const end = $('[data-action="end-class"]');
  end.hidden = !(perms.moderate && inRoom);
  end.disabled = phase !== Phase.JOINED;
  if (!end.childElementCount) end.append(icon("leave"), label("End class"));
}

function renderActivityControls(classroom, activity, { inRoom, joined }) {
  // Everyone sees when the class is recorded (consent: students are minors).
  const recording = Boolean(classroom.recording?.active);
  $("#recording-indicator").hidden = !(recording && inRoom);
  const recordButton = $('[data-action="toggle-recording"]');
  recordButton.hidden = !(classroom.perms.moderate && inRoom);
  setToggle(recordButton, { on: recording, disabled: !joined, icons: ["record", "record"], text: recording ? "Stop recording" : "Record" });

  const moderator = activity.moderator;
  const hand = $('[data-action="toggle-hand"]');
  hand.hidden = moderator || !inRoom;
  const handRaised = classroom.activity.handRaised;
  setToggle(hand, { on: handRaised, disabled: !joined, icons: ["hand", "hand"], text: handRaised ? "Lower hand" : "Raise hand" });

  $("#controls .picker").hidden = !inRoom;
  $('[data-action="toggle-reactions"]').disabled = !joined;
  if (!joined) activity.reactions.close();

  // Only where the server transcribes; captions stay hidden while the room is out of view.
  const captionsButton = $('[data-action="toggle-captions"]');
  captionsButton.hidden = !(inRoom && classroom.transcription);
  setToggle(captionsButton, { on: activity.captions.enabled, icons: ["captions", "captions"], text: "Captions" });
  $("#captions").hidden = !(inRoom && classroom.transcription && activity.captions.enabled);

  const chatButton = $('[data-action="toggle-chat"]');
  chatButton.hidden = !inRoom;
  const unread = activity.chat.unread;
  setToggle(chatButton, { on: activity.chat.isOpen, icons: ["chat", "chat"], text: "Chat" });
  chatButton.setAttribute("aria-label", unread ? `Chat, ${unread} unread` : "Chat");
  chatButton.dataset.unread = String(unread);
  if (unread) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = unread > 99 ? "99+" : String(unread);
    chatButton.append(badge);
  }

  const createPoll = $('[data-action="create-poll"]');
  createPoll.hidden = !moderator || !inRoom;
  createPoll.disabled = !joined || classroom.activity.poll?.status === "running";
  if (!createPoll.childElementCount) createPoll.append(icon("poll"), label("Poll"));

  const panelButton = $('[data-action="toggle-panel"]');
  panelButton.hidden = !moderator || !inRoom;
  setToggle(panelButton, { on: !$("#panel").hidden, icons: ["panel", "panel"], text: "Live panel" });
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
