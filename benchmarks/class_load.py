"""The class-shaped load and its measurement, for any SFU: Aula (class_size.py) or Janus
(janus_side_by_side.py).

A `Scenario` lists seats: who publishes which pre-encoded clip (benchmarks/media.py, so
publishing costs no encoding) and which videos each keeps enabled. `run_class` joins one aiortc
client per seat to a `ServerUnderTest` (each system brings its own signaling), waits until every
client receives the videos it shows, warms up, then measures a window:

- server CPU (user+sys seconds per second = % of one core, from /proc/<pid>), RSS;
- forwarded packets: every RTP packet the subscribers received in the window; packets per
  server CPU-second and server CPU-µs per delivered packet;
- delivery: packets the publishers sent in the window × their subscriber count vs received;
- added forwarding latency: the publisher's send time (wrapped DTLS transport) of each packet,
  keyed by publisher and payload tail, against its arrival at each subscriber: one process,
  one clock. It includes both network hops and this process's own scheduling delay;
- health of this load process (its CPU, event-loop lag, how late the publishers kept their
  pts schedule) and of the machine: when the load process or the machine is saturated, the
  server numbers are not a measure of the server alone, and the run says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import signal
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Protocol, TypeVar

import aiohttp
from aiortc import RTCPeerConnection

from client.rtc_client import PacketObserver, RemoteTrack
from media.aiortc.dtls_send import send_through_packet_sender
from server import garbage

from . import procstat
from .media import (
    AUDIO,
    INSTRUCTOR_VIDEO,
    QUIET_AUDIO,
    STUDENT_VIDEO,
    AudioProfile,
    EncodedClip,
    EncodedTrack,
    VideoProfile,
    clip_for,
    send_audio_level,
)

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Bytes at the end of an RTP payload that identify it (the publisher is part of the key).
PAYLOAD_TAIL = 12
MAX_LATENCY_SAMPLES = 1_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def percentile(values: Any, q: float) -> Optional[float]:
    """q in [0, 100], nearest-rank on a sorted copy; None when empty."""
    data = sorted(values)
    if not data:
        return None
    index = min(len(data) - 1, max(0, int(round(q / 100 * (len(data) - 1)))))
    return float(data[index])


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value * 1000, 2)


def dist_ms(values: Any) -> dict[str, Any]:
    data = sorted(values)
    return {"samples": len(data), "p50": _ms(percentile(data, 50)), "p95": _ms(percentile(data, 95)),
            "p99": _ms(percentile(data, 99)), "max": _ms(data[-1] if data else None)}


# -- subprocesses ----------------------------------------------------------------------------


class Subprocess:
    """A child process we own: started, watched, and killed by its own pid only."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: Optional[dict[str, str]] = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)
        self._log.close()


async def wait_for_http(process: Subprocess, url: str,
                        ready: Callable[[Any], bool] = lambda body: True,
                        timeout_s: float = 30.0) -> None:
    """Poll `url` until it answers 200 with a JSON body that `ready` accepts; if `process`
    dies or the time runs out, stop it and raise with its log's tail."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == 200 and ready(await response.json(content_type=None)):
                        return
            except aiohttp.ClientError:
                pass
            if not process.alive() or time.monotonic() > deadline:
                process.stop()
                raise RuntimeError(f"{process.name} did not start:\n{process.log_tail()}")
            await asyncio.sleep(0.1)


# -- measurement probes (in the load process) ------------------------------------------------


class LatencyProbe:
    """Publisher send time per (publisher, payload tail), looked up at each subscriber.

    Two generations of send records, rotated every `keep_s`: a lookup finds packets sent
    `keep_s`..2×`keep_s` ago at most; the clip loops only every ~64 s, so a tail never
    matches an older loop of the same clip.
    """

    def __init__(self, keep_s: float = 5.0) -> None:
        self.keep_s = keep_s
        self.current: dict[str, dict[bytes, float]] = {}
        self.previous: dict[str, dict[bytes, float]] = {}
        self.recording = False
        self.stride = 1
        self._seen = 0
        self.samples: dict[str, array[float]] = {"audio": array("d"), "video": array("d")}
        self.misses = 0
        # Media packets sent per publisher and SSRC (RTX counted apart by SSRC).
        self.sent: dict[str, Counter[int]] = {}
        self.ssrc_kind: dict[str, dict[int, str]] = {}
        self._rotated_at = time.perf_counter()

    def wrap_publisher(self, identity: str, client: LoadClient) -> None:
        kinds: dict[int, str] = {}
        transports = []
        for sender in client.publisher_pc.getSenders():
            if sender.track is None:
                continue
            kinds[sender._ssrc] = sender.track.kind
            kinds[sender._rtx_ssrc] = "rtx"
            if sender.transport not in transports:
                transports.append(sender.transport)
        self.ssrc_kind[identity] = kinds
        counts: Counter[int] = Counter()
        self.sent[identity] = counts
        self.current.setdefault(identity, {})
        clock = time.perf_counter
        probe = self

        for transport in transports:
            # Protected and sent on the packet sender's thread, as the server's packets are:
            # the load generator shares the cores, what it spends the server cannot.
            send_through_packet_sender(transport)
            original = transport._send_rtp

            async def send_rtp(data: bytes, _original=original) -> None:  # type: ignore[no-untyped-def]
                counts[int.from_bytes(data[8:12], "big")] += 1
                records = probe.current[identity]
                key = data[-PAYLOAD_TAIL:]
                if key not in records:  # an RTX resend keeps the first send time
                    records[key] = clock()
                await _original(data)

            transport._send_rtp = send_rtp  # type: ignore[method-assign]

    def sent_counts(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for identity, counts in self.sent.items():
            kinds = self.ssrc_kind[identity]
            for ssrc, count in counts.items():
                kind = kinds.get(ssrc, "unknown")
                out[(identity, kind)] = out.get((identity, kind), 0) + count
        return out

    def rotate_if_due(self) -> None:
        now = time.perf_counter()
        if now - self._rotated_at >= self.keep_s:
            self.previous = self.current
            self.current = {identity: {} for identity in self.previous}
            self._rotated_at = now

    def on_packet(self, remote: RemoteTrack, packet: Any) -> None:
        if not self.recording:
            return
        self._seen += 1
        if self._seen % self.stride:
            return
        now = time.perf_counter()
        key = packet.payload[-PAYLOAD_TAIL:]
        sent_at = self.current.get(remote.identity, {}).get(key)
        if sent_at is None:
            sent_at = self.previous.get(remote.identity, {}).get(key)
        if sent_at is None:
            self.misses += 1
            return
        samples = self.samples.get(remote.kind)
        if samples is not None and len(samples) < MAX_LATENCY_SAMPLES:
            samples.append(now - sent_at)


class LoopMonitor:
    """Event-loop lag of this process: how late a 20 ms sleep wakes up."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.recording = False
        self.lags: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval_s)
            if self.recording:
                self.lags.append(max(0.0, loop.time() - started - self.interval_s))


class RoundTripPinger:
    """A request/response through the server's control path every 0.5 s (Aula: a signaling
    `ping`; Janus: an HTTP API keepalive): its responsiveness under load, plus ours."""

    def __init__(self, round_trip: Callable[[], Awaitable[None]], interval_s: float = 0.5) -> None:
        # `round_trip` raises asyncio.TimeoutError when no answer comes within a few seconds.
        self.round_trip = round_trip
        self.interval_s = interval_s
        self.recording = False
        self.rtts: list[float] = []
        self.timeouts = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            started = time.perf_counter()
            try:
                await self.round_trip()  # times out by itself (no wait_for: see run_class)
            except (asyncio.TimeoutError, aiohttp.ClientError):
                if self.recording:
                    self.timeouts += 1
                continue
            if self.recording:
                self.rtts.append(time.perf_counter() - started)


# -- what is measured ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """One participant of the load: what it publishes and which videos it keeps enabled."""

    identity: str
    role: str  # "instructor" or "student"
    video: Optional[VideoProfile] = None
    audio: Optional[AudioProfile] = None
    # Publishers whose camera it keeps enabled (the rest paused, as a browser pauses off-screen
    # tiles); None: every camera.
    shown: Optional[frozenset[str]] = None

    def shows(self, publisher: str) -> bool:
        return publisher != self.identity and (self.shown is None or publisher in self.shown)


@dataclass(frozen=True)
class Scenario:
    name: str  # "class" (1 instructor + N students) or "fanout" (1 publisher → N viewers)
    size: int  # N
    seats: tuple[Seat, ...]
    visible_videos: int = 0  # each student's K videos (0: all)

    def videos_shown_by(self, seat: Seat) -> set[str]:
        return {s.identity for s in self.seats if s.video is not None and seat.shows(s.identity)}

    def video_viewers(self) -> dict[str, int]:
        return {p.identity: sum(1 for s in self.seats if s.shows(p.identity))
                for p in self.seats if p.video is not None}

    def talking(self) -> set[str]:
        """Publishers whose microphone carries speech (the others send room tone)."""
        return {s.identity for s in self.seats if s.audio is not None and s.audio.content == "speech"}


def shown_videos(identity: str, students: int, visible: int) -> set[str]:
    """The videos student-i keeps on: the instructor's and the next visible-1 classmates'."""
    index = int(identity.rsplit("-", 1)[1]) - 1
    return {"instructor"} | {f"student-{(index + k) % students + 1:02d}" for k in range(1, visible)}


def class_scenario(students: int, visible_videos: int = 0, student_audio: str = "quiet") -> Scenario:
    """1 instructor (720p + talking Opus) + N students (360p + quiet or talking Opus); each
    student shows `visible_videos` videos (0: all), the instructor shows everyone."""
    audio = AUDIO if student_audio == "speech" else QUIET_AUDIO
    seats = [Seat("instructor", "instructor", INSTRUCTOR_VIDEO, AUDIO)]
    for i in range(1, students + 1):
        identity = f"student-{i:02d}"
        shown = (frozenset(shown_videos(identity, students, visible_videos))
                 if visible_videos else None)
        seats.append(Seat(identity, "student", STUDENT_VIDEO, audio, shown))
    return Scenario("class", students, tuple(seats), visible_videos)


def fanout_scenario(viewers: int) -> Scenario:
    """1 publisher (360p VP8 ~500 kbit/s + talking Opus) → N viewers that publish nothing."""
    seats = [Seat("instructor", "instructor", STUDENT_VIDEO, AUDIO)]
    seats += [Seat(f"viewer-{i:02d}", "student") for i in range(1, viewers + 1)]
    return Scenario("fanout", viewers, tuple(seats))


class LoadClient(Protocol):
    """One seat's connection to the server: a publishing and a subscribing peer connection."""

    identity: Optional[str]
    publisher_pc: RTCPeerConnection
    subscriber_pc: RTCPeerConnection
    remote_tracks: dict[str, RemoteTrack]  # by subscriber mid

    async def close(self) -> None: ...


class ServerUnderTest(Protocol):
    """An SFU started by the caller; `process` is the one whose CPU and RSS are measured."""

    name: str
    process: "Subprocess"
    helpers: dict[str, "Subprocess"]  # processes it needs (Aula: redis), measured apart

    async def open_room(self, scenario: Scenario) -> None: ...

    async def join(self, seat: Seat, tracks: dict[str, EncodedTrack],
                   on_packet: PacketObserver) -> LoadClient:
        """Connect a seat and publish its tracks ("camera", "microphone")."""

    async def subscribe_all(self, scenario: Scenario, members: list["Member"]) -> None:
        """Once everyone has joined: subscribe each seat to what it shows (if not automatic)."""

    async def round_trip(self) -> None:
        """One request/response through the server's control path."""

    async def leave_all(self) -> None:
        """Close every client and the server's own background work (not the process)."""


# -- one class -------------------------------------------------------------------------------


@dataclass
class Member:
    identity: str
    role: str
    client: LoadClient
    tracks: dict[str, EncodedTrack]


@dataclass
class Snapshot:
    at: float
    server: Optional[procstat.ProcSample]
    helpers: dict[str, Optional[procstat.ProcSample]]
    load: Optional[procstat.ProcSample]
    machine: procstat.MachineSample
    all_processes: dict[int, float]
    received: dict[tuple[str, str, str], tuple[int, int]]  # (subscriber, publisher, source)
    sent: dict[tuple[str, str], int]  # (publisher, kind): RTP packets on the wire
    yielded: dict[tuple[str, str], tuple[int, int]]  # (publisher, kind): (frames, bytes)
    # Datagrams the kernel dropped at full receive buffers: the server's, the load clients'.
    server_udp_drops: int
    load_udp_drops: int


def snapshot(server: ServerUnderTest, members: list[Member], probe: LatencyProbe) -> Snapshot:
    received: dict[tuple[str, str, str], tuple[int, int]] = {}
    for member in members:
        for remote in member.client.remote_tracks.values():
            received[(member.identity, remote.identity, remote.source)] = (
                remote.packets, remote.payload_bytes)
    yielded = {(m.identity, t.kind): (t.packets_yielded, t.bytes_yielded)
               for m in members for t in m.tracks.values()}
    helpers = {name: procstat.read_process(p.pid) for name, p in server.helpers.items()}
    server_sample = procstat.read_process(server.process.pid, main_thread=True)
    return Snapshot(time.perf_counter(), server_sample, helpers,
                    procstat.read_process(os.getpid()), procstat.read_machine(),
                    procstat.read_all_processes(), received, probe.sent_counts(), yielded,
                    procstat.udp_drops(server.process.pid), procstat.udp_drops(os.getpid()))


def hook_audio_level(pc: RTCPeerConnection, track: EncodedTrack) -> None:
    """Once `pc` adds the microphone `track`, make its sender write RFC 6464 levels."""
    original = pc.addTransceiver

    def add_transceiver(track_or_kind, *a, **kw):  # type: ignore[no-untyped-def]
        transceiver = original(track_or_kind, *a, **kw)
        if track_or_kind is track:
            send_audio_level(transceiver.sender, track)
        return transceiver

    pc.addTransceiver = add_transceiver  # type: ignore[method-assign]



async def wait_for_videos(client: LoadClient, shown: set[str], timeout: float) -> None:
    """Until a packet of every camera in `shown` (publisher identities) has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        flowing = {t.identity for t in client.remote_tracks.values()
                   if t.kind == "video" and t.packets and t.identity in shown}
        if flowing >= shown:
            return
        if time.monotonic() > deadline:
            raise asyncio.TimeoutError(
                f"{len(flowing)} of {len(shown)} videos flowing: "
                f"{sorted((t.identity, t.source, t.packets) for t in client.remote_tracks.values())}")
        await asyncio.sleep(0.1)


def seat_tracks(seat: Seat, rng: random.Random) -> dict[str, EncodedTrack]:
    """What `seat` publishes ("camera", "microphone"): its clips, each from a random start."""
    tracks: dict[str, EncodedTrack] = {}
    for source, profile in (("camera", seat.video), ("microphone", seat.audio)):
        if profile is not None:
            clip = clip_for(profile)
            tracks[source] = EncodedTrack(clip, _start_index(clip, rng))
    return tracks


def _start_index(clip: EncodedClip, rng: random.Random) -> int:
    """A random keyframe (video) or packet (audio) to start at, so publishers differ."""
    if clip.kind == "video":
        return rng.choice(clip.keyframe_indices()[: max(1, len(clip.keyframe_indices()) // 2)])
    return rng.randrange(0, len(clip.data) // 2)


def _packet_rate(clip: EncodedClip) -> float:
    return len(clip.data) / clip.duration_s


AfterWindow = Callable[[], Awaitable[dict[str, Any]]]


async def run_class(server: ServerUnderTest, scenario: Scenario, args: argparse.Namespace,
                    after_window: Optional[AfterWindow] = None) -> dict[str, Any]:
    """Join every seat, wait for the videos, warm up, measure one window; `after_window` runs
    before the clients leave (a profiler)."""
    rng = random.Random(scenario.size)
    garbage.tune()
    probe = LatencyProbe()
    monitor = LoopMonitor()
    members: list[Member] = []
    background: list[asyncio.Future[Any]] = []
    result: dict[str, Any] = {"system": server.name, "scenario": scenario.name,
                              "students": scenario.size, "participants": len(scenario.seats)}
    warnings: list[str] = []
    try:
        await asyncio.sleep(1.0)
        idle_a = procstat.read_process(server.process.pid)
        await asyncio.sleep(2.0)
        idle_b = procstat.read_process(server.process.pid)
        assert idle_a and idle_b
        result["server_idle"] = {
            "rss_mb": round(idle_b.rss_bytes / 2**20, 1),
            "cpu_percent": round(100 * (idle_b.cpu_s - idle_a.cpu_s) / 2.0, 1)}
        background.append(asyncio.ensure_future(monitor.run()))

        # Join one by one, in seat order (the instructor first).
        join_started = time.perf_counter()
        await server.open_room(scenario)
        for seat in scenario.seats:
            tracks = seat_tracks(seat, rng)
            client = await server.join(seat, tracks, probe.on_packet)
            members.append(Member(seat.identity, seat.role, client, tracks))
            if tracks:
                probe.wrap_publisher(seat.identity, client)
        await server.subscribe_all(scenario, members)
        joined_s = time.perf_counter() - join_started

        # Microphones reach subscribers only as the server forwards them (Aula: speaker
        # selection), so only videos are waited for.
        flow_timeout = args.flow_timeout or (30.0 + 2.0 * scenario.size)
        flowing = await asyncio.gather(
            *(wait_for_videos(m.client, scenario.videos_shown_by(seat), flow_timeout)
              for m, seat in zip(members, scenario.seats)),
            return_exceptions=True)
        not_flowing = [(m.identity, str(f)) for m, f in zip(members, flowing)
                       if isinstance(f, BaseException)]
        all_flowing_s = time.perf_counter() - join_started
        result["join"] = {"all_connected_s": round(joined_s, 1),
                          "all_tracks_flowing_s": round(all_flowing_s, 1),
                          "clients_missing_tracks": len(not_flowing)}
        if not_flowing:
            warnings.append(f"{len(not_flowing)} clients did not receive all their videos within "
                            f"{flow_timeout:.0f} s (e.g. {not_flowing[0][1][:200]})")
        print(f"  {server.name} N={scenario.size}: {len(members)} clients connected in "
              f"{joined_s:.1f} s, all tracks flowing after {all_flowing_s:.1f} s; warming up "
              f"{args.warmup:.0f} s", flush=True)
        # The load's clients live as long as the window: the garbage collector need not walk
        # them (what the server does with its start-up objects, server/garbage.py). Full
        # passes over N+1 clients' aiortc objects held this process's loop ~150 ms at 1 + 40.
        garbage.freeze_startup_objects()
        video_viewers = scenario.video_viewers()
        result["videos_shown_per_student"] = scenario.visible_videos or scenario.size

        pinger = RoundTripPinger(server.round_trip)
        background.append(asyncio.ensure_future(pinger.run()))

        async def rotate() -> None:
            while True:
                probe.rotate_if_due()
                await asyncio.sleep(0.5)

        background.append(asyncio.ensure_future(rotate()))
        await asyncio.sleep(args.warmup)

        # Latency: keep at most ~MAX_LATENCY_SAMPLES over the window.
        expected_rate = 0.0
        for seat in scenario.seats:
            if seat.video is not None:
                expected_rate += _packet_rate(clip_for(seat.video)) * video_viewers[seat.identity]
            if seat.audio is not None:
                expected_rate += _packet_rate(clip_for(seat.audio)) * (len(scenario.seats) - 1)
        observed_rate = expected_rate / receive_options(args.receivers)[1]
        probe.stride = max(1, int(observed_rate * args.duration / MAX_LATENCY_SAMPLES) + 1)
        lateness_marks = {(m.identity, k): len(t.lateness_s) for m in members for k, t in m.tracks.items()}
        timeline: list[dict[str, float]] = []
        start = snapshot(server, members, probe)
        probe.recording = monitor.recording = pinger.recording = True
        previous = start
        window_end = time.perf_counter() + args.duration
        while time.perf_counter() < window_end:
            await asyncio.sleep(min(1.0, max(0.0, window_end - time.perf_counter())))
            current = snapshot(server, members, probe)
            if current.server and previous.server:
                dt = current.at - previous.at
                timeline.append({
                    "t": round(current.at - start.at, 2),
                    "server_cpu_percent": round(100 * (current.server.cpu_s - previous.server.cpu_s) / dt, 1),
                    "load_cpu_percent": round(100 * (current.load.cpu_s - previous.load.cpu_s) / dt, 1)
                    if current.load and previous.load else -1,
                    "delivered_pps": round((sum(v[0] for v in current.received.values())
                                            - sum(v[0] for v in previous.received.values())) / dt),
                })
            previous = current
            if not server.process.alive():
                warnings.append("the server process exited during the window")
                break
        end = previous
        probe.recording = monitor.recording = pinger.recording = False
        lateness = {(m.identity, k): t.lateness_s[lateness_marks[(m.identity, k)]:]
                    for m in members for k, t in m.tracks.items()}

        result.update(summarise(start, end, members, probe, monitor, pinger, lateness,
                                warnings, video_viewers))
        result["timeline"] = timeline
        if result["server"]["rss_mb"] is not None:
            result["server"]["rss_per_participant_mb"] = round(
                (result["server"]["rss_mb"] - result["server_idle"]["rss_mb"]) / len(members), 2)
        if after_window is not None:
            result["profile"] = await after_window()
    finally:
        await cancel_tasks(background)
        await server.leave_all()
    result["loadavg"] = loadavg()
    result["warnings"] = warnings
    result["valid"] = not any(w.startswith("INVALID") for w in warnings)
    return result


async def cancel_tasks(tasks: list[asyncio.Future[Any]], timeout_s: float = 5.0) -> None:
    """Cancel and wait for `tasks`, but not forever: on Python 3.11 a task inside nested
    asyncio.wait_for calls can swallow its cancellation and keep looping."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout_s)


def add_load_arguments(parser: argparse.ArgumentParser, visible_videos: int) -> None:
    """The options of the load and its window, the same for every benchmark that runs it."""
    parser.add_argument("--visible-videos", type=int, default=visible_videos, metavar="K",
                        help="each student keeps K videos enabled (the instructor's and K-1 "
                             "classmates'), pausing the rest, as a browser pauses off-screen "
                             f"tiles; the instructor keeps all. 0: every video (default {visible_videos})")
    parser.add_argument("--duration", type=float, default=30.0, help="measurement window, s")
    parser.add_argument("--warmup", type=float, default=10.0, help="after all tracks flow, s")
    parser.add_argument("--flow-timeout", type=float, default=0.0,
                        help="wait this long for every client's videos (default 30 s + 2 s × N)")
    parser.add_argument("--receivers", choices=("count", "headers", "full"), default="count",
                        help="load clients only count received packets (each authenticated and "
                             "parsed); or count them from their RTP header, authenticating, "
                             f"parsing and timing 1 in {HEADERS_AUTHENTICATE_EVERY} (cheapest: "
                             "for the largest classes); or let aiortc process them as a browser "
                             "would: receiver reports, NACKs and REMB back to the server (no "
                             "decoding either way)")


# --receivers headers: 1 packet in this many is authenticated, parsed and timed.
HEADERS_AUTHENTICATE_EVERY = 8


def receive_options(receivers: str) -> tuple[bool, int]:
    """The load clients' (process_rtp, authenticate_every) for --receivers."""
    return receivers == "full", HEADERS_AUTHENTICATE_EVERY if receivers == "headers" else 1


def loadavg() -> dict[str, Any]:
    """/proc/loadavg after the run: 1, 5, 15-minute load averages and runnable/total tasks."""
    fields = Path("/proc/loadavg").read_text().split()
    return {"1min": float(fields[0]), "5min": float(fields[1]), "15min": float(fields[2]),
            "tasks": fields[3]}


def summarise(start: Snapshot, end: Snapshot, members: list[Member],
              probe: LatencyProbe, monitor: LoopMonitor, pinger: RoundTripPinger,
              lateness: dict[tuple[str, str], list[float]], warnings: list[str],
              video_viewers: dict[str, int]) -> dict[str, Any]:
    window = end.at - start.at
    out: dict[str, Any] = {"window_s": round(window, 2)}

    # Server and helper CPU, memory.
    server_cpu = (end.server.cpu_s - start.server.cpu_s) if end.server and start.server else None
    out["server"] = {
        "cpu_percent_of_one_core": round(100 * server_cpu / window, 1) if server_cpu is not None else None,
        "cpu_user_s": round(end.server.user_s - start.server.user_s, 2) if end.server and start.server else None,
        "cpu_sys_s": round(end.server.sys_s - start.server.sys_s, 2) if end.server and start.server else None,
        "rss_mb": round(end.server.rss_bytes / 2**20, 1) if end.server else None,
        "threads": end.server.threads if end.server else None,
        # Its event loop's thread alone: one loop cannot take more than one core.
        "main_thread_cpu_percent_of_one_core": round(
            100 * (end.server.main_thread_s - start.server.main_thread_s) / window, 1)
            if end.server and start.server else None,
    }
    helper_cpu = 0.0
    for name, after in end.helpers.items():
        before = start.helpers.get(name)
        if after and before:
            helper_cpu += after.cpu_s - before.cpu_s
            out[f"{name}_cpu_percent"] = round(100 * (after.cpu_s - before.cpu_s) / window, 2)

    # Delivered vs expected, per kind. A publication is received by every other member.
    subscribers_of = {m.identity: len(members) - 1 for m in members}
    source_kind = {"camera": "video", "microphone": "audio"}
    delivered: Counter[str] = Counter()
    delivered_bytes: Counter[str] = Counter()
    for key, (packets, payload) in end.received.items():
        before = start.received.get(key, (0, 0))
        kind = source_kind.get(key[2], key[2])
        delivered[kind] += packets - before[0]
        delivered_bytes[kind] += payload - before[1]
    sent: Counter[str] = Counter()
    for (identity, kind), count in end.sent.items():
        sent[kind] += count - start.sent.get((identity, kind), 0)
    per_publication: dict[str, dict[str, Any]] = {}
    for (subscriber, publisher, source), (packets, _) in end.received.items():
        before = start.received.get((subscriber, publisher, source), (0, 0))
        entry = per_publication.setdefault(f"{publisher}/{source}",
                                           {"delivered": 0, "subscribers_receiving": 0})
        entry["delivered"] += packets - before[0]
        entry["subscribers_receiving"] += 1 if packets - before[0] > 0 else 0
    for (identity, kind), count in end.sent.items():
        source = {"video": "camera", "audio": "microphone"}.get(kind)
        if source is None:
            continue
        entry = per_publication.setdefault(f"{identity}/{source}",
                                           {"delivered": 0, "subscribers_receiving": 0})
        entry["kind"] = kind
        entry["sent"] = count - start.sent.get((identity, kind), 0)
        viewers = video_viewers[identity] if kind == "video" else subscribers_of[identity]
        entry["expected"] = entry["sent"] * viewers
        entry["delivery_ratio"] = round(entry["delivered"] / entry["expected"], 4) \
            if entry["expected"] else None
    # Video: every subscriber keeps every video enabled, so all of it is expected. Audio: the
    # server forwards only selected speakers; a microphone counts as forwarded when more than
    # half of its packets reached its subscribers, and only forwarded ones are expected.
    expected: Counter[str] = Counter()
    delivered_counted: Counter[str] = Counter()
    audio_not_forwarded = {"publications": 0, "packets": 0}
    audio_forwarded_publications = 0
    for entry in per_publication.values():
        kind = entry.get("kind")
        if kind is None or not entry.get("expected"):
            continue
        if kind == "audio" and entry["delivered"] <= entry["expected"] / 2:
            audio_not_forwarded["publications"] += 1
            audio_not_forwarded["packets"] += entry["expected"] - entry["delivered"]
            continue
        audio_forwarded_publications += kind == "audio"
        expected[kind] += entry["expected"]
        delivered_counted[kind] += entry["delivered"]
    total_delivered = sum(delivered.values())
    total_expected = sum(expected.values())
    total_counted = sum(delivered_counted.values())
    forwarding: dict[str, Any] = {
        "delivered_packets": total_delivered,
        "delivered_pps": round(total_delivered / window),
        "delivered_mbps": round(sum(delivered_bytes.values()) * 8 / window / 1e6, 2),
        "published_pps": round((sent["audio"] + sent["video"]) / window),
        "publisher_rtx_pps": round(sent["rtx"] / window, 1),
        "expected_pps": round(total_expected / window),
        "delivery_ratio": round(total_counted / total_expected, 4) if total_expected else None,
        "loss_percent": round(100 * max(0.0, 1 - total_counted / total_expected), 2)
        if total_expected else None,
        "audio_publications_forwarded": audio_forwarded_publications,
        "audio_publications_not_forwarded": audio_not_forwarded["publications"],
        "audio_not_forwarded_pps": round(audio_not_forwarded["packets"] / window),
        "by_kind": {kind: {"delivered_pps": round(delivered[kind] / window),
                           "expected_pps": round(expected[kind] / window),
                           "delivery_ratio": round(delivered_counted[kind] / expected[kind], 4)
                           if expected[kind] else None}
                    for kind in ("audio", "video")},
    }
    # Where packets were lost on the way: a full socket at the server (publishers' packets) or
    # at the load clients (the instrument's, not the server's).
    forwarding["server_socket_drops"] = end.server_udp_drops - start.server_udp_drops
    forwarding["load_socket_drops"] = end.load_udp_drops - start.load_udp_drops
    if server_cpu:
        forwarding["packets_per_server_cpu_s"] = round(total_delivered / server_cpu)
        forwarding["server_cpu_us_per_packet"] = round(1e6 * server_cpu / total_delivered, 1) \
            if total_delivered else None
    forwarding["by_publication"] = dict(sorted(per_publication.items()))
    out["forwarding"] = forwarding

    # Latency.
    latency: dict[str, Any] = {kind: dist_ms(samples) for kind, samples in probe.samples.items()}
    latency["all"] = dist_ms(list(probe.samples["audio"]) + list(probe.samples["video"]))
    latency["sample_stride"] = probe.stride
    latency["unmatched_packets"] = probe.misses
    out["latency_ms"] = latency

    # Load process and machine health.
    load_cpu = (end.load.cpu_s - start.load.cpu_s) / window if end.load and start.load else None
    # All processes' CPU, from /proc/<pid>/stat (this sandbox's /proc/stat is not reliable).
    all_cpu = procstat.cpu_between(start.all_processes, end.all_processes)
    machine_busy = all_cpu / (window * procstat.cpu_count())
    all_lateness = [v for values in lateness.values() for v in values]
    out["load_process"] = {
        "cpu_percent_of_one_core": round(100 * load_cpu, 1) if load_cpu is not None else None,
        "loop_lag_ms": dist_ms(monitor.lags),
        "publisher_lateness_ms": dist_ms(all_lateness),
        "publisher_lateness_over_50ms_percent": round(
            100 * sum(1 for v in all_lateness if v > 0.05) / len(all_lateness), 2)
        if all_lateness else None,
    }
    ours = helper_cpu + sum((e.cpu_s - b.cpu_s) for e, b in ((end.server, start.server),
                                                              (end.load, start.load)) if e and b)
    others = all_cpu - ours
    out["machine"] = {
        "cpus": procstat.cpu_count(),
        "busy_percent_of_all_cores": round(100 * machine_busy, 1),
        "all_processes_cpu_percent_of_one_core": round(100 * all_cpu / window, 1),
        "other_processes_cpu_percent_of_one_core": round(100 * others / window, 1),
        "steal_s": round(end.machine.steal_s - start.machine.steal_s, 2),
    }
    out["signaling_ping_rtt_ms"] = {**dist_ms(pinger.rtts), "timeouts": pinger.timeouts}

    # Validity.
    lag_p99 = percentile(monitor.lags, 99) or 0.0
    late = out["load_process"]["publisher_lateness_over_50ms_percent"] or 0.0
    if load_cpu is not None and load_cpu > 0.9:
        warnings.append(f"INVALID: the load process used {100 * load_cpu:.0f}% of a core (one "
                        "event loop is saturated): subscribers read late and publishers send late, "
                        "so delivery, latency and server CPU reflect the load generator too")
    elif lag_p99 > 0.05 or late > 5:
        warnings.append(f"INVALID: the load process lags (loop lag p99 {1000 * lag_p99:.0f} ms, "
                        f"{late:.1f}% of publisher packets >50 ms late)")
    elif forwarding["load_socket_drops"] > 0.001 * max(total_delivered, 1):
        warnings.append(f"INVALID: the load clients' sockets dropped "
                        f"{forwarding['load_socket_drops']} packets (full receive buffers): the "
                        "loss measured is the load generator's too")
    if others / window > 0.2:
        warnings.append(f"other processes on this machine used {100 * others / window:.0f}% of a "
                        "core during the window (shared machine): expect noisy numbers")
    if machine_busy > 0.9:
        warnings.append(f"the machine was {100 * machine_busy:.0f}% busy on all "
                        f"{procstat.cpu_count()} cores: server and load generator compete for CPU")
    return out



T = TypeVar("T")


def run_event_loop(main: Callable[[], Awaitable[T]], use_uvloop: bool = True) -> T:
    """Run a benchmark's coroutine (on uvloop when installed, like the server), turning
    SIGTERM into KeyboardInterrupt so the finally blocks that stop subprocesses run."""

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    if use_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(main())  # type: ignore[arg-type]
