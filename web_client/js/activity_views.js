// The join page's class-activity views: the chat panel, the raised-hands queue, the reaction
// picker, the poll card and dialog, the live panel and the captions, wired to the Classroom
// (its `activity` and its events) and to the sidebar (#sidebar) that holds the panels.
// Screen readers hear new hands (moderators) and polls through #announcer.

import { Phase } from "./connection_phase.js";
import { REACTIONS, POLL_MIN_OPTIONS, POLL_MAX_OPTIONS } from "./class_activity.js";
import { el } from "./dom.js";
import { icon } from "./icons.js";
import { ChatPanel } from "./chat_panel.js";
import { HandsQueue } from "./hands_queue.js";
import { ReactionPicker } from "./reaction_picker.js";
import { PollCard, PollDialog } from "./poll_view.js";
import { LivePanel } from "./live_panel.js";
import { CaptionsView } from "./captions.js";

const $ = (selector) => document.querySelector(selector);

/**
 * The class-activity views (chat, hands, reactions, polls, the live panel, captions), fed by
 * the classroom's events. `rerender` brings the page's controls up to date. Returns what the
 * controls and render() need.
 */
export function wireActivityViews(classroom, { rerender }) {
  const moderator = Boolean(classroom.perms.moderate);
  const selfIdentity = classroom.claims.identity;
  const nameOf = (identity) => classroom.nameOf(identity);
  const model = classroom.activity;

  const chat = new ChatPanel({
    root: $("#chat"),
    selfIdentity,
    nameOf,
    onSend: (text, to) => model.sendChat(text, to),
    onChange: () => {
      rerender();
      updateSidebar();
    },
  });
  $('#chat [data-action="send-chat"]').append(icon("send"));
  const hands = new HandsQueue({ root: $("#hands"), onLower: (identity) => classroom.moderate("lower_hand", identity) });
  const reactions = new ReactionPicker({
    button: $('[data-action="toggle-reactions"]'),
    menu: $("#reactions"),
    reactions: REACTIONS,
    onPick: (emoji) => model.react(emoji),
  });
  $('[data-action="toggle-reactions"]').append(icon("react"), el("span", { className: "label" }, "React"));
  const pollCard = new PollCard({
    root: $("#poll"),
    onAnswer: (option) => model.answerPoll(option),
    onEnd: () => model.endPoll(),
    onDismiss: () => {
      model.dismissPoll();
      $('#controls [data-action="toggle-chat"]')?.focus();
    },
  });
  const pollDialog = new PollDialog({
    dialog: $("#poll-dialog"),
    minOptions: POLL_MIN_OPTIONS,
    maxOptions: POLL_MAX_OPTIONS,
    onCreate: (poll) => model.createPoll(poll),
  });
  const panel = new LivePanel({ root: $("#panel") });
  const closePanel = ({ restoreFocus = false } = {}) => {
    if ($("#panel").hidden) return;
    $("#panel").hidden = true;
    rerender();
    updateSidebar();
    if (restoreFocus) $('#controls [data-action="toggle-panel"]').focus();
  };
  $('#panel [data-action="close-panel"]').addEventListener("click", () => closePanel({ restoreFocus: true }));
  $("#panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel({ restoreFocus: true });
  });

  let handsBefore = new Set();
  classroom.addEventListener("chat", (event) => chat.add(event.detail));
  classroom.addEventListener("hands", () => {
    hands.render(model.hands, { moderator });
    if (moderator) {
      for (const hand of model.hands) {
        if (!handsBefore.has(hand.identity)) announce(`${hand.name || hand.identity} raised a hand`);
      }
    }
    handsBefore = new Set(model.hands.map((hand) => hand.identity));
    updateSidebar();
  });
  let pollBefore = null;
  classroom.addEventListener("poll", () => {
    const poll = model.poll;
    pollCard.render(poll, { moderator });
    panel.refresh({ poll });
    if (poll && (poll.poll_id !== pollBefore?.poll_id || poll.status !== pollBefore?.status)) {
      announce(poll.status === "running" ? `New poll: ${poll.question}` : `The poll is over: ${poll.question}`);
    }
    pollBefore = poll;
    rerender(); // the "Poll" button is off while one runs
    updateSidebar();
  });
  // Captions: off until the user turns them on; the choice is remembered on this device.
  const captions = new CaptionsView({ root: $("#captions") });
  captions.setEnabled(localStorage.getItem("aula.captions") === "on");
  classroom.addEventListener("caption", (event) => captions.update(event.detail));
  classroom.addEventListener("engagement", () => {
    panel.render({ participants: model.engagement, speakers: classroom.speakers, poll: model.poll });
  });

  function updateSidebar() {
    const inRoom = [Phase.CONNECTING, Phase.JOINED, Phase.RECONNECTING].includes(classroom.phase);
    $("#sidebar").hidden = !inRoom || [...$("#sidebar").children].every((section) => section.hidden);
  }

  let recipientsKey = "";
  const views = {
    chat,
    reactions,
    captions,
    moderator,
    toggleCaptions: () => {
      captions.setEnabled(!captions.enabled);
      localStorage.setItem("aula.captions", captions.enabled ? "on" : "off");
      rerender();
    },
    toggleChat: () => {
      chat.toggle();
      updateSidebar();
    },
    togglePanel: () => {
      if (!moderator) return;
      if (!$("#panel").hidden) {
        closePanel();
        return;
      }
      $("#panel").hidden = false;
      panel.render({ participants: model.engagement, speakers: classroom.speakers, poll: model.poll });
      rerender();
      updateSidebar();
      $("#panel").focus();
    },
    createPoll: () => moderator && pollDialog.open($('#controls [data-action="create-poll"]')),
    /** Called on every classroom "change": who can be written to, who speaks, the sidebar. */
    refresh() {
      // Students write privately to the instructors; moderators to anyone.
      const people = [...classroom.participants.values()]
        .filter((p) => moderator || p.role === "instructor")
        .map((p) => ({ identity: p.identity, name: p.name || p.identity }))
        .sort((a, b) => a.name.localeCompare(b.name));
      const key = JSON.stringify(people);
      if (key !== recipientsKey) {
        recipientsKey = key;
        chat.setRecipients(people);
      }
      if (panel.isOpen) panel.refresh({ speakers: classroom.speakers });
      if ([Phase.REMOVED, Phase.LEFT, Phase.REFUSED].includes(classroom.phase)) {
        reactions.close();
        pollDialog.close();
      }
      updateSidebar();
    },
  };
  return views;
}

/** Say `text` to screen readers (a polite live region). */
function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}
