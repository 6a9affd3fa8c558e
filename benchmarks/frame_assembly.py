"""Frame assembly time at the SFU: what frame-level forwarding would add to packet forwarding.

Aula forwards each RTP packet as it arrives. A frame-level SFU (depacketise into a jitter
buffer, re-packetise a whole encoded frame per subscriber) can send nothing of a frame before
the frame's last packet has arrived. This benchmark measures that wait: per video frame (one
RTP timestamp), the time from the arrival of its first packet to the arrival of its last
packet at the SFU, for

- a real Chromium publisher (Debian's /usr/bin/chromium, headless, fake camera; Chrome paces
  its packets), opening the join page with `&autojoin=1`: once with the web client's own
  camera constraints, then with `getUserMedia` asked for 640x480@30 and 1280x720@30 (an init
  script rewrites the page's video constraints);
- aiortc publishers for comparison (`client.rtc_client.RtcClient`): tests/synthetic.py's
  ColourTrack (aiortc encodes a solid colour) and benchmarks/media.py's pre-encoded 720p clip
  (the class_size instructor camera; aiortc packetises without pacing).

The Aula app runs in this process (as tests/conftest.py's `aula_server` fixture does), bound to
127.0.0.1 with loopback-only ICE, against a redis-server started on a free loopback port.
`Publication._on_packet` (called by `media.aiortc.receiver.tap_receiver` for every media packet at
arrival, RTX unwrapped) is wrapped to record (arrival `time.monotonic()`, sequence number, RTP
timestamp, marker, key-frame start, size, abs-send-time). The first seconds after the first
video packet are discarded (`--chrome-warmup`, 30 s: Chrome's bandwidth estimate ramps up and
it only sends 720p after ~30 s; `--aiortc-warmup`, 3 s), then `--duration` seconds are
measured. The Chromium pages run at once (one session and peer connection each, so each has
its own bandwidth estimate; `--sequential` runs them one by one). Key frames only come when
asked for, so during the window a PLI is sent every `--keyframe-interval` s (2 s), as a new
subscriber's would be. For each frame whose first packet arrived in the window:

- assembly time = arrival of its last packet - arrival of its first (first copies of each
  sequence number; a frame completed by a retransmission counts it). Only complete frames
  count (contiguous sequence numbers from a start-of-frame packet to the marker);
- the same span on the sender's clock (abs-send-time of last - first packet, when the
  publisher stamps it): the pacing itself, without this process's receive scheduling;
- packets (and bytes) per frame; key and delta frames apart.

Chrome's outbound-rtp stats (resolution, fps, target bitrate, quality limitation) are read
with `getStats()` at the end of the window; the resolution of key frames is also read from the
VP8 key-frame header. This process's event-loop lag is sampled (a 20 ms sleep's overshoot),
because a late loop bunches arrivals.

    python -m benchmarks.frame_assembly --json benchmarks/results/frame_assembly.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import aiohttp
from aiohttp import web
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from client.rtc_client import ClientOptions, RtcClient
from media.keyframes import starts_vp8_keyframe
from media.publication import Publication
from server.app import create_app
from server.config import Settings
from client.browser import CHROMIUM, CHROMIUM_ARGS

from .class_size import LOOPBACK, free_port, iso, percentile, start_redis

logger = logging.getLogger("benchmarks.frame_assembly")

API_KEY = "bench-api-key"
SECRET = "bench-secret-that-is-long-enough-for-hs256-signing"
# abs-send-time: 6.18 fixed-point seconds in 24 bits (wraps every 64 s).
ABS_SEND_TIME_UNIT = 1 / (1 << 18)
ABS_SEND_TIME_WRAP = 1 << 24

# Before the page's scripts run: keep every RTCPeerConnection (to read the publisher's
# getStats), and, when window.__benchVideo is set, replace the page's camera constraints.
INIT_SCRIPT = """
(() => {
  const video = %s;
  window.__benchPcs = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__benchPcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Original);
  if (video) {
    const devices = navigator.mediaDevices;
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) => {
      if (constraints && constraints.video) constraints = { ...constraints, video };
      return getUserMedia(constraints);
    };
  }
})();
"""

# The publisher's video outbound-rtp stats and the camera track's settings.
STATS_JS = """
async () => {
  const out = { outbound: null, settings: null };
  for (const pc of window.__benchPcs || []) {
    for (const sender of pc.getSenders()) {
      if (!sender.track || sender.track.kind !== 'video') continue;
      out.settings = sender.track.getSettings();
      const stats = await sender.getStats();
      stats.forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') {
          out.outbound = {
            frameWidth: s.frameWidth, frameHeight: s.frameHeight,
            framesPerSecond: s.framesPerSecond, framesEncoded: s.framesEncoded,
            keyFramesEncoded: s.keyFramesEncoded, bytesSent: s.bytesSent,
            packetsSent: s.packetsSent, retransmittedPacketsSent: s.retransmittedPacketsSent,
            targetBitrate: s.targetBitrate, encoderImplementation: s.encoderImplementation,
            qualityLimitationReason: s.qualityLimitationReason,
            qualityLimitationDurations: s.qualityLimitationDurations,
            totalPacketSendDelay: s.totalPacketSendDelay, timestamp: s.timestamp,
          };
        }
      });
    }
  }
  return out;
}
"""


# -- recording -------------------------------------------------------------------------------


@dataclass
class Arrival:
    at: float  # time.monotonic() in the packet handler
    seq: int
    timestamp: int
    marker: bool
    frame_start: bool  # VP8 S bit and partition 0
    keyframe_start: bool
    size: int
    abs_send_time: Optional[int]
    late: bool = False
    width: Optional[int] = None  # from a VP8 key frame's header
    height: Optional[int] = None


@dataclass
class Recording:
    label: str
    publication: Optional[Publication] = None
    mime_type: Optional[str] = None
    arrivals: list[Arrival] = field(default_factory=list)
    duplicates: int = 0  # second copies of a sequence number (retransmissions)
    seen: set[int] = field(default_factory=set)
    highest_seq: Optional[int] = None


class Recorder:
    """Wraps Publication._on_packet; records the video packets of each scenario's publisher."""

    def __init__(self) -> None:
        self.recordings: dict[str, Recording] = {}  # by publisher identity
        self._original: Optional[Callable[..., None]] = None

    def install(self) -> None:
        original = Publication._on_packet
        self._original = original
        recorder = self

        def on_packet(publication: Publication, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            recording = recorder.recordings.get(publication.owner)
            if recording is not None and publication.kind == "video":
                recorder.record(recording, publication, packet, codec)
            original(publication, packet, codec)

        Publication._on_packet = on_packet  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            Publication._on_packet = self._original  # type: ignore[method-assign]

    @staticmethod
    def record(recording: Recording, publication: Publication, packet: RtpPacket,
               codec: RTCRtpCodecParameters) -> None:
        at = time.monotonic()
        recording.publication = publication
        recording.mime_type = codec.mimeType
        seq = packet.sequence_number
        if seq in recording.seen:
            recording.duplicates += 1
            return
        recording.seen.add(seq)
        # Arrived after a later sequence number: a retransmission filling a gap, or reordered.
        late = recording.highest_seq is not None and 0 < (recording.highest_seq - seq) % 65536 < 32768
        if not late:
            recording.highest_seq = seq
        payload = packet.payload
        vp8 = codec.mimeType.lower() == "video/vp8"
        frame_start = bool(payload) and bool(payload[0] & 0x10) and payload[0] & 0x07 == 0 if vp8 else True
        keyframe = starts_vp8_keyframe(payload) if vp8 else False
        arrival = Arrival(at, packet.sequence_number, packet.timestamp, bool(packet.marker),
                          frame_start, keyframe, len(payload), packet.extensions.abs_send_time, late)
        if keyframe:
            arrival.width, arrival.height = vp8_keyframe_size(payload)
        recording.arrivals.append(arrival)


def vp8_keyframe_size(payload: bytes) -> tuple[Optional[int], Optional[int]]:
    """Width and height from a VP8 key frame's header (after the 0x9d012a start code)."""
    index = payload.find(b"\x9d\x01\x2a", 0, 24)
    if index < 0 or len(payload) < index + 7:
        return None, None
    width = int.from_bytes(payload[index + 3:index + 5], "little") & 0x3FFF
    height = int.from_bytes(payload[index + 5:index + 7], "little") & 0x3FFF
    return width, height


class LoopLag:
    """Overshoot of a 20 ms sleep in this process's event loop."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: Optional[asyncio.Task[None]] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.samples.append((now, now - before - 0.02))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


# -- analysis --------------------------------------------------------------------------------


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value * 1000, 2)


def dist(values: list[float], scale: float = 1000.0, digits: int = 2) -> dict[str, Any]:
    data = sorted(values)
    if not data:
        return {"samples": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {"samples": len(data),
            "p50": round(percentile(data, 50) * scale, digits),  # type: ignore[operator]
            "p95": round(percentile(data, 95) * scale, digits),  # type: ignore[operator]
            "p99": round(percentile(data, 99) * scale, digits),  # type: ignore[operator]
            "max": round(data[-1] * scale, digits),
            "mean": round(statistics.fmean(data) * scale, digits)}


def analyse(recording: Recording, window_start: float, window_end: float) -> dict[str, Any]:
    frames: dict[int, list[Arrival]] = {}
    for arrival in recording.arrivals:
        frames.setdefault(arrival.timestamp, []).append(arrival)
    spans: dict[str, list[float]] = {"key": [], "delta": []}
    send_spans: dict[str, list[float]] = {"key": [], "delta": []}
    waits: dict[str, list[float]] = {"key": [], "delta": []}  # per packet: last arrival - its own
    packets: dict[str, list[float]] = {"key": [], "delta": []}
    sizes: dict[str, list[float]] = {"key": [], "delta": []}
    incomplete = 0
    late_frames = 0
    slowest: list[dict[str, Any]] = []
    starts: list[float] = []
    resolutions: dict[str, int] = {}
    window_bytes = 0
    for timestamp, group in frames.items():
        first_at = min(a.at for a in group)
        if not window_start <= first_at < window_end:
            continue
        window_bytes += sum(a.size for a in group)
        by_seq = sorted(group, key=lambda a: (a.seq - group[0].seq) % 65536)
        head, tail = by_seq[0], by_seq[-1]
        contiguous = ((tail.seq - head.seq) % 65536) + 1 == len(by_seq)
        if not (head.frame_start and tail.marker and contiguous):
            incomplete += 1
            continue
        kind = "key" if head.keyframe_start else "delta"
        late_frames += any(a.late for a in group)
        last_at = max(a.at for a in group)
        spans[kind].append(last_at - first_at)
        waits[kind].extend(last_at - a.at for a in group)
        packets[kind].append(len(group))
        sizes[kind].append(sum(a.size for a in group))
        starts.append(first_at)
        gaps = sorted((b.at - a.at for a, b in zip(by_seq, by_seq[1:])), reverse=True)
        slowest.append({"assembly_ms": _ms(last_at - first_at), "kind": kind, "packets": len(group),
                        "at_s": round(first_at - window_start, 3),
                        "largest_gap_ms": _ms(gaps[0]) if gaps else 0.0,
                        "late_packet": any(a.late for a in group)})
        if head.width:
            key = f"{head.width}x{head.height}"
            resolutions[key] = resolutions.get(key, 0) + 1
        if head.abs_send_time is not None and tail.abs_send_time is not None:
            sent = [a.abs_send_time for a in group if a.abs_send_time is not None]
            base = head.abs_send_time
            offsets = [((s - base + ABS_SEND_TIME_WRAP // 2) % ABS_SEND_TIME_WRAP) - ABS_SEND_TIME_WRAP // 2
                       for s in sent]
            send_spans[kind].append((max(offsets) - min(offsets)) * ABS_SEND_TIME_UNIT)
            slowest[-1]["sender_spread_ms"] = _ms(send_spans[kind][-1])
    starts.sort()
    intervals = [b - a for a, b in zip(starts, starts[1:])]
    window = window_end - window_start
    frame_count = len(spans["key"]) + len(spans["delta"])
    result: dict[str, Any] = {
        "codec": recording.mime_type,
        "frames": frame_count,
        "incomplete_frames": incomplete,
        "fps": round(frame_count / window, 1) if window > 0 else None,
        "frame_interval_ms_p50": _ms(percentile(intervals, 50)),
        "payload_kbit_s": round(window_bytes * 8 / window / 1000, 1) if window > 0 else None,
        "retransmitted_duplicates": recording.duplicates,
        "frames_completed_late": late_frames,  # a packet came after a later one (RTX/reorder)
        "keyframe_resolutions": resolutions,
        "slowest_frames": sorted(slowest, key=lambda f: -(f["assembly_ms"] or 0))[:5],
    }
    for kind in ("key", "delta"):
        result[kind] = {
            "assembly_ms": dist(spans[kind]),
            "sender_spread_ms": dist(send_spans[kind]),
            "packet_wait_ms": dist(waits[kind]),
            "packets_per_frame": dist(packets[kind], scale=1.0, digits=1),
            "bytes_per_frame": dist(sizes[kind], scale=1.0, digits=0),
        }
    return result


# -- scenarios -------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    publisher: str  # "chromium" | "aiortc-colour" | "aiortc-clip"
    description: str
    video: Optional[dict[str, Any]] = None  # getUserMedia video constraints (chromium)
    width: int = 640
    height: int = 480
    warmup_s: float = 30.0
    duration_s: float = 12.0


SCENARIOS = {
    "chrome-webclient": Scenario(
        "chrome-webclient", "chromium",
        "Chromium, the web client's own constraints (ideal 640x360, 24 fps)"),
    "chrome-480p": Scenario(
        "chrome-480p", "chromium", "Chromium, getUserMedia 640x480 @30",
        video={"width": 640, "height": 480, "frameRate": 30}),
    "chrome-720p": Scenario(
        "chrome-720p", "chromium", "Chromium, getUserMedia 1280x720 @30",
        video={"width": 1280, "height": 720, "frameRate": 30}),
    "aiortc-colour": Scenario(
        "aiortc-colour", "aiortc-colour", "aiortc, tests/synthetic.py ColourTrack 640x480 @30 (encoded)",
        width=640, height=480),
    "aiortc-clip": Scenario(
        "aiortc-clip", "aiortc-clip", "aiortc, pre-encoded 1280x720 clip ~1.5 Mbit/s (packetised only)"),
}


# chrome-webclient (the web client's own 640x360 request) is left out by default to stay
# under two minutes; name it with --scenarios.
DEFAULT_SCENARIOS = ["chrome-480p", "chrome-720p", "aiortc-colour", "aiortc-clip"]


class Harness:
    def __init__(self, base_url: str, recorder: Recorder, args: argparse.Namespace) -> None:
        self.base_url = base_url
        self.recorder = recorder
        self.args = args
        self.headers = {"Authorization": f"Bearer {API_KEY}"}
        self.browsers: list[Any] = []
        self.page_logs: dict[str, list[str]] = {}
        self._playwright: Any = None

    async def session_and_token(self, http: aiohttp.ClientSession, identity: str) -> dict[str, Any]:
        body = {"title": "Frame assembly", "scheduled_start": iso(), "scheduled_end": iso(3600),
                "roster": [], "instructors": [], "settings": {"recording": False}}
        async with http.post(f"{self.base_url}/api/sessions", json=body, headers=self.headers) as r:
            if r.status != 201:
                raise RuntimeError(f"POST /api/sessions: {r.status} {await r.text()}")
            session_id = (await r.json())["id"]
        body = {"identity": identity, "name": identity, "role": "instructor"}
        async with http.post(f"{self.base_url}/api/sessions/{session_id}/tokens", json=body,
                             headers=self.headers) as r:
            if r.status != 201:
                raise RuntimeError(f"POST tokens: {r.status} {await r.text()}")
            return dict(await r.json())

    async def wait_first_video(self, recording: Recording, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while not recording.arrivals:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{recording.label}: no video packet within {timeout} s")
            await asyncio.sleep(0.05)
        return recording.arrivals[0].at

    async def run(self, scenario: Scenario) -> dict[str, Any]:
        identity = f"pub-{scenario.name}"
        recording = Recording(scenario.name)
        self.recorder.recordings[identity] = recording
        lag = LoopLag()
        lag.start()
        extra: dict[str, Any] = {}
        cleanup: list[Callable[[], Any]] = []
        try:
            async with aiohttp.ClientSession() as http:
                issued = await self.session_and_token(http, identity)
            if scenario.publisher == "chromium":
                page = await self._open_chromium(scenario, issued, cleanup)
            else:
                await self._open_aiortc(scenario, issued, cleanup)
                page = None
            first = await self.wait_first_video(recording, 30.0)
            window_start = first + scenario.warmup_s
            window_end = window_start + scenario.duration_s
            if page is not None:
                ramp: list[dict[str, Any]] = []
                extra["chrome_ramp"] = ramp
                while time.monotonic() < window_start - 1.0:
                    ramp.append(_ramp_point(first, await page.evaluate(STATS_JS)))
                    await asyncio.sleep(min(2.0, max(0.0, window_start - 1.0 - time.monotonic())))
                await asyncio.sleep(max(0.0, window_start - time.monotonic()))
                extra["chrome_stats_window_start"] = await page.evaluate(STATS_JS)
            ticks_start = cpu_ticks()
            # Key frames only come on request (Chrome) or on the encoder's own schedule: ask, as
            # a new subscriber's PLI would, every --keyframe-interval s (the publication's
            # KeyframeRequester sends at most one PLI per second).
            next_request = window_start
            while time.monotonic() < window_end:
                if self.args.keyframe_interval > 0 and time.monotonic() >= next_request:
                    if recording.publication is not None:
                        recording.publication.request_keyframe()
                    next_request += self.args.keyframe_interval
                await asyncio.sleep(min(0.1, max(0.0, window_end - time.monotonic())))
            extra["machine_busy_percent"] = busy_percent(ticks_start, cpu_ticks())
            if page is not None:
                extra["chrome_stats_window_end"] = await page.evaluate(STATS_JS)
                extra["chrome_bitrate_kbit_s"] = _chrome_bitrate(extra)
        finally:
            self.recorder.recordings.pop(identity, None)
            await lag.stop()
            for step in reversed(cleanup):
                try:
                    await step()
                except Exception:  # noqa: BLE001 - cleanup goes on
                    logger.exception("cleanup failed")
        result = analyse(recording, window_start, window_end)
        lags = [v for t, v in lag.samples if window_start <= t < window_end]
        result.update({"scenario": scenario.name, "description": scenario.description,
                       "warmup_s": scenario.warmup_s, "duration_s": scenario.duration_s,
                       "loop_lag_ms": dist(lags), **extra})
        return result

    async def _open_chromium(self, scenario: Scenario, issued: dict[str, Any],
                             cleanup: list[Callable[[], Any]]) -> Any:
        # A browser of its own: one browser process shares its fake camera between pages, opened
        # at the first page's resolution.
        browser = await self._playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        self.browsers.append(browser)
        cleanup.append(browser.close)
        context = await browser.new_context(viewport={"width": 960, "height": 640})
        cleanup.append(context.close)
        await context.add_init_script(INIT_SCRIPT % json.dumps(scenario.video))
        page = await context.new_page()
        logs: list[str] = []
        self.page_logs[scenario.name] = logs
        page.on("console", lambda msg: logs.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: logs.append(f"pageerror: {exc}"))
        url = issued["join_url"]
        await page.goto(f"{url}{'&' if '?' in url else '?'}autojoin=1")
        return page

    async def _open_aiortc(self, scenario: Scenario, issued: dict[str, Any],
                           cleanup: list[Callable[[], Any]]) -> None:
        if scenario.publisher == "aiortc-colour":
            from tests.synthetic import ColourTrack

            track: Any = ColourTrack((200, 60, 30), width=scenario.width, height=scenario.height)
        else:
            from .media import INSTRUCTOR_VIDEO, EncodedTrack, clip_for

            track = EncodedTrack(clip_for(INSTRUCTOR_VIDEO), 0)
        client = RtcClient(self.base_url, issued["token"], publish={"camera": track},
                           options=ClientOptions(decode=False, connect_timeout_s=30.0))
        cleanup.append(client.close)
        await client.connect()

    async def start_playwright(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()

    async def close(self) -> None:
        for browser in self.browsers:
            try:
                await browser.close()
            except Exception:  # noqa: BLE001 - already closed
                pass
        if self._playwright is not None:
            await self._playwright.stop()


def _ramp_point(first: float, stats: dict[str, Any]) -> dict[str, Any]:
    outbound = stats.get("outbound") or {}
    return {"t_s": round(time.monotonic() - first, 1),
            "frame": f"{outbound.get('frameWidth')}x{outbound.get('frameHeight')}",
            "target_kbit_s": round((outbound.get("targetBitrate") or 0) / 1000),
            "bytes_sent": outbound.get("bytesSent"),
            "limited_by": outbound.get("qualityLimitationReason")}


def _chrome_bitrate(extra: dict[str, Any]) -> Optional[float]:
    a = (extra.get("chrome_stats_window_start") or {}).get("outbound")
    b = (extra.get("chrome_stats_window_end") or {}).get("outbound")
    if not a or not b or b["timestamp"] <= a["timestamp"]:
        return None
    return round((b["bytesSent"] - a["bytesSent"]) * 8 / (b["timestamp"] - a["timestamp"]), 1)


# -- main ------------------------------------------------------------------------------------


def cpu_ticks() -> Optional[tuple[int, int]]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    total = sum(fields)
    return total - fields[3] - (fields[4] if len(fields) > 4 else 0), total


def busy_percent(a: Optional[tuple[int, int]], b: Optional[tuple[int, int]]) -> Optional[float]:
    """Machine CPU in use between two cpu_ticks(), in % of all cores."""
    if a is None or b is None or b[1] <= a[1]:
        return None
    return round(100 * (b[0] - a[0]) / (b[1] - a[1]), 1)


def load_average() -> Optional[float]:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    recorder = Recorder()
    recorder.install()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aula-frame-assembly-") as tmp:
        directory = Path(tmp)
        redis, redis_url = start_redis(directory)
        runner: Optional[web.AppRunner] = None
        harness: Optional[Harness] = None
        try:
            settings = Settings(
                host=LOOPBACK, port=free_port(), redis_url=redis_url, data_dir=directory / "data",
                api_key=API_KEY, secret=SECRET, ice_addresses=(LOOPBACK,),
                ice_allowed_networks=("127.0.0.0/8",))
            app = create_app(settings)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, settings.host, settings.port).start()
            base_url = f"http://{settings.host}:{settings.port}"
            harness = Harness(base_url, recorder, args)

            async def one(name: str) -> dict[str, Any]:
                print(f"[frame_assembly] {name}: {SCENARIOS[name].description}", flush=True)
                started = time.monotonic()
                try:
                    result = await asyncio.wait_for(
                        harness.run(SCENARIOS[name]),  # type: ignore[union-attr]
                        timeout=SCENARIOS[name].warmup_s + SCENARIOS[name].duration_s + 60)
                except Exception as exc:  # noqa: BLE001 - one scenario failing is reported
                    logger.exception("%s failed", name)
                    result = {"scenario": name, "description": SCENARIOS[name].description,
                              "error": repr(exc),
                              "page_log_tail": harness.page_logs.get(name, [])[-20:]}  # type: ignore[union-attr]
                result["wall_s"] = round(time.monotonic() - started, 1)
                return result

            chrome = [n for n in args.scenarios if SCENARIOS[n].publisher == "chromium"]
            others = [n for n in args.scenarios if n not in chrome]
            if chrome:
                await harness.start_playwright()
                if args.parallel:
                    # One browser per scenario, all at once: each its own session and peer
                    # connection (its own bandwidth estimate), so the long ramp is paid once.
                    results.extend(await asyncio.gather(*(one(name) for name in chrome)))
                else:
                    for name in chrome:
                        results.append(await one(name))
            for name in others:
                results.append(await one(name))
        finally:
            if harness is not None:
                await harness.close()
            if runner is not None:
                await runner.cleanup()
            redis.stop()
            recorder.uninstall()
    return {
        "benchmark": "frame_assembly",
        "finished": datetime.now(timezone.utc).isoformat(),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average_1m_at_end": load_average()},
        "results": results,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def print_table(out: dict[str, Any]) -> None:
    header = ["scenario", "frames", "res", "fps", "kbit/s", "kind", "n",
              "asm p50", "p95", "max", "send p50", "p95", "max", "pkts p50", "p95", "max"]
    rows = []
    for r in out["results"]:
        if "error" in r:
            rows.append([r["scenario"], "error: " + r["error"][:80]] + [""] * (len(header) - 2))
            continue
        res = ",".join(sorted(r["keyframe_resolutions"], key=lambda k: -r["keyframe_resolutions"][k])) or "-"
        outbound = (r.get("chrome_stats_window_end") or {}).get("outbound") or {}
        if outbound.get("frameWidth"):
            res = f"{outbound['frameWidth']}x{outbound['frameHeight']}"
        kbit = r.get("chrome_bitrate_kbit_s") or r["payload_kbit_s"]
        for kind in ("key", "delta"):
            k = r[kind]
            rows.append([
                r["scenario"] if kind == "key" else "", str(r["frames"]) if kind == "key" else "",
                res if kind == "key" else "", _fmt(r["fps"]) if kind == "key" else "",
                _fmt(kbit) if kind == "key" else "", kind, str(k["assembly_ms"]["samples"]),
                _fmt(k["assembly_ms"]["p50"]), _fmt(k["assembly_ms"]["p95"]), _fmt(k["assembly_ms"]["max"]),
                _fmt(k["sender_spread_ms"]["p50"]), _fmt(k["sender_spread_ms"]["p95"]),
                _fmt(k["sender_spread_ms"]["max"]),
                _fmt(k["packets_per_frame"]["p50"]), _fmt(k["packets_per_frame"]["p95"]),
                _fmt(k["packets_per_frame"]["max"])])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("\nFrame assembly at the SFU: first → last packet of a frame (ms); "
          "send = same span on the sender's abs-send-time clock")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    for r in out["results"]:
        if "error" in r:
            continue
        lag = r["loop_lag_ms"]
        notes = [f"machine CPU {_fmt(r.get('machine_busy_percent'))}% of {os.cpu_count()} cores",
                 f"loop lag p95 {_fmt(lag['p95'])} ms", f"incomplete frames {r['incomplete_frames']}",
                 f"frames completed by a late packet {r['frames_completed_late']}",
                 f"duplicate packets {r['retransmitted_duplicates']}"]
        outbound = (r.get("chrome_stats_window_end") or {}).get("outbound")
        start = (r.get("chrome_stats_window_start") or {}).get("outbound")
        if outbound and start:
            notes.append(f"chrome: sent {start.get('frameWidth')}x{start.get('frameHeight')} at window start, "
                         f"{outbound.get('frameWidth')}x{outbound.get('frameHeight')} at its end")
        if outbound:
            notes.append(f"chrome: {outbound.get('encoderImplementation')}, target "
                         f"{round((outbound.get('targetBitrate') or 0) / 1000)} kbit/s, "
                         f"limited by {outbound.get('qualityLimitationReason')}")
        print(f"  {r['scenario']}: " + "; ".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=DEFAULT_SCENARIOS)
    parser.add_argument("--duration", type=float, default=12.0,
                        help="measured seconds per Chromium scenario")
    parser.add_argument("--aiortc-duration", type=float, default=8.0,
                        help="measured seconds per aiortc scenario")
    parser.add_argument("--chrome-warmup", type=float, default=30.0,
                        help="seconds after a page's first video packet to discard: Chrome's "
                             "bandwidth estimate ramps up, and 720p is only sent after ~30 s")
    parser.add_argument("--aiortc-warmup", type=float, default=3.0)
    parser.add_argument("--parallel", action="store_true",
                        help="all Chromium pages at once, one browser each (faster, but on a small "
                             "machine the encoders, this process and Chrome's bandwidth estimates "
                             "disturb each other; default: one at a time)")
    parser.add_argument("--keyframe-interval", type=float, default=2.0,
                        help="ask the publisher for a key frame (PLI) every this many seconds of "
                             "the window, so key frames are measured too (0: never)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for scenario in SCENARIOS.values():
        chromium = scenario.publisher == "chromium"
        scenario.warmup_s = args.chrome_warmup if chromium else args.aiortc_warmup
        scenario.duration_s = args.duration if chromium else args.aiortc_duration
    load = load_average()
    if load is not None and load > 1.5:
        print(f"[frame_assembly] warning: load average {load:.2f} > 1.5, the machine is busy", flush=True)
    out = asyncio.run(run(args))
    out["args"] = {"scenarios": args.scenarios,
                   "duration": {s: SCENARIOS[s].duration_s for s in args.scenarios},
                   "keyframe_interval": args.keyframe_interval,
                   "warmup": {s: SCENARIOS[s].warmup_s for s in args.scenarios}}
    print_table(out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
