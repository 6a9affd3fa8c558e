// The playback page (/playback/{session}?token=…): the exported class video with its
// transcript beside it. A line is a button: pressing it seeks the video there; the line being
// spoken is highlighted as the video plays.
//
//   #playback[data-state="loading|ready|no-video|error"]
//   #transcript-lines li[data-start][data-speaker] > button.transcript-line (aria-current while spoken)

import { el, duration } from "./dom.js";

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(window.location.search);
const token = params.get("token") ?? "";
const sessionId = window.location.pathname.split("/").filter(Boolean)[1] ?? "";
const base = `/playback/${encodeURIComponent(sessionId)}`;
const query = `?token=${encodeURIComponent(token)}`;

async function main() {
  const video = $("#playback-video");
  const page = $("#playback");
  const transcript = await fetch(`${base}/transcript${query}`).then((r) => (r.ok ? r.json() : null));
  if (transcript?.title) {
    $("#playback-title").textContent = transcript.title;
    document.title = `Aula · ${transcript.title}`;
  }
  const lines = (transcript?.segments ?? []).filter((segment) => segment.text);
  $("#transcript-empty").hidden = lines.length > 0;
  $("#transcript-lines").replaceChildren(
    ...lines.map((segment) =>
      el("li", { dataset: { start: String(segment.start), end: String(segment.end), speaker: segment.speaker } },
        el("button", { type: "button", className: "transcript-line", onclick: () => seek(video, segment.start) },
          el("time", { className: "transcript-time" }, duration(segment.start)),
          el("span", { className: "transcript-name" }, segment.name || segment.speaker),
          el("span", { className: "transcript-text" }, segment.text)),
      ),
    ),
  );
  video.addEventListener("timeupdate", () => highlight(video.currentTime));

  const head = await fetch(`${base}/video${query}`, { method: "HEAD" });
  if (head.ok) {
    video.src = `${base}/video${query}`;
    page.dataset.state = "ready";
  } else {
    page.dataset.state = head.status === 404 ? "no-video" : "error";
    $("#playback-status").textContent = head.status === 404
      ? "This class has no exported video yet."
      : head.status === 202 ? "The video is still being prepared; reload in a minute." : "The video cannot be shown.";
  }
}

function seek(video, seconds) {
  video.currentTime = seconds;
  highlight(seconds);
  video.play().catch(() => {}); // autoplay rules may refuse; the position is set either way
}

function highlight(seconds) {
  for (const item of document.querySelectorAll("#transcript-lines li")) {
    const inside = seconds >= Number(item.dataset.start) && seconds < Number(item.dataset.end);
    const button = item.querySelector("button");
    if (inside) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

main().catch((error) => {
  $("#playback").dataset.state = "error";
  $("#playback-status").textContent = `Could not load the recording: ${error.message}`;
});
