"""Soak benchmark: a class of 1 + N runs for half an hour while students leave and join; the
server must not grow. Every --sample-interval seconds it samples the server process: RSS, CPU,
open file descriptors, OS threads, and (from `GET /api/stats`) asyncio tasks, Python threads,
participants in the room and event-loop lag; redis's memory too.

Server, redis and load are class_size.py's: a `python -m server` against a redis-server of its
own, real aiortc clients on 127.0.0.1 (no STUN), 1 instructor (720p + talking Opus) and N
students (360p + quiet Opus), each student keeping K videos enabled. On top of that:

- churn: every ~--churn-interval s one student goes, either cleanly (`leave`) or as a crash
  (its socket and peer connections dropped without `leave`: the server keeps it for its 15 s
  reconnect grace), and 1-8 s later the same identity comes back (after a crash: a reconnect
  that replaces the lingering one) or a new student takes the seat. The plan is drawn up front
  from --seed, so a run can be repeated;
- chatter: every ~--chatter-interval s a student chats, raises or lowers a hand, or reacts;
- a client whose socket the server closes (it removed the participant) rejoins a second later
  as the same identity, as a browser reconnects.

After a warm-up (--warmup) it fits a line through RSS, fds, threads and tasks over the samples
taken with the class at its usual size (churn changes the count, and each participant holds its
own sockets, threads and tasks) and compares the growth per 10 minutes with thresholds (see
`thresholds`). When the time is up everyone leaves, the class is ended, and the server's fds,
threads and tasks are compared with what it held before the class.

    python -m benchmarks.soak --students 30 --duration 1800 --sample-interval 10 \
        --json benchmarks/results/soak.json --plot benchmarks/results/soak.png
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp
import numpy
import redis.asyncio as aioredis
from aiortc.rtp import RtpPacket

from client.rtc_client import RemoteTrack
from media.aiortc import use_host_addresses
from server.config import Settings
from server.garbage import AFTER_DEPARTURES_INTERVAL_S
from classroom.reactions import REACTIONS

from . import procstat
from .class_load import (
    LOOPBACK,
    REPO_ROOT,
    LoopMonitor,
    Member,
    Scenario,
    Seat,
    cancel_tasks,
    class_scenario,
    loadavg,
    percentile,
    run_event_loop,
    seat_tracks,
    shown_videos,
    wait_for_videos,
)
from .class_size import API_HEADERS, AulaServer, environment, start_redis, write_document

logger = logging.getLogger("benchmarks.soak")

# The server keeps a crashed participant this long (the default; class_size sets none).
RECONNECT_GRACE_S = Settings.reconnect_grace_s
# "2026-11-26 01:09:46,026 WARNING media.participant: ..." (server/cli.py's log format)
LOG_LINE = re.compile(r"^\S+ \S+ ((?:WARNING|ERROR|CRITICAL) \S+: .*)$")
STATS_TIMEOUT_S = 30.0
# What must not grow, as Sample fields.
WATCHED = ("rss_mb", "fds", "threads", "asyncio_tasks")
# Counts of things a departure should give back; judged on the settled class (`settled`).
COUNTED = ("fds", "threads", "asyncio_tasks")
# A minute of samples at the default interval.
SETTLED_WINDOW = 6


# -- the churn plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnEvent:
    at_s: float  # after the class is complete
    seat: str  # the seat's first occupant ("student-07"): which tile the newcomer takes
    crash: bool  # drop socket and peer connections without `leave`
    rejoin_after_s: float
    rejoining: str  # the same identity, or a new student's
    dropped: bool = False  # not planned: the server closed its socket, it comes back


def plan_churn(students: int, duration_s: float, interval_s: float,
               rng: random.Random) -> list[ChurnEvent]:
    """One departure every interval_s × (0.5..1.5), from a seat not already churning; none in
    the last 30 s, so every rejoin is done when the time is up."""
    occupant = {f"student-{i:02d}": f"student-{i:02d}" for i in range(1, students + 1)}
    busy_until = dict.fromkeys(occupant, 0.0)
    next_new = students + 1
    events: list[ChurnEvent] = []
    at = interval_s * rng.uniform(0.5, 1.5)
    while at < duration_s - 30.0:
        seat = rng.choice([s for s, until in busy_until.items() if until <= at])
        if rng.random() < 0.5:
            rejoining = occupant[seat]
        else:
            rejoining, next_new = f"student-{next_new:02d}", next_new + 1
        event = ChurnEvent(round(at, 1), seat, rng.random() < 0.5,
                           round(rng.uniform(1.0, 8.0), 1), rejoining)
        events.append(event)
        occupant[seat] = rejoining
        busy_until[seat] = at + event.rejoin_after_s + 30.0
        at += interval_s * rng.uniform(0.5, 1.5)
    return events


def soak_seats(students: int, visible_videos: int, student_audio: str,
               plan: list[ChurnEvent]) -> tuple[Scenario, dict[str, Seat]]:
    """The class as it starts, and each student seat, keyed by its first occupant. A student
    keeps the videos of the seats class_scenario shows it, whoever sits in them over the run."""
    scenario = class_scenario(students, visible_videos, student_audio)
    occupants: dict[str, set[str]] = {s.identity: {s.identity} for s in scenario.seats}
    for event in plan:
        occupants[event.seat].add(event.rejoining)
    seats: dict[str, Seat] = {}
    for seat in scenario.seats[1:]:
        shown = None
        if visible_videos:
            shown = frozenset(who for first in shown_videos(seat.identity, students, visible_videos)
                              for who in occupants[first])
        seats[seat.identity] = dataclasses.replace(seat, shown=shown)
    return scenario, seats


# -- the load ------------------------------------------------------------------------------


class PacketCounter:
    """RTP packets every client received: the class kept flowing."""

    def __init__(self) -> None:
        self.packets = 0

    def __call__(self, remote: RemoteTrack, packet: RtpPacket) -> None:
        self.packets += 1


class Classroom:
    """Who sits where now, and the churn and chatter that change it."""

    def __init__(self, server: AulaServer, seats: dict[str, Seat], rng: random.Random) -> None:
        self.server = server
        self.seats = seats
        self.rng = rng
        self.counter = PacketCounter()
        self.seated: dict[str, Member] = {}  # by seat
        self.events: list[dict[str, Any]] = []
        self.totals: Counter[str] = Counter()
        self._raised: set[str] = set()

    async def sit(self, seat: Seat) -> Member:
        tracks = seat_tracks(seat, self.rng)
        client = await self.server.join(seat, tracks, self.counter)
        self.totals["joins"] += 1
        return Member(seat.identity, seat.role, client, tracks)

    async def churn(self, event: ChurnEvent, started: float) -> None:
        record: dict[str, Any] = {**dataclasses.asdict(event),
                                  "t_s": round(time.perf_counter() - started, 1)}
        self.events.append(record)
        member = self.seated.pop(event.seat, None)
        # A failed leave or join must not stop the soak, nor leave the seat empty: it is counted.
        if member is not None:
            record["left"] = member.identity
            self.totals["dropped" if event.dropped else "crashes" if event.crash else "leaves"] += 1
            try:
                await self.server.leave(member.client, leave=not event.crash)
            except Exception as exc:
                self._failed(record, "leave_error", exc)
        await asyncio.sleep(event.rejoin_after_s)
        joining = time.perf_counter()
        try:
            self.seated[event.seat] = await self.sit(
                dataclasses.replace(self.seats[event.seat], identity=event.rejoining))
            record["join_s"] = round(time.perf_counter() - joining, 2)
        except Exception as exc:
            self._failed(record, "join_error", exc)

    def _failed(self, record: dict[str, Any], key: str, exc: Exception) -> None:
        logger.warning("churn at %s: %s %r", record["seat"], key, exc)
        record[key] = f"{type(exc).__name__}: {exc}"
        self.totals["errors"] += 1

    async def run_plan(self, plan: list[ChurnEvent], started: float) -> None:
        running: list[asyncio.Future[Any]] = []
        try:
            for event in plan:
                await asyncio.sleep(max(0.0, started + event.at_s - time.perf_counter()))
                running.append(asyncio.ensure_future(self.churn(event, started)))
            await asyncio.gather(*running)
        finally:
            await cancel_tasks(running)

    async def reseat_dropped(self, started: float, interval_s: float = 1.0) -> None:
        """A client whose socket the server closed (it removed the participant) comes back
        as the same identity a second later, as a browser reconnects."""
        running: list[asyncio.Future[Any]] = []
        try:
            while True:
                await asyncio.sleep(interval_s)
                for seat, member in list(self.seated.items()):
                    if member.client.closed.done():
                        event = ChurnEvent(round(time.perf_counter() - started, 1), seat,
                                           crash=True, rejoin_after_s=1.0,
                                           rejoining=member.identity, dropped=True)
                        running.append(asyncio.ensure_future(self.churn(event, started)))
        finally:
            await cancel_tasks(running)

    async def chatter(self, interval_s: float) -> None:
        """Chat, hands and reactions from random students, ~every interval_s."""
        while True:
            await asyncio.sleep(interval_s * self.rng.uniform(0.5, 1.5))
            students = [m for m in self.seated.values() if m.role == "student"]
            if not students:
                continue
            member = self.rng.choice(students)
            kind = self.rng.choice(("chat", "hand", "reaction"))
            message: dict[str, Any] = {"type": kind}
            if kind == "chat":
                message["text"] = f"question {self.totals['chat'] + 1} from {member.identity}"
            elif kind == "hand":
                message["raised"] = member.identity not in self._raised
                self._raised.symmetric_difference_update({member.identity})
            else:
                message["emoji"] = self.rng.choice(REACTIONS)
            try:
                await member.client.send(message)
                self.totals[kind] += 1
            except (ConnectionError, AssertionError):
                pass  # it is leaving right now


# -- sampling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t_s: float  # since the class was complete
    participants: int  # in the room, as the server counts them (crashed ones in their grace too)
    rss_mb: float
    # Where the RSS lives (procstat.resident_by_kind): what grows, if it grows.
    heap_mb: float  # the main malloc arena
    anonymous_mb: float  # other arenas, mmap'd blocks, CPython's object arenas
    python_blocks: int  # memory blocks CPython has allocated (sys.getallocatedblocks)
    send_buffer_kb: int  # the packet sender's queue's
    cpu_percent: float  # server user+sys since the previous sample, % of one core
    fds: int
    threads: int  # OS threads (/proc)
    python_threads: int  # threading.active_count() in the server
    asyncio_tasks: int
    loop_lag_p99_ms: float  # the server's, over its last minute
    redis_used_memory_mb: float
    redis_rss_mb: float
    delivered_pps: int  # RTP packets all clients received per second
    dropped: int  # load clients whose socket the server closed (each came back), so far
    load_cpu_percent: float
    load_rss_mb: float
    load_loop_lag_p99_ms: Optional[float]
    others_cpu_percent: float  # every other process on the machine
    loadavg_1min: float
    joins: int  # so far
    leaves: int
    crashes: int


@dataclass
class Reading:
    """What one look at the server, redis and this process gives."""

    at: float
    server: procstat.ProcSample
    resident: dict[str, int]
    fds: int
    stats: dict[str, Any]
    redis_memory: dict[str, Any]
    redis: Optional[procstat.ProcSample]
    load: Optional[procstat.ProcSample]
    all_processes: dict[int, float]


class Sampler:
    def __init__(self, server: AulaServer, redis_url: str) -> None:
        self.server = server
        self.redis = aioredis.from_url(redis_url)
        # A server stalled this long misses a sample rather than stopping the soak.
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STATS_TIMEOUT_S))

    async def read(self) -> Reading:
        async with self.http.get(f"{self.server.base_url}/api/stats",
                                 headers=API_HEADERS) as response:
            response.raise_for_status()
            stats = await response.json()
        pid = self.server.process.pid
        server, fds = procstat.read_process(pid), procstat.open_fds(pid)
        if server is None or fds is None:
            raise RuntimeError(f"the server exited:\n{self.server.process.log_tail()}")
        return Reading(time.perf_counter(), server, procstat.resident_by_kind(pid), fds, stats,
                       await self.redis.info("memory"),
                       procstat.read_process(self.server.helpers["redis"].pid),
                       procstat.read_process(os.getpid()), procstat.read_all_processes())

    async def close(self) -> None:
        await self.http.close()
        await self.redis.aclose()


def sample_between(before: Reading, now: Reading, started: float, classroom: Classroom,
                   packets: int, load_lags: list[float]) -> Sample:
    dt = now.at - before.at
    ours = sum(b.cpu_s - a.cpu_s for a, b in ((before.server, now.server),
                                              (before.redis, now.redis), (before.load, now.load))
               if a is not None and b is not None)
    others = procstat.cpu_between(before.all_processes, now.all_processes) - ours
    lag = percentile(load_lags, 99)
    return Sample(
        t_s=round(now.at - started, 1),
        participants=int(now.stats["media"]["participants"]),
        rss_mb=round(now.server.rss_bytes / 2**20, 1),
        heap_mb=round(now.resident.get("heap", 0) / 2**20, 1),
        anonymous_mb=round(now.resident.get("anonymous", 0) / 2**20, 1),
        python_blocks=int(now.stats["process"]["python_allocated_blocks"]),
        send_buffer_kb=int(now.stats["media"]["send_queue_buffer_bytes"]) // 1024,
        cpu_percent=round(100 * (now.server.cpu_s - before.server.cpu_s) / dt, 1),
        fds=now.fds, threads=now.server.threads,
        python_threads=int(now.stats["process"]["threads"]),
        asyncio_tasks=int(now.stats["process"]["asyncio_tasks"]),
        loop_lag_p99_ms=float(now.stats["event_loop_lag"]["p99_ms"]),
        redis_used_memory_mb=round(int(now.redis_memory["used_memory"]) / 2**20, 2),
        redis_rss_mb=round(now.redis.rss_bytes / 2**20, 1) if now.redis else 0.0,
        delivered_pps=round(packets / dt),
        dropped=classroom.totals["dropped"],
        load_cpu_percent=round(100 * (now.load.cpu_s - before.load.cpu_s) / dt, 1)
        if now.load and before.load else 0.0,
        load_rss_mb=round(now.load.rss_bytes / 2**20, 1) if now.load else 0.0,
        load_loop_lag_p99_ms=round(1000 * lag, 1) if lag is not None else None,
        others_cpu_percent=round(100 * max(0.0, others) / dt, 1),
        loadavg_1min=os.getloadavg()[0],
        joins=classroom.totals["joins"], leaves=classroom.totals["leaves"],
        crashes=classroom.totals["crashes"])


def log_summary(path: Path) -> dict[str, int]:
    """The server log's warnings and errors, counted by message (numbers made N): what went
    wrong and how often, e.g. peer connections that did not close in time."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match:
            counts[re.sub(r"\d+", "N", match.group(1))] += 1
    return dict(counts.most_common())


def server_state(reading: Reading, pid: int) -> dict[str, Any]:
    """What the server holds now: memory, fds and threads by kind, tasks, participants."""
    return {"rss_mb": round(reading.server.rss_bytes / 2**20, 1),
            "resident_mb": {kind: round(size / 2**20, 1) for kind, size in reading.resident.items()},
            "python_allocated_blocks": reading.stats["process"]["python_allocated_blocks"],
            "media": reading.stats["media"], "fds": reading.fds,
            "fd_kinds": procstat.fd_kinds(pid), "threads": reading.server.threads,
            "thread_names": procstat.thread_names(pid),
            "python_threads": reading.stats["process"]["threads"],
            "asyncio_tasks": reading.stats["process"]["asyncio_tasks"],
            "participants": reading.stats["media"]["participants"],
            "rooms": reading.stats["media"]["rooms"]}


# -- the verdict ---------------------------------------------------------------------------


def thresholds(warm_rss_mb: float, churn_interval_s: float) -> dict[str, float]:
    """Largest growth per 10 minutes that passes, per watched field.

    RSS: 1 % of the warm RSS. A participant costs the server ~13 MB (class_size), and ~30 go
    per 10 minutes: 1 % of ~430 MB is what keeping 1 % of each departed participant's memory
    would add. fds, threads, tasks: a tenth of the departures per 10 minutes; a leak keeps at
    least one object per departure (a socket, a decoder thread, a task), so even one in ten
    departures leaking shows, while a line fitted through ~100 samples averages out the
    handful of tasks a join in flight holds.
    """
    departures = 600.0 / churn_interval_s
    return {"rss_mb": round(0.01 * warm_rss_mb, 2), "fds": round(0.1 * departures, 2),
            "threads": round(0.1 * departures, 2), "asyncio_tasks": round(0.1 * departures, 2)}


def settled(samples: list[Sample], field: str) -> tuple[list[float], list[float]]:
    """Per run of SETTLED_WINDOW samples, its time and the largest count of `field`.

    A sample taken while a newcomer is still being set up counts the class's size but not yet
    all its tasks and sockets (the session-6 soak: 4,136 tasks in 72 samples of 103, down to
    4,012 in the others), and where those fall decides a fitted line. The largest count of a
    minute is the class fully set up; whatever leaks adds to it.
    """
    runs = [samples[i:i + SETTLED_WINDOW] for i in range(0, len(samples), SETTLED_WINDOW)]
    runs = [run for run in runs if len(run) == SETTLED_WINDOW]
    return ([statistics.mean(s.t_s for s in run) for run in runs],
            [float(max(getattr(s, field) for s in run)) for run in runs])


def verdict(samples: list[Sample], warmup_s: float, churn_interval_s: float) -> dict[str, Any]:
    """Growth after the warm-up, over the samples taken at the class's usual size."""
    steady = [s for s in samples if s.t_s >= warmup_s]
    if len(steady) < 3:
        return {"error": "too few samples after the warm-up", "pass": False}
    usual = Counter(s.participants for s in steady).most_common(1)[0][0]
    compared = [s for s in steady if s.participants == usual]
    span = compared[-1].t_s - compared[0].t_s
    edge = max(1, len(compared) // 6)  # the first and last sixth: 5 minutes of 25
    first, last = compared[:edge], compared[-edge:]
    warm_rss = statistics.median(s.rss_mb for s in first)
    limits = thresholds(warm_rss, churn_interval_s)
    metrics: dict[str, Any] = {}
    for field in WATCHED:
        values = [float(getattr(s, field)) for s in compared]
        times, fitted = settled(compared, field) if field in COUNTED else (
            [s.t_s for s in compared], values)
        slope = float(numpy.polyfit(times, fitted, 1)[0]) * 600.0 \
            if len(times) > 1 and span > 0 else 0.0
        metrics[field] = {
            "first": statistics.median(getattr(s, field) for s in first),
            "last": statistics.median(getattr(s, field) for s in last),
            "min": min(values), "max": max(values),
            "growth_per_10min": round(slope, 3), "threshold_per_10min": limits[field],
            "pass": slope < limits[field]}
    cpu_first = statistics.mean(s.cpu_percent for s in first)
    cpu_last = statistics.mean(s.cpu_percent for s in last)
    return {
        "warmup_s": warmup_s, "participants_compared": usual,
        "samples_after_warmup": len(steady), "samples_compared": len(compared),
        "span_compared_s": round(span, 1), "edge_samples": edge,
        "metrics": metrics,
        "cpu_percent": {"first": round(cpu_first, 1), "last": round(cpu_last, 1)},
        "pass": all(m["pass"] for m in metrics.values()),
    }


# -- the run -------------------------------------------------------------------------------


async def soak(server: AulaServer, redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    plan = plan_churn(args.students, args.duration, args.churn_interval, rng)
    scenario, seats = soak_seats(args.students, args.visible_videos, args.student_audio, plan)
    instructor = scenario.seats[0]
    classroom = Classroom(server, seats, rng)
    sampler = Sampler(server, redis_url)
    monitor = LoopMonitor()
    background: list[asyncio.Future[Any]] = [asyncio.ensure_future(monitor.run())]
    samples: list[Sample] = []
    result: dict[str, Any] = {"students": args.students, "loadavg_start": loadavg()}
    try:
        await asyncio.sleep(2.0)
        result["server_before_class"] = server_state(await sampler.read(), server.process.pid)

        joining = time.perf_counter()
        await server.open_room(scenario)
        # The instructor has a seat too: dropped by the server, it comes back like anyone.
        classroom.seats = {instructor.identity: instructor, **seats}
        for identity, seat in classroom.seats.items():
            classroom.seated[identity] = await classroom.sit(seat)
        flowing = await asyncio.gather(*(
            wait_for_videos(classroom.seated[i].client, scenario.videos_shown_by(seat), 30.0 + 4.0 * args.students)
            for i, seat in classroom.seats.items()), return_exceptions=True)
        result["join_all_s"] = round(time.perf_counter() - joining, 1)
        # Growth is what is measured: a client short of a video is noted, not fatal.
        result["clients_missing_videos"] = sum(isinstance(f, BaseException) for f in flowing)
        print(f"  1 + {args.students} joined in {result['join_all_s']} s, "
              f"{result['clients_missing_videos']} clients short of a video; "
              f"{len(plan)} departures planned over {args.duration:.0f} s", flush=True)

        result["server_class_complete"] = server_state(await sampler.read(), server.process.pid)
        started = time.perf_counter()
        background.append(asyncio.ensure_future(classroom.run_plan(plan, started)))
        background.append(asyncio.ensure_future(classroom.reseat_dropped(started)))
        background.append(asyncio.ensure_future(classroom.chatter(args.chatter_interval)))
        monitor.recording = True
        previous, packets_before = await sampler.read(), classroom.counter.packets
        while time.perf_counter() - started < args.duration:
            await asyncio.sleep(args.sample_interval)
            try:
                now = await sampler.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                result["missed_samples"] = result.get("missed_samples", 0) + 1
                print(f"  missed a sample: {exc!r}", flush=True)
                continue
            samples.append(sample_between(previous, now, started, classroom,
                                          classroom.counter.packets - packets_before,
                                          monitor.lags))
            previous, packets_before = now, classroom.counter.packets
            monitor.lags.clear()
            for client in server.clients:
                client.messages.clear()  # the load keeps no history: its own memory stays flat
            print_sample(samples[-1])
        result["server_end_of_soak"] = server_state(await sampler.read(), server.process.pid)
        await cancel_tasks(background)
        await server.leave_all()
        # Everyone has gone: the room empties, then the class ends and the room closes.
        await asyncio.sleep(RECONNECT_GRACE_S + 5.0)
        result["server_all_left"] = server_state(await sampler.read(), server.process.pid)
        await server.end_session()
        # Until the server has collected what the departures left, and handed it back.
        await asyncio.sleep(AFTER_DEPARTURES_INTERVAL_S + 10.0)
        result["server_after_class"] = server_state(await sampler.read(), server.process.pid)
    finally:
        await cancel_tasks(background)
        await server.leave_all()
        await sampler.close()

    result["loadavg_end"] = loadavg()
    result["totals"] = dict(classroom.totals)
    join_times = [e["join_s"] for e in classroom.events if "join_s" in e]
    result["churn_join_s"] = {"count": len(join_times), "p50": percentile(join_times, 50),
                              "max": max(join_times, default=None)}
    result["server_log"] = log_summary(server.process.log_path)
    result["verdict"] = verdict(samples, args.warmup, args.churn_interval)
    result["samples"] = [dataclasses.asdict(s) for s in samples]
    result["churn"] = classroom.events
    return result


def print_sample(s: Sample) -> None:
    print(f"  t={s.t_s:6.0f}s  n={s.participants:2d}  RSS {s.rss_mb:6.1f} MB (heap {s.heap_mb:5.1f}"
          f" anon {s.anonymous_mb:5.1f}, {s.python_blocks} blocks, send queue {s.send_buffer_kb} KB)"
          f"  CPU {s.cpu_percent:5.1f}%"
          f"  fds {s.fds:4d}  threads {s.threads:3d}  tasks {s.asyncio_tasks:5d}"
          f"  lag p99 {s.loop_lag_p99_ms:6.1f} ms  redis {s.redis_used_memory_mb:5.1f} MB"
          f"  {s.delivered_pps:6d} pkt/s  dropped {s.dropped}  load {s.load_cpu_percent:5.1f}%  others "
          f"{s.others_cpu_percent:5.1f}%  joins {s.joins} leaves {s.leaves} crashes {s.crashes}",
          flush=True)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    use_host_addresses((LOOPBACK,))
    with tempfile.TemporaryDirectory(prefix="aula-soak-") as tmp:
        workdir = Path(tmp)
        redis, redis_url = start_redis(workdir)
        try:
            server = await AulaServer.start(workdir, redis, redis_url)
            try:
                return await soak(server, redis_url, args)
            finally:
                server.stop()
                if args.log_dir:
                    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(server.process.log_path, Path(args.log_dir) / "server-soak.log")
        finally:
            redis.stop()


# -- report --------------------------------------------------------------------------------


def print_report(result: dict[str, Any]) -> None:
    v = result["verdict"]
    if "error" in v:
        print(f"no verdict: {v['error']}")
        return
    print(f"After {v['warmup_s']:.0f} s of warm-up, {v['samples_compared']} of "
          f"{v['samples_after_warmup']} samples with {v['participants_compared']} participants "
          f"in the room, over {v['span_compared_s'] / 60:.1f} min:")
    header = ("metric", "first", "last", "min", "max", "growth/10min", "threshold", "pass")
    rows = [(field, f"{m['first']:g}", f"{m['last']:g}", f"{m['min']:g}", f"{m['max']:g}",
             f"{m['growth_per_10min']:+.2f}", f"< {m['threshold_per_10min']:g}",
             "yes" if m["pass"] else "NO") for field, m in v["metrics"].items()]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    states = {"before the class": "server_before_class", "class complete": "server_class_complete",
              "end of soak": "server_end_of_soak", "all left": "server_all_left",
              "class ended": "server_after_class"}
    for field in ("rss_mb", "fds", "threads", "python_threads", "asyncio_tasks", "participants"):
        print(f"{field}: " + ", ".join(f"{label} {result[key][field]}" for label, key in states.items()))
    print(f"server CPU {v['cpu_percent']['first']}% → {v['cpu_percent']['last']}% of a core; "
          f"totals {result['totals']}; churn joins {result['churn_join_s']}; "
          f"loadavg {result['loadavg_start']['1min']} → {result['loadavg_end']['1min']}")
    print(f"VERDICT: {'PASS' if v['pass'] else 'FAIL'}")


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [s["t_s"] / 60 for s in samples]
    warmup_min = result["verdict"].get("warmup_s", 0.0) / 60
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    rss, cpu, counts, people = axes
    rss.plot(minutes, [s["rss_mb"] for s in samples], label="server RSS")
    rss.plot(minutes, [s["heap_mb"] for s in samples], label="of which main heap")
    rss.plot(minutes, [s["anonymous_mb"] for s in samples], label="of which anonymous maps")
    rss.set_ylabel("MB")
    rss.set_title(f"Soak: 1 + {result['students']} with churn "
                  f"({'PASS' if result['verdict'].get('pass') else 'FAIL'})")
    cpu.plot(minutes, [s["cpu_percent"] for s in samples], label="server")
    cpu.plot(minutes, [s["load_cpu_percent"] for s in samples], label="load generator", alpha=0.6)
    cpu.plot(minutes, [s["others_cpu_percent"] for s in samples], label="other processes", alpha=0.6)
    cpu.set_ylabel("CPU, % of one core")
    for field, label in (("fds", "open fds"), ("threads", "OS threads")):
        counts.plot(minutes, [s[field] for s in samples], label=label)
    counts.set_ylabel("count")
    tasks = counts.twinx()
    tasks.plot(minutes, [s["asyncio_tasks"] for s in samples], color="tab:red", label="asyncio tasks")
    tasks.set_ylabel("asyncio tasks", color="tab:red")
    people.step(minutes, [s["participants"] for s in samples], where="post", label="participants")
    for event in result["churn"]:
        color = "tab:blue" if event["dropped"] else "tab:red" if event["crash"] else "tab:gray"
        people.axvline(event["t_s"] / 60, color=color, alpha=0.25, linewidth=0.8)
    people.set_ylabel("participants\n(lines: departures; red:\ncrash, blue: dropped)")
    redis_memory = people.twinx()
    redis_memory.plot(minutes, [s["redis_used_memory_mb"] for s in samples], color="tab:green",
                      label="redis used_memory")
    redis_memory.set_ylabel("redis MB", color="tab:green")
    people.set_xlabel("minutes since the class was complete")
    for axis in axes:
        axis.axvspan(0, warmup_min, color="0.9", zorder=0)
        axis.legend(loc="upper left", fontsize="small")
        axis.grid(alpha=0.3)
    tasks.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="1 + N in one Aula room for a long time, with joins and leaves: no growth.")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of churn")
    parser.add_argument("--sample-interval", type=float, default=10.0, help="s between samples")
    parser.add_argument("--warmup", type=float, default=300.0,
                        help="s at the start that the verdict leaves out")
    parser.add_argument("--churn-interval", type=float, default=20.0,
                        help="mean s between departures")
    parser.add_argument("--chatter-interval", type=float, default=2.0,
                        help="mean s between chat, hand and reaction messages")
    parser.add_argument("--visible-videos", type=int, default=4, metavar="K",
                        help="each student keeps K videos enabled (0: all)")
    parser.add_argument("--student-audio", choices=("quiet", "speech"), default="quiet")
    parser.add_argument("--seed", type=int, default=7, help="of the churn plan and the clips' starts")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--plot", help="write the 4-panel plot here (PNG; needs matplotlib)")
    parser.add_argument("--log-dir", default=str(REPO_ROOT / "benchmarks" / "results" / "logs"),
                        help="copy the server log here ('' to skip)")
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    args.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    env = environment()
    print(f"Aula soak: 1 + {args.students} for {args.duration:.0f} s on {env['cpus']} CPUs "
          f"({env['cpu_model']}); loadavg {loadavg()}", flush=True)
    result = run_event_loop(lambda: main_async(args), args.uvloop)
    print()
    print_report(result)
    if args.json:
        write_document("soak", args, {
            "settings": {"students": args.students, "duration_s": args.duration,
                         "sample_interval_s": args.sample_interval, "warmup_s": args.warmup,
                         "churn_interval_s": args.churn_interval,
                         "chatter_interval_s": args.chatter_interval,
                         "visible_videos": args.visible_videos or "all",
                         "student_audio": args.student_audio, "seed": args.seed},
            "result": result})
        print(f"JSON: {args.json}")
    if args.plot:
        plot(result, Path(args.plot))
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
