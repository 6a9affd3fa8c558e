"""Class-size benchmark: 1 instructor (720p + Opus) + N students (360p + Opus) in one room.

For each N it starts a fresh Aula server as a subprocess (its CPU and memory are read from
/proc/<pid>), against a redis-server of its own; then, in this process, N+1 Python RTC clients
(aiortc, no decoding) join one session, each publishing pre-encoded media (benchmarks/media.py,
so publishing costs no encoding) and subscribing to everything the server forwards. After a
warm-up it measures a window:

- server CPU (user+sys seconds per second = % of one core), RSS and RSS per participant;
- forwarded packets: every RTP packet the subscribers received in the window; packets per
  server CPU-second and server CPU-µs per delivered packet;
- delivery: packets the publishers sent in the window × their subscriber count vs received;
- added forwarding latency: the publisher's send time (wrapped DTLS transport) of each packet,
  keyed by publisher and payload tail, against its arrival at each subscriber: one process,
  one clock. It includes both loopback hops and this process's own scheduling delay;
- health of this load process (its CPU, event-loop lag, how late the publishers kept their
  pts schedule) and of the machine: when the load process or the machine is saturated, the
  server numbers are not a measure of the server alone, and the run says so.

All traffic stays on 127.0.0.1: the server binds it and offers only it as an ICE candidate,
the clients use no ICE servers and offer only 127.0.0.1 too.

    python -m benchmarks.class_size --students 10 30 --duration 30 \
        --json benchmarks/results/class_size.json [--profile-dir benchmarks/results/profiles]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp
import aiortc

from client.rtc_client import ClientOptions, RemoteTrack, RtcClient
from media import aiortc_hooks

from . import procstat
from .media import (
    AUDIO,
    INSTRUCTOR_VIDEO,
    QUIET_AUDIO,
    STUDENT_VIDEO,
    EncodedClip,
    EncodedTrack,
    clip_for,
    send_audio_level,
)

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
SECRET = "bench-secret-that-is-long-enough-for-hs256-signing"
# Bytes at the end of an RTP payload that identify it (the publisher is part of the key).
PAYLOAD_TAIL = 12
MAX_LATENCY_SAMPLES = 1_000_000

logger = logging.getLogger("benchmarks.class_size")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def iso(offset_s: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).isoformat()


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


def start_redis(directory: Path) -> tuple[Subprocess, str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    redis = Subprocess("redis", [executable, "--port", str(port), "--bind", LOOPBACK, "--save", "",
                                 "--appendonly", "no", "--dir", str(directory)],
                       directory / "redis.log")
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if not redis.alive() or time.monotonic() > deadline:
            redis.stop()
            raise SystemExit(f"redis-server did not start:\n{redis.log_tail()}")
        time.sleep(0.05)
    return redis, f"redis://{LOOPBACK}:{port}/0"


async def start_server(directory: Path, redis_url: str) -> tuple[Subprocess, str]:
    port = free_port()
    argv = [sys.executable, "-m", "server", "--host", LOOPBACK, "--port", str(port),
            "--redis-url", redis_url, "--data-dir", str(directory / "data"),
            "--api-key", API_KEY, "--secret", SECRET,
            "--ice-addresses", LOOPBACK, "--ice-allowed-networks", "127.0.0.0/8",
            "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = Subprocess("server", argv, directory / "server.log", env)
    base_url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        health = await response.json()
                        if health.get("redis", {}).get("reachable"):
                            return server, base_url
            except aiohttp.ClientError:
                pass
            if not server.alive() or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"the server did not start:\n{server.log_tail()}")
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

    def wrap_publisher(self, identity: str, client: RtcClient) -> None:
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


class SignalingPinger:
    """Round trip of a signaling `ping` through the server's event loop (and ours)."""

    def __init__(self, client: RtcClient, interval_s: float = 0.5) -> None:
        self.client = client
        self.interval_s = interval_s
        self.recording = False
        self.rtts: list[float] = []
        self.timeouts = 0

    async def run(self) -> None:
        sequence = 0
        while True:
            await asyncio.sleep(self.interval_s)
            sequence += 1
            ts = f"bench-{sequence}"
            started = time.perf_counter()
            waiter = asyncio.ensure_future(self.client.wait_for(
                lambda m, ts=ts: m.get("type") == "pong" and m.get("ts") == ts, timeout=5.0))
            await self.client.send({"type": "ping", "ts": ts})
            try:
                await waiter
            except asyncio.TimeoutError:
                if self.recording:
                    self.timeouts += 1
                continue
            if self.recording:
                self.rtts.append(time.perf_counter() - started)
            # Keep the client's message log from growing with pongs.
            self.client.messages = [m for m in self.client.messages if m.get("type") != "pong"]


# -- one class -------------------------------------------------------------------------------


@dataclass
class Member:
    identity: str
    role: str
    client: RtcClient
    tracks: dict[str, EncodedTrack]


@dataclass
class Snapshot:
    at: float
    server: Optional[procstat.ProcSample]
    redis: Optional[procstat.ProcSample]
    load: Optional[procstat.ProcSample]
    machine: procstat.MachineSample
    all_processes: dict[int, float]
    received: dict[tuple[str, str, str], tuple[int, int]]  # (subscriber, publisher, source)
    sent: dict[tuple[str, str], int]  # (publisher, kind): RTP packets on the wire
    yielded: dict[tuple[str, str], tuple[int, int]]  # (publisher, kind): (frames, bytes)


def snapshot(server: Subprocess, redis: Subprocess, members: list[Member],
             probe: LatencyProbe) -> Snapshot:
    received: dict[tuple[str, str, str], tuple[int, int]] = {}
    for member in members:
        for remote in member.client.remote_tracks.values():
            received[(member.identity, remote.identity, remote.source)] = (
                remote.packets, remote.payload_bytes)
    yielded = {(m.identity, t.kind): (t.packets_yielded, t.bytes_yielded)
               for m in members for t in m.tracks.values()}
    return Snapshot(time.perf_counter(), procstat.read_process(server.pid),
                    procstat.read_process(redis.pid), procstat.read_process(os.getpid()),
                    procstat.read_machine(), procstat.read_all_processes(), received,
                    probe.sent_counts(), yielded)


async def create_session(http: aiohttp.ClientSession, base_url: str, students: int,
                         record: bool = False) -> str:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"title": f"Benchmark class of {students}", "scheduled_start": iso(),
            "scheduled_end": iso(3600), "roster": [], "instructors": [],
            "settings": {"recording": record}}
    async with http.post(f"{base_url}/api/sessions", json=body, headers=headers) as response:
        if response.status != 201:
            raise RuntimeError(f"POST /api/sessions: {response.status} {await response.text()}")
        return str((await response.json())["id"])


async def join_token(http: aiohttp.ClientSession, base_url: str, session_id: str,
                     identity: str, role: str) -> str:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"identity": identity, "name": identity, "role": role}
    async with http.post(f"{base_url}/api/sessions/{session_id}/tokens", json=body,
                         headers=headers) as response:
        if response.status != 201:
            raise RuntimeError(f"POST tokens: {response.status} {await response.text()}")
        return str((await response.json())["token"])


def hook_audio_level(client: RtcClient, track: EncodedTrack) -> None:
    """Once the client adds its microphone, make its sender write RFC 6464 levels."""
    pc = client.publisher_pc
    original = pc.addTransceiver

    def add_transceiver(track_or_kind, *a, **kw):  # type: ignore[no-untyped-def]
        transceiver = original(track_or_kind, *a, **kw)
        if track_or_kind is track:
            send_audio_level(transceiver.sender, track)
        return transceiver

    pc.addTransceiver = add_transceiver  # type: ignore[method-assign]


def shown_videos(identity: str, students: int, visible: int) -> set[str]:
    """The videos student-i keeps on: the instructor's and the next visible-1 classmates'."""
    index = int(identity.rsplit("-", 1)[1]) - 1
    return {"instructor"} | {f"student-{(index + k) % students + 1:02d}" for k in range(1, visible)}


async def pause_hidden_videos(client: RtcClient, shown: set[str]) -> None:
    """Pause every video not in `shown` as soon as it is offered, as a browser pauses
    off-screen tiles (update_subscription)."""
    paused: set[str] = set()
    while True:
        hidden = [t.sid for t in list(client.remote_tracks.values())
                  if t.kind == "video" and t.identity not in shown and t.sid not in paused]
        if hidden and client.identity is not None:
            try:
                await client.send({"type": "update_subscription", "sids": hidden,
                                   "enabled": False})
                paused.update(hidden)
            except (ConnectionError, AssertionError):
                pass
        await asyncio.sleep(0.2)


async def wait_for_videos(client: RtcClient, count: int, timeout: float,
                          shown: Optional[set[str]] = None) -> None:
    deadline = time.monotonic() + timeout
    if shown is not None:
        count = len(shown)
    while True:
        flowing = [t for t in client.remote_tracks.values() if t.kind == "video" and t.packets
                   and (shown is None or t.identity in shown)]
        if len(flowing) >= count:
            return
        if time.monotonic() > deadline:
            raise asyncio.TimeoutError(
                f"{len(flowing)} of {count} videos flowing: "
                f"{sorted((t.identity, t.source, t.packets) for t in client.remote_tracks.values())}")
        await asyncio.sleep(0.1)


def _start_index(clip: EncodedClip, rng: random.Random) -> int:
    """A random keyframe (video) or packet (audio) to start at, so publishers differ."""
    if clip.kind == "video":
        return rng.choice(clip.keyframe_indices()[: max(1, len(clip.keyframe_indices()) // 2)])
    return rng.randrange(0, len(clip.data) // 2)


async def run_class(students: int, args: argparse.Namespace, redis: Subprocess, redis_url: str,
                    workdir: Path) -> dict[str, Any]:
    rng = random.Random(students)
    clips = {"instructor": clip_for(INSTRUCTOR_VIDEO), "student": clip_for(STUDENT_VIDEO),
             "audio": clip_for(AUDIO),
             "student_audio": clip_for(AUDIO if args.student_audio == "speech" else QUIET_AUDIO)}
    run_dir = workdir / f"n{students}"
    run_dir.mkdir(parents=True, exist_ok=True)
    server, base_url = await start_server(run_dir, redis_url)
    probe = LatencyProbe()
    monitor = LoopMonitor()
    members: list[Member] = []
    background: list[asyncio.Future[Any]] = []
    result: dict[str, Any] = {"students": students, "participants": students + 1}
    warnings: list[str] = []
    try:
        await asyncio.sleep(1.0)
        idle_a = procstat.read_process(server.pid)
        await asyncio.sleep(2.0)
        idle_b = procstat.read_process(server.pid)
        assert idle_a and idle_b
        result["server_idle"] = {
            "rss_mb": round(idle_b.rss_bytes / 2**20, 1),
            "cpu_percent": round(100 * (idle_b.cpu_s - idle_a.cpu_s) / 2.0, 1)}
        background.append(asyncio.ensure_future(monitor.run()))

        # Join: the instructor first, then the students one by one.
        join_started = time.perf_counter()
        async with aiohttp.ClientSession() as http:
            session_id = await create_session(http, base_url, students, args.record)
            roster = [("instructor", "instructor")] + [
                (f"student-{i:02d}", "student") for i in range(1, students + 1)]
            for identity, role in roster:
                token = await join_token(http, base_url, session_id, identity, role)
                video_clip = clips["instructor"] if role == "instructor" else clips["student"]
                audio_clip = clips["audio"] if role == "instructor" else clips["student_audio"]
                tracks = {
                    "camera": EncodedTrack(video_clip, _start_index(video_clip, rng)),
                    "microphone": EncodedTrack(audio_clip, _start_index(audio_clip, rng)),
                }
                client = RtcClient(base_url, token, publish=dict(tracks),
                                   options=ClientOptions(decode=False, process_rtp=False,
                                                         on_packet=probe.on_packet,
                                                         connect_timeout_s=60.0))
                members.append(Member(identity, role, client, tracks))
                if args.visible_videos and role == "student":
                    background.append(asyncio.ensure_future(pause_hidden_videos(
                        client, shown_videos(identity, students, args.visible_videos))))
                if args.audio_level:
                    hook_audio_level(client, tracks["microphone"])
                await client.connect()
                probe.wrap_publisher(identity, client)
        joined_s = time.perf_counter() - join_started

        # Everyone receives everyone else's camera; microphones only as the server's speaker
        # selection forwards them, so only videos are waited for.
        expected_tracks = students
        flow_timeout = args.flow_timeout or (30.0 + 2.0 * students)
        flowing = await asyncio.gather(
            *(wait_for_videos(m.client, expected_tracks, flow_timeout,
                              shown_videos(m.identity, students, args.visible_videos)
                              if args.visible_videos and m.role == "student" else None)
              for m in members),
            return_exceptions=True)
        not_flowing = [(m.identity, str(f)) for m, f in zip(members, flowing)
                       if isinstance(f, BaseException)]
        all_flowing_s = time.perf_counter() - join_started
        result["join"] = {"all_connected_s": round(joined_s, 1),
                          "all_tracks_flowing_s": round(all_flowing_s, 1),
                          "clients_missing_tracks": len(not_flowing)}
        if not_flowing:
            warnings.append(f"{len(not_flowing)} clients did not receive all {expected_tracks} "
                            f"videos within {flow_timeout:.0f} s (e.g. {not_flowing[0][1][:200]})")
        print(f"  N={students}: {students + 1} clients connected in {joined_s:.1f} s, all tracks "
              f"flowing after {all_flowing_s:.1f} s; warming up {args.warmup:.0f} s", flush=True)

        video_viewers = {m.identity: students for m in members}
        if args.visible_videos:
            video_viewers = {m.identity: 1 for m in members}  # the instructor sees everyone
            video_viewers["instructor"] = students
            for member in members[1:]:
                for name in shown_videos(member.identity, students, args.visible_videos):
                    if name != "instructor":
                        video_viewers[name] += 1
        result["videos_shown_per_student"] = args.visible_videos or students

        pinger = SignalingPinger(members[0].client)
        background.append(asyncio.ensure_future(pinger.run()))
        rotator_stop = asyncio.Event()

        async def rotate() -> None:
            while not rotator_stop.is_set():
                probe.rotate_if_due()
                await asyncio.sleep(0.5)

        background.append(asyncio.ensure_future(rotate()))
        await asyncio.sleep(args.warmup)

        # Latency: keep at most ~MAX_LATENCY_SAMPLES over the window.
        expected_rate = sum(len(c.data) / c.duration_s for c in (clips["student"], clips["audio"]))
        expected_rate *= students * students
        probe.stride = max(1, int(expected_rate * args.duration / MAX_LATENCY_SAMPLES) + 1)
        lateness_marks = {(m.identity, k): len(t.lateness_s) for m in members for k, t in m.tracks.items()}
        timeline: list[dict[str, float]] = []
        start = snapshot(server, redis, members, probe)
        probe.recording = monitor.recording = pinger.recording = True
        previous = start
        window_end = time.perf_counter() + args.duration
        while time.perf_counter() < window_end:
            await asyncio.sleep(min(1.0, max(0.0, window_end - time.perf_counter())))
            current = snapshot(server, redis, members, probe)
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
            if not server.alive():
                warnings.append("the server process exited during the window")
                break
        end = previous
        probe.recording = monitor.recording = pinger.recording = False
        lateness = {(m.identity, k): t.lateness_s[lateness_marks[(m.identity, k)]:]
                    for m in members for k, t in m.tracks.items()}

        result.update(summarise(students, start, end, members, probe, monitor, pinger, lateness,
                                warnings, video_viewers))
        result["timeline"] = timeline
        if result["server"]["rss_mb"] is not None:
            result["server"]["rss_per_participant_mb"] = round(
                (result["server"]["rss_mb"] - result["server_idle"]["rss_mb"]) / (students + 1), 2)

        if args.profile_dir:
            result["profile"] = await profile_server(server.pid, students, args)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        closing = [asyncio.wait_for(m.client.close(), 10.0) for m in members]
        await asyncio.gather(*closing, return_exceptions=True)
        server.stop()
        if args.log_dir:
            log_dir = Path(args.log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, log_dir / f"server-n{students}.log")
    result["warnings"] = warnings
    result["valid"] = not any(w.startswith("INVALID") for w in warnings)
    return result


def summarise(students: int, start: Snapshot, end: Snapshot, members: list[Member],
              probe: LatencyProbe, monitor: LoopMonitor, pinger: SignalingPinger,
              lateness: dict[tuple[str, str], list[float]], warnings: list[str],
              video_viewers: dict[str, int]) -> dict[str, Any]:
    window = end.at - start.at
    out: dict[str, Any] = {"window_s": round(window, 2)}

    # Server and redis CPU, memory.
    server_cpu = (end.server.cpu_s - start.server.cpu_s) if end.server and start.server else None
    out["server"] = {
        "cpu_percent_of_one_core": round(100 * server_cpu / window, 1) if server_cpu is not None else None,
        "cpu_user_s": round(end.server.user_s - start.server.user_s, 2) if end.server and start.server else None,
        "cpu_sys_s": round(end.server.sys_s - start.server.sys_s, 2) if end.server and start.server else None,
        "rss_mb": round(end.server.rss_bytes / 2**20, 1) if end.server else None,
        "threads": end.server.threads if end.server else None,
    }
    if end.redis and start.redis:
        out["redis_cpu_percent"] = round(100 * (end.redis.cpu_s - start.redis.cpu_s) / window, 2)

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
    ours = sum((e.cpu_s - b.cpu_s) for e, b in ((end.server, start.server), (end.redis, start.redis),
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
    if others / window > 0.2:
        warnings.append(f"other processes on this machine used {100 * others / window:.0f}% of a "
                        "core during the window (shared machine): expect noisy numbers")
    if machine_busy > 0.9:
        warnings.append(f"the machine was {100 * machine_busy:.0f}% busy on all "
                        f"{procstat.cpu_count()} cores: server and load generator compete for CPU")
    return out


async def profile_server(pid: int, students: int, args: argparse.Namespace) -> dict[str, Any]:
    """py-spy, after the measurement window (so it does not disturb it): own time per function."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    directory = Path(args.profile_dir)
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / f"server-n{students}.collapsed.txt"
    speedscope = directory / f"server-n{students}.speedscope.json"
    print(f"  N={students}: profiling the server with py-spy for {args.profile_duration:.0f} s",
          flush=True)
    results: dict[str, Any] = {}
    for fmt, path in (("raw", raw), ("speedscope", speedscope)):
        process = await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(pid), "--duration", str(int(args.profile_duration)),
            "--rate", "100", "--nonblocking", "--format", fmt, "--output", str(path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), args.profile_duration + 30)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            return {"error": f"py-spy {fmt} timed out"}
        if process.returncode != 0:
            return {"error": f"py-spy failed: {stderr.decode(errors='replace')[-500:]}"}
        results[fmt] = str(path)
        if fmt == "raw" and not args.profile_speedscope:
            break
    results["summary"] = summarise_collapsed(raw)
    return results


def summarise_collapsed(path: Path, top: int = 25) -> dict[str, Any]:
    """Own (leaf) and total (anywhere on the stack) time per function, event-loop thread only.

    Worker threads (aiortc's audio decoders, rooted in `Thread._bootstrap`) are counted apart:
    py-spy does not always see that they are blocked, so their `Condition.wait` would swamp the
    table. `run_app` own time is uvloop's C code (epoll, recvfrom, dispatch) and may include
    idle waiting.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    main_samples = 0
    thread_samples: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # py-spy frames look like "function (path/to/file.py:line)": drop the line number.
        names = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f
                 for f in stack.split(";")]
        if names[0].startswith("Thread._bootstrap"):
            worker = next((n for n in names if "worker" in n or "Thread.run" not in n
                           and not n.startswith("Thread.")), names[-1])
            thread_samples[worker] += count
            continue
        main_samples += count
        own[names[-1]] += count
        for name in set(names):
            total[name] += count
    if not main_samples:
        return {"error": "no samples of the event-loop thread"}
    def share(count: int) -> float:
        return round(100 * count / main_samples, 1)
    return {
        "event_loop_samples": main_samples,
        "worker_thread_samples": dict(thread_samples.most_common(5)),
        "top_own": [{"function": name, "own_percent": share(count),
                     "total_percent": share(total[name])}
                    for name, count in own.most_common(top)],
        "top_total": [{"function": name, "total_percent": share(count)}
                      for name, count in total.most_common(top + 8)
                      if share(count) < 99.5][:top],
    }


# -- report ----------------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("N", "srv CPU%", "RSS MB", "MB/part", "deliv pps", "deliv Mbps", "pkt/CPU-s",
              "µs/pkt", "deliv %", "lat p50", "lat p95", "ping p95", "load CPU%", "lag p99",
              "valid")
    rows = []
    for r in results:
        if "error" in r:
            continue
        f, s, lat, lp = r["forwarding"], r["server"], r["latency_ms"]["all"], r["load_process"]
        rows.append((
            str(r["students"]), f"{s['cpu_percent_of_one_core']}", f"{s['rss_mb']}",
            f"{s.get('rss_per_participant_mb')}", f"{f['delivered_pps']}", f"{f['delivered_mbps']}",
            f"{f.get('packets_per_server_cpu_s')}", f"{f.get('server_cpu_us_per_packet')}",
            f"{100 * f['delivery_ratio']:.1f}" if f["delivery_ratio"] is not None else "-",
            f"{lat['p50']}", f"{lat['p95']}", f"{r['signaling_ping_rtt_ms']['p95']}",
            f"{lp['cpu_percent_of_one_core']}", f"{lp['loop_lag_ms']['p99']}",
            "yes" if r["valid"] else "NO"))
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    for r in results:
        for warning in r["warnings"]:
            print(f"N={r['students']}: {warning}")


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(), "aiortc": aiortc.__version__,
        "platform": platform.platform(), "cpus": procstat.cpu_count(),
        "cpu_model": next((line.split(":", 1)[1].strip() for line in
                           Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), None),
        "note": (f"server, redis and the load generator share these {procstat.cpu_count()} CPUs; "
                 "the load generator (N+1 aiortc clients in one event loop) costs about as much "
                 "CPU as the server, so the server's share is bounded by what the load leaves"),
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    aiortc_hooks.use_host_addresses((LOOPBACK,))
    for profile in (INSTRUCTOR_VIDEO, STUDENT_VIDEO, AUDIO):
        clip = clip_for(profile)
        print(f"media {profile.kind} {getattr(profile, 'width', '')}: {clip.summary()}", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aula-bench-") as tmp:
        workdir = Path(tmp)
        redis, redis_url = start_redis(workdir)
        try:
            for students in args.students:
                print(f"class of 1 instructor + {students} students:", flush=True)
                try:
                    result = await run_class(students, args, redis, redis_url, workdir)
                except Exception as exc:  # one failed class size must not lose the others
                    logger.exception("class of %d failed", students)
                    results.append({"students": students, "error": f"{type(exc).__name__}: {exc}",
                                    "valid": False, "warnings": [f"INVALID: run failed: {exc}"]})
                    if args.json:
                        write_json(args, results)
                    continue
                results.append(result)
                f = result["forwarding"]
                print(f"  N={students}: server {result['server']['cpu_percent_of_one_core']}% CPU, "
                      f"{f['delivered_pps']} pkt/s delivered ({f['delivery_ratio']}), "
                      f"load {result['load_process']['cpu_percent_of_one_core']}% CPU", flush=True)
                if args.json:
                    write_json(args, results)
                await asyncio.sleep(2.0)  # let sockets close and CPU settle between runs
        finally:
            redis.stop()
    return results


def write_json(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "class_size",
        "command": " ".join(["python", "-m", "benchmarks.class_size", *sys.argv[1:]]),
        "started": args.started, "environment": environment(),
        "media": {"instructor": INSTRUCTOR_VIDEO.filename, "student": STUDENT_VIDEO.filename,
                  "audio": AUDIO.filename},
        "settings": {"warmup_s": args.warmup, "duration_s": args.duration,
                     "student_audio": args.student_audio,
                     "audio_level_extension": args.audio_level,
                     "visible_videos": args.visible_videos or "all",
                     "recording": args.record},
        "results": results,
    }
    path.write_text(json.dumps(document, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.class_size",
        description="1 instructor (720p+Opus) + N students (360p+Opus) in one Aula room.")
    parser.add_argument("--students", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--duration", type=float, default=30.0, help="measurement window, s")
    parser.add_argument("--warmup", type=float, default=10.0, help="after all tracks flow, s")
    parser.add_argument("--flow-timeout", type=float, default=0.0,
                        help="wait this long for every client to receive every track "
                             "(default 30 s + 2 s per student)")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--profile-dir",
                        help="after each window, profile the server with py-spy into this folder")
    parser.add_argument("--log-dir", default=str(REPO_ROOT / "benchmarks" / "results" / "logs"),
                        help="copy each run's server log here ('' to skip)")
    parser.add_argument("--profile-duration", type=float, default=20.0)
    parser.add_argument("--profile-speedscope", action="store_true",
                        help="also record a speedscope profile (a second py-spy run)")
    parser.add_argument("--record", action="store_true",
                        help="record the class (every track written to disk as it arrives)")
    parser.add_argument("--visible-videos", type=int, default=0, metavar="K",
                        help="each student keeps K videos enabled (the instructor's and K-1 "
                             "classmates'), pausing the rest with update_subscription; the "
                             "instructor keeps all. Default 0: every video enabled")
    parser.add_argument("--student-audio", choices=("quiet", "speech"), default="quiet",
                        help="students' microphones: on but quiet (room tone, the usual class) "
                             "or all talking at once (worst case for speaker selection)")
    parser.add_argument("--audio-level", action=argparse.BooleanOptionalAction, default=True,
                        help="publishers send the RFC 6464 audio level with each Opus packet, "
                             "as browsers do (aiortc does not for pre-encoded packets)")
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True,
                        help="run the load generator on uvloop (the server uses it when installed)")
    args = parser.parse_args()
    args.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if any(n < 1 or n > 100 for n in args.students):
        parser.error("--students must be between 1 and 100")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    env = environment()
    print(f"Aula class-size benchmark on {env['cpus']} CPUs ({env['cpu_model']}), "
          f"aiortc {env['aiortc']}, Python {env['python']}")
    print(f"NOTE: {env['note']}", flush=True)
    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that stop subprocesses

    signal.signal(signal.SIGTERM, terminate)
    if args.uvloop:
        with contextlib.suppress(ImportError):
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    results = asyncio.run(main_async(args))
    print()
    print_table(results)
    if args.json:
        write_json(args, results)
        print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
