"""Join time: a student's Chromium page, from page open to the instructor's first video frame.

An instructor is in the room first: real headless Chromium (its own browser process, fake
camera and microphone) on the join page with `&autojoin=1`. A browser rather than an aiortc
peer because that is what instructors use, and because a browser answers a keyframe request
(PLI) with a keyframe at once: the pre-encoded clips of benchmarks/media.py only have one every
2 s, which would add ~1 s on average to every join and measure the clip, not Aula.

Then, `--joins` times (after `--warmup-joins` that are not counted), a student opens the
join URL with `&autojoin=1` in a fresh browser context (no cookies, no cache: a first visit)
of a second browser process, and the page records, on its own clock (performance.now(),
0 = navigation start), when each step of the join happened. An init script instruments the
browser APIs the web client uses, so the client itself carries no benchmark code:

- navigation timing: HTML received (responseEnd), scripts run (DOMContentLoaded: the page's
  module scripts have run by then);
- getUserMedia resolved;
- the signaling WebSocket open, the `joined` message, the first subscriber `offer`, the
  subscriber `answer` sent;
- on the subscriber RTCPeerConnection (the one given an offer): ICE connected
  (iceConnectionState), DTLS connected (connectionState "connected": ICE and DTLS up);
- first RTP and first frame: requestVideoFrameCallback on the `<video>` of the instructor's tile
  (`[data-identity]`): its `receiveTime` (when the first frame's last packet arrived) and
  `presentationTime` (the frame went to the compositor: "rendered"). The SFU starts a new
  subscription on a keyframe, and Chromium sends a 640x360 keyframe as ~2 packets in one burst
  (frame_assembly.py: 0.2 ms from first to last), so that is the first RTP packet's arrival
  within a millisecond. (The track's `unmute` is recorded too, but Chromium fires it after the first frame.)

The student then presses Leave and its context closes before the next join. With `--stay`
each student stays in the room instead, as a class fills up one by one: after its measured
join it comes back as an aiortc peer (client/rtc_client.py) that publishes class_size.py's
student media (pre-encoded 360p VP8, quiet Opus with RFC 6464 levels) and keeps only the
instructor's video on, so each newcomer joins a room of everyone before it. (A Chromium page
per staying student would measure this 2-core machine instead: it saturated at the fifth.)
Joins are `--gap` s apart, with a random jitter so they do not fall in step with the
server's keyframe requests.

The Aula server runs as a subprocess (`python -m server`, as in class_size.py) against a
redis-server on a free loopback port; everything stays on 127.0.0.1 (no STUN).

    python -m benchmarks.join_time --joins 20 --json benchmarks/results/join_time.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from client.browser import CHROMIUM, CHROMIUM_ARGS
from client.rtc_client import ClientOptions, RtcClient

from . import procstat
from .class_load import Seat, cancel_tasks, hook_audio_level, loadavg, percentile, seat_tracks
from .class_size import API_KEY, create_session, pause_hidden_videos, start_redis, start_server
from .media import QUIET_AUDIO, STUDENT_VIDEO

logger = logging.getLogger("benchmarks.join_time")

INSTRUCTOR = "instructor"

# Runs before the page's own scripts: marks on the page's clock in window.__join.marks (the
# first occurrence of each), and the first-frame watch on the instructor's tile.
INIT_SCRIPT = r"""
(() => {
  const watched = %s;
  const join = { marks: {}, unmuted: {}, instructorMids: [], messages: [], frame: null, pcs: [] };
  window.__join = join;
  const mark = (name, at = performance.now()) => {
    if (!(name in join.marks)) join.marks[name] = at;
  };
  const log = (direction, data) => {
    try {
      const message = JSON.parse(data);
      if (join.frame === null) {
        join.messages.push([performance.now(), direction, message.type, message.target ?? null]);
      }
      return message;
    } catch {
      return null;
    }
  };

  const devices = navigator.mediaDevices;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    mark("gum_started");
    const stream = await getUserMedia(constraints);
    mark("gum_done");
    return stream;
  };

  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      mark("ws_created");
      this.addEventListener("open", () => mark("ws_open"));
      this.addEventListener("message", (event) => {
        const message = log("in", event.data);
        if (!message) return;
        if (message.type === "joined") mark("joined");
        if (message.type === "answer" && message.target === "publisher") mark("pub_answer");
        if (message.type === "offer" && message.target === "subscriber") {
          mark("sub_offer");
          for (const track of message.tracks ?? []) {
            if (track.identity === watched && track.source === "camera") {
              if (!join.instructorMids.includes(String(track.mid))) join.instructorMids.push(String(track.mid));
              mark("sub_offer_with_camera");
            }
          }
        }
      });
    }
    send(data) {
      const message = log("out", data);
      if (message?.type === "answer" && message.target === "subscriber") mark("sub_answer_sent");
      if (message?.type === "offer" && message.target === "publisher") mark("pub_offer_sent");
      return super.send(data);
    }
  };

  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeerConnection {
    constructor(...args) {
      super(...args);
      join.pcs.push(this);
      this.addEventListener("iceconnectionstatechange", () => {
        const state = this.iceConnectionState;
        if (!this.__role) return;
        if (state === "checking") mark(`${this.__role}_ice_checking`);
        if (state === "connected" || state === "completed") mark(`${this.__role}_ice_connected`);
      });
      this.addEventListener("icegatheringstatechange", () => {
        if (this.__role && this.iceGatheringState === "complete") mark(`${this.__role}_gathered`);
      });
      this.addEventListener("connectionstatechange", () => {
        if (this.__role && this.connectionState === "connected") mark(`${this.__role}_connected`);
      });
      this.addEventListener("track", (event) => {
        const track = event.track;
        const mid = String(event.transceiver?.mid);
        if (track.kind !== "video" || mid in join.unmuted) return;
        join.unmuted[mid] = null;
        const unmuted = () => {
          if (join.unmuted[mid] === null) join.unmuted[mid] = performance.now();
        };
        if (!track.muted) unmuted();
        else track.addEventListener("unmute", unmuted, { once: true });
      });
    }
    createOffer(...args) {
      this.__role = this.__role ?? "pub";
      return super.createOffer(...args);
    }
    async setLocalDescription(...args) {
      const result = await super.setLocalDescription(...args);
      if (this.__role) mark(`${this.__role}_local_description`);
      return result;
    }
    setRemoteDescription(description, ...rest) {
      if (description?.type === "offer") this.__role = "sub";
      return super.setRemoteDescription(description, ...rest);
    }
  };

  // The first frame of the instructor's tile video (whatever element the tile holds).
  const seen = new WeakSet();
  const watch = (video) => {
    if (seen.has(video)) return;
    seen.add(video);
    video.addEventListener("loadeddata", () => mark("loadeddata"), { once: true });
    video.requestVideoFrameCallback((now, metadata) => {
      join.frame = {
        callback: now,
        presentation: metadata.presentationTime,
        expected_display: metadata.expectedDisplayTime,
        receive: metadata.receiveTime ?? null,
        width: metadata.width,
        height: metadata.height,
      };
      mark("first_rtp", metadata.receiveTime ?? metadata.presentationTime);
      mark("first_frame", metadata.presentationTime);
    });
  };
  const scan = () => {
    for (const tile of document.querySelectorAll("[data-identity]")) {
      if (tile.dataset.identity !== watched) continue;
      for (const video of tile.querySelectorAll("video")) watch(video);
    }
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true });
})();
"""

# Read once the first frame is there: the marks, navigation timing and the inbound video
# counters (keyframe requests sent, keyframes decoded) at that moment.
COLLECT_JS = """
async () => {
  const join = window.__join;
  const navigation = performance.getEntriesByType("navigation")[0];
  const stats = [];
  for (const pc of join.pcs) {
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        stats.push({ mid: s.mid, pli: s.pliCount, fir: s.firCount, nack: s.nackCount,
                     packets: s.packetsReceived, frames_decoded: s.framesDecoded,
                     key_frames_decoded: s.keyFramesDecoded });
      }
    });
  }
  return {
    time_origin: performance.timeOrigin,
    marks: join.marks,
    unmuted: join.unmuted,
    instructor_mids: join.instructorMids,
    frame: join.frame,
    messages: join.messages,
    navigation: navigation && {
      response_start: navigation.responseStart,
      response_end: navigation.responseEnd,
      dom_content_loaded: navigation.domContentLoadedEventStart,
      load: navigation.loadEventEnd,
    },
    inbound_video: stats,
    resources: performance.getEntriesByType("resource").map((r) => [
      r.name.replace(location.origin, ""), Math.round(r.startTime), Math.round(r.responseEnd)]),
  };
}
"""

# The join, step by step: (name, what it is). Each phase lasts from the previous mark to its own.
PHASES: list[tuple[str, str]] = [
    ("html", "HTML received (navigation start → responseEnd)"),
    ("scripts", "module scripts run (→ DOMContentLoaded)"),
    ("gum_done", "getUserMedia resolved (camera + microphone)"),
    ("ws_open", "signaling WebSocket open"),
    ("joined", "`joined` received"),
    ("sub_offer", "first subscriber offer received"),
    ("sub_answer_sent", "subscriber answer sent"),
    ("sub_ice_connected", "subscriber ICE connected"),
    ("sub_connected", "subscriber DTLS connected"),
    ("first_rtp", "first RTP of the instructor's video: its first frame received"),
    ("first_frame", "first frame rendered (presented)"),
]
# Recorded too, off the path to the instructor's first frame (this page's own publishing).
SIDE_MARKS = ["gum_started", "ws_created", "sub_offer_with_camera", "sub_local_description",
              "sub_gathered",
              "sub_ice_checking", "pub_offer_sent", "pub_answer", "pub_ice_connected",
              "pub_connected", "track_unmuted", "loadeddata"]


@dataclass
class JoinResult:
    index: int
    identity: str
    counted: bool
    students_in_room: int  # besides this one, at its join
    marks: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "identity": self.identity, "counted": self.counted,
                "students_in_room": self.students_in_room, "error": self.error,
                "marks_ms": self.marks, "phases_ms": self.phases, **self.extra}


def marks_of(collected: dict[str, Any]) -> dict[str, float]:
    """Every mark of one page on its own clock (ms since navigation start), rounded."""
    marks = dict(collected["marks"])
    navigation = collected.get("navigation") or {}
    if navigation.get("response_end"):
        marks["html"] = navigation["response_end"]
    if navigation.get("dom_content_loaded"):
        marks["scripts"] = navigation["dom_content_loaded"]
    unmuted = collected.get("unmuted") or {}
    times = [unmuted[mid] for mid in collected.get("instructor_mids") or [] if unmuted.get(mid)]
    if times:
        marks["track_unmuted"] = min(times)
    return {name: round(float(value), 1) for name, value in marks.items() if value is not None}


def phases_of(marks: dict[str, float]) -> dict[str, float]:
    """Duration of each phase: its mark minus the previous phase's mark (0 = navigation start)."""
    phases: dict[str, float] = {}
    previous = 0.0
    for name, _ in PHASES:
        if name not in marks:
            continue
        phases[name] = round(marks[name] - previous, 1)
        previous = marks[name]
    return phases


class JoinBench:
    def __init__(self, base_url: str, session_id: str, args: argparse.Namespace) -> None:
        self.base_url = base_url
        self.session_id = session_id
        self.args = args
        self.headers = {"Authorization": f"Bearer {API_KEY}"}
        self.rng = random.Random(args.seed)
        self.seated: list[RtcClient] = []  # --stay: the students who stayed
        self._pausers: list[asyncio.Future[Any]] = []
        self.logs: dict[str, list[str]] = {}

    async def issue(self, identity: str, role: str) -> dict[str, Any]:
        """A join token: {token, join_url}."""
        body = {"identity": identity, "name": identity, "role": role}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base_url}/api/sessions/{self.session_id}/tokens",
                                 json=body, headers=self.headers) as response:
                if response.status != 201:
                    raise RuntimeError(f"POST tokens: {response.status} {await response.text()}")
                return dict(await response.json())

    async def join_url(self, identity: str, role: str) -> str:
        url = str((await self.issue(identity, role))["join_url"])
        return f"{url}{'&' if '?' in url else '?'}autojoin=1"

    async def open_page(self, browser: Browser, identity: str, url: str) -> tuple[BrowserContext, Page]:
        context = await browser.new_context(viewport={"width": 960, "height": 640})
        await context.add_init_script(INIT_SCRIPT % json.dumps(INSTRUCTOR))
        page = await context.new_page()
        logs = self.logs.setdefault(identity, [])
        page.on("console", lambda msg: logs.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: logs.append(f"pageerror: {exc}"))
        await page.goto(url, wait_until="commit")
        return context, page

    async def start_instructor(self, browser: Browser) -> None:
        _, page = await self.open_page(browser, INSTRUCTOR, await self.join_url(INSTRUCTOR, "instructor"))
        await page.wait_for_function("() => window.__join && window.__join.marks.pub_connected",
                                     timeout=30_000)
        # Let the instructor's encoder and bandwidth estimate settle, as in a class under way.
        await asyncio.sleep(self.args.settle)

    async def join_once(self, browser: Browser, index: int, counted: bool) -> JoinResult:
        identity = f"student-{index:02d}"
        result = JoinResult(index, identity, counted, len(self.seated))
        url = await self.join_url(identity, "student")
        opened_at = time.time()
        context, page = await self.open_page(browser, identity, url)
        try:
            await page.wait_for_function("() => window.__join && window.__join.frame",
                                         timeout=self.args.timeout * 1000, polling=50)
            collected = await page.evaluate(COLLECT_JS)
            result.marks = marks_of(collected)
            result.phases = phases_of(result.marks)
            result.extra = {
                # Navigation start on the Unix clock: to line marks up with server logs.
                "time_origin_unix_ms": round(collected["time_origin"], 1),
                "context_and_page_open_ms": round(collected["time_origin"] - opened_at * 1000, 1),
                "frame": collected["frame"], "inbound_video": collected["inbound_video"],
                "subscriber_offers_before_frame": sum(
                    1 for m in collected["messages"] if m[1] == "in" and m[2] == "offer"
                    and m[3] == "subscriber"),
                "messages": [[round(m[0], 1), *m[1:]] for m in collected["messages"]],
                "resources": collected["resources"],
            }
        except Exception as exc:  # noqa: BLE001 - one failed join is reported, the run goes on
            result.error = f"{type(exc).__name__}: {str(exc)[:300]}"
            result.extra["page_log_tail"] = self.logs.get(identity, [])[-20:]
            try:
                partial = await page.evaluate(COLLECT_JS)
                result.marks = marks_of(partial)
            except Exception:  # noqa: BLE001 - the page may be gone
                pass
        await self.leave(context, page)
        if self.args.stay:
            await self.stay(identity)
        return result

    async def stay(self, identity: str) -> None:
        """`identity` comes back and stays, as a cheap aiortc peer with the instructor pinned."""
        tracks = seat_tracks(Seat(identity, "student", STUDENT_VIDEO, QUIET_AUDIO), self.rng)
        client = RtcClient(self.base_url, (await self.issue(identity, "student"))["token"],
                           publish=dict(tracks),
                           options=ClientOptions(decode=False, process_rtp=False,
                                                 connect_timeout_s=60.0, load_client=True))
        hook_audio_level(client.publisher_pc, tracks["microphone"])
        self._pausers.append(asyncio.ensure_future(pause_hidden_videos(client, {INSTRUCTOR})))
        self.seated.append(client)
        await client.connect()

    @staticmethod
    async def leave(context: BrowserContext, page: Page) -> None:
        """Press Leave (the server drops the participant now, not after the reconnect grace)."""
        try:
            await page.evaluate(
                "() => document.querySelector('#controls [data-action=\"leave\"]')?.click()")
            await page.wait_for_selector('#app[data-phase="left"]', state="attached", timeout=5000)
        except Exception:  # noqa: BLE001 - closing the context ends it anyway
            logger.warning("a student page did not leave cleanly")
        await context.close()

    async def leave_all(self) -> None:
        await cancel_tasks(self._pausers)
        await asyncio.gather(*(asyncio.wait_for(c.close(), 10.0) for c in self.seated),
                             return_exceptions=True)
        self.seated.clear()


def summarise(results: list[JoinResult]) -> dict[str, Any]:
    counted = [r for r in results if r.counted and r.error is None]

    def dist(values: list[float]) -> dict[str, Any]:
        return {"samples": len(values), "p50": percentile(values, 50),
                "p95": percentile(values, 95), "max": max(values) if values else None}

    return {
        "joins": len([r for r in results if r.counted]),
        "failed": len([r for r in results if r.counted and r.error is not None]),
        "total_ms": dist([r.marks["first_frame"] for r in counted]),
        "phases_ms": {name: dist([r.phases[name] for r in counted if name in r.phases])
                      for name, _ in PHASES},
        "at_ms": {name: dist([r.marks[name] for r in counted if name in r.marks])
                  for name, _ in PHASES + [(m, "") for m in SIDE_MARKS]},
    }


def print_table(summary: dict[str, Any], goal_ms: float) -> None:
    def cell(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.0f}"

    header = ("phase", "p50", "p95", "max", "at p50", "what")
    rows = []
    for name, what in PHASES:
        phase, at = summary["phases_ms"][name], summary["at_ms"][name]
        rows.append((name, cell(phase["p50"]), cell(phase["p95"]), cell(phase["max"]),
                     cell(at["p50"]), what))
    total = summary["total_ms"]
    rows.append(("TOTAL", cell(total["p50"]), cell(total["p95"]), cell(total["max"]), "",
                 f"page open → first frame rendered (goal < {goal_ms:.0f} ms)"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print(f"\nJoin time over {total['samples']} joins ({summary['failed']} failed), ms; "
          "a phase runs from the previous mark to its own")
    print("  ".join(h.ljust(w) if i in (0, 5) else h.rjust(w)
                    for i, (h, w) in enumerate(zip(header, widths))))
    for row in rows:
        print("  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


def process_tree(root: int) -> set[int]:
    """`root` and every process below it (the server, redis, Playwright's driver, Chromium)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    tree = {root}
    while True:
        grown = tree | {pid for pid, parent in parents.items() if parent in tree}
        if grown == tree:
            return tree
        tree = grown


def environment(browser_version: str) -> dict[str, Any]:
    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": procstat.cpu_count(), "chromium": browser_version,
        "cpu_model": next((line.split(":", 1)[1].strip() for line in
                           Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), None),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: list[JoinResult] = []
    machine_before = procstat.read_machine()
    processes_before = procstat.read_all_processes()
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="aula-join-time-") as tmp:
        directory = Path(tmp)
        redis, redis_url = start_redis(directory)
        server = None
        try:
            server, base_url = await start_server(directory, redis_url)
            async with aiohttp.ClientSession() as http:
                session_id = await create_session(http, base_url, args.joins)
            bench = JoinBench(base_url, session_id, args)
            async with async_playwright() as playwright:
                launch = {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}
                # Two browser processes: one browser shares its fake camera between its pages.
                teacher_browser = await playwright.chromium.launch(**launch)
                student_browser = await playwright.chromium.launch(**launch)
                version = student_browser.version
                await bench.start_instructor(teacher_browser)
                total = args.warmup_joins + args.joins
                for index in range(1, total + 1):
                    counted = index > args.warmup_joins
                    result = await bench.join_once(student_browser, index, counted)
                    results.append(result)
                    status = result.error or (
                        f"first frame at {result.marks['first_frame']:.0f} ms "
                        f"(ICE {result.marks.get('sub_ice_connected', float('nan')):.0f}, "
                        f"DTLS {result.marks.get('sub_connected', float('nan')):.0f})")
                    print(f"[join_time] join {index}/{total}{'' if counted else ' (warm-up)'}, "
                          f"{result.students_in_room} other students in the room: {status}",
                          flush=True)
                    await asyncio.sleep(args.gap * bench.rng.uniform(0.5, 1.5))
                await bench.leave_all()
                # While our Chromium processes still run: the CPU of everything else.
                ours = process_tree(os.getpid())
                others = {pid: cpu for pid, cpu in procstat.read_all_processes().items()
                          if pid not in ours}
                await student_browser.close()
                await teacher_browser.close()
        finally:
            if server is not None:
                server.stop()
            redis.stop()
    machine_after = procstat.read_machine()
    summary = summarise(results)
    busy = machine_after.busy_s - machine_before.busy_s
    elapsed = machine_after.total_s - machine_before.total_s
    return {
        "benchmark": "join_time",
        "command": " ".join(["python", "-m", "benchmarks.join_time", *sys.argv[1:]]),
        "started": args.started,
        "environment": environment(version),
        "settings": {"joins": args.joins, "warmup_joins": args.warmup_joins,
                     "students_stay": args.stay, "gap_s": args.gap, "settle_s": args.settle,
                     "instructor": "headless Chromium, fake camera + microphone (640x360 asked)",
                     "student": "headless Chromium, fresh context per join, fake camera + microphone"},
        "machine": {
            "loadavg_before": load_before, "loadavg_after": loadavg(),
            "cpu_busy_percent_of_all_cores": round(100 * busy / max(1e-9, elapsed), 1),
            # Other engineers' processes on this shared machine (those that ended during the
            # run are missed), in cores: 1.0 = one core busy throughout.
            "other_processes_cores": round(procstat.cpu_between(processes_before, others)
                                           / max(1e-9, elapsed / procstat.cpu_count()), 2),
        },
        "summary": summary,
        "joins": [r.as_json() for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.join_time",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=20, help="counted joins")
    parser.add_argument("--warmup-joins", type=int, default=1,
                        help="joins before the counted ones (the browser's first page starts "
                             "its capture and network services)")
    parser.add_argument("--stay", action="store_true",
                        help="each student stays in the room (as an aiortc peer publishing "
                             "360p + audio) instead of leaving before the next one joins")
    parser.add_argument("--gap", type=float, default=1.5,
                        help="seconds between joins (× a random 0.5–1.5)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the instructor publishes before the first join")
    parser.add_argument("--timeout", type=float, default=20.0, help="per join, s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--goal-ms", type=float, default=1000.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if args.joins < 1:
        parser.error("--joins must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print(f"[join_time] loadavg {loadavg()['1min']} on {procstat.cpu_count()} CPUs", flush=True)
    out = asyncio.run(run(args))
    print_table(out["summary"], args.goal_ms)
    machine = out["machine"]
    print(f"machine: loadavg {machine['loadavg_before']['1min']} before, "
          f"{machine['loadavg_after']['1min']} after; CPU busy "
          f"{machine['cpu_busy_percent_of_all_cores']}% of {out['environment']['cpus']} cores, "
          f"{machine['other_processes_cores']} cores of it by processes not ours")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
