"""Class-size benchmark: 1 instructor (720p + Opus) + N students (360p + Opus) in one Aula room.

For each N it starts a fresh Aula server as a subprocess (its CPU and memory are read from
/proc/<pid>), against a redis-server of its own; then, in this process, N+1 Python RTC clients
(aiortc, no decoding) join one session, each publishing pre-encoded media and subscribing to
everything the server forwards. The load and what is measured are benchmarks/class_load.py's
(the same load drives Janus in janus_side_by_side.py).

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
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp
import aiortc

from client.rtc_client import ClientOptions, PacketObserver, RtcClient
from media.aiortc import use_host_addresses

from . import procstat
from .class_load import (
    LOOPBACK,
    REPO_ROOT,
    Member,
    Scenario,
    Seat,
    Subprocess,
    add_load_arguments,
    cancel_tasks,
    class_scenario,
    free_port,
    hook_audio_level,
    receive_options,
    run_event_loop,
    wait_for_http,
    run_class,
)
from .media import AUDIO, INSTRUCTOR_VIDEO, STUDENT_VIDEO, EncodedTrack, clip_for

API_KEY = "bench-api-key"
SECRET = "bench-secret-that-is-long-enough-for-hs256-signing"
API_HEADERS = {"Authorization": f"Bearer {API_KEY}"}

logger = logging.getLogger("benchmarks.class_size")


def iso(offset_s: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).isoformat()



# -- Aula: redis, the server, its API ------------------------------------------------------


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
            # A media node alone: at scale the workers run apart, and here one would share the cores.
            "--no-worker", "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = Subprocess("server", argv, directory / "server.log", env)
    base_url = f"http://{LOOPBACK}:{port}"
    await wait_for_http(server, f"{base_url}/healthz",
                        lambda health: bool(health.get("redis", {}).get("reachable")))
    return server, base_url



async def create_session(http: aiohttp.ClientSession, base_url: str, students: int,
                         record: bool = False) -> str:
    body = {"title": f"Benchmark class of {students}", "scheduled_start": iso(),
            "scheduled_end": iso(3600), "roster": [], "instructors": [],
            "settings": {"recording": record}}
    async with http.post(f"{base_url}/api/sessions", json=body, headers=API_HEADERS) as response:
        if response.status != 201:
            raise RuntimeError(f"POST /api/sessions: {response.status} {await response.text()}")
        return str((await response.json())["id"])


async def join_token(http: aiohttp.ClientSession, base_url: str, session_id: str,
                     identity: str, role: str) -> str:
    body = {"identity": identity, "name": identity, "role": role}
    async with http.post(f"{base_url}/api/sessions/{session_id}/tokens", json=body,
                         headers=API_HEADERS) as response:
        if response.status != 201:
            raise RuntimeError(f"POST tokens: {response.status} {await response.text()}")
        return str((await response.json())["token"])




async def pause_hidden_videos(client: RtcClient, shown: set[str]) -> None:
    """Pause every video not in `shown` as soon as it is offered, as a browser pauses
    off-screen tiles (update_subscription)."""
    paused: set[str] = set()
    looked_at = -1  # the subscriber offer whose tracks were last looked at
    while True:
        offers = client.subscriber_offers
        if offers != looked_at and client.identity is not None:
            hidden = [t.sid for t in list(client.remote_tracks.values())
                      if t.kind == "video" and t.identity not in shown and t.sid not in paused]
            try:
                if hidden:
                    await client.send({"type": "update_subscription", "sids": hidden,
                                       "enabled": False})
                    paused.update(hidden)
                looked_at = offers
            except (ConnectionError, AssertionError):
                pass  # again in a moment
        await asyncio.sleep(0.2)




class AulaServer:
    """A fresh `python -m server` against the benchmark's redis; clients join over signaling
    and are subscribed to everything by the server."""

    name = "aula"

    def __init__(self, process: Subprocess, base_url: str, redis: Subprocess,
                 record: bool = False, audio_level: bool = True,
                 process_rtp: bool = False, authenticate_every: int = 1) -> None:
        self.process = process
        self.base_url = base_url
        self.helpers = {"redis": redis}
        self.record = record
        self.audio_level = audio_level
        self.process_rtp = process_rtp
        self.authenticate_every = authenticate_every
        self.clients: list[RtcClient] = []
        self._session_id: Optional[str] = None
        self._pausers: dict[RtcClient, asyncio.Future[Any]] = {}  # tile-pausing, per client
        self._pings = 0

    @classmethod
    async def start(cls, directory: Path, redis: Subprocess, redis_url: str,
                    record: bool = False, audio_level: bool = True,
                    process_rtp: bool = False, authenticate_every: int = 1) -> "AulaServer":
        process, base_url = await start_server(directory, redis_url)
        return cls(process, base_url, redis, record, audio_level, process_rtp, authenticate_every)

    async def open_room(self, scenario: Scenario) -> None:
        async with aiohttp.ClientSession() as http:
            self._session_id = await create_session(http, self.base_url, scenario.size,
                                                    self.record)

    async def join(self, seat: Seat, tracks: dict[str, EncodedTrack],
                   on_packet: PacketObserver) -> RtcClient:
        assert self._session_id is not None
        async with aiohttp.ClientSession() as http:
            token = await join_token(http, self.base_url, self._session_id, seat.identity,
                                     seat.role)
        client = RtcClient(self.base_url, token, publish=dict(tracks),
                           options=ClientOptions(decode=False, process_rtp=self.process_rtp,
                                                 authenticate_every=self.authenticate_every,
                                                 on_packet=on_packet, connect_timeout_s=60.0,
                                                 load_client=True))
        self.clients.append(client)
        if seat.shown is not None:
            self._pausers[client] = asyncio.ensure_future(pause_hidden_videos(client, seat.shown))
        if self.audio_level and "microphone" in tracks:
            hook_audio_level(client.publisher_pc, tracks["microphone"])
        try:
            await client.connect()
        except Exception:
            # Half-connected, it would stay in the room unseated: it goes before the error does.
            with contextlib.suppress(Exception):
                await self.leave(client, leave=False)
            raise
        return client

    async def subscribe_all(self, scenario: Scenario, members: list[Member]) -> None:
        """Nothing to do: the server offers every publication to everyone."""

    async def round_trip(self) -> None:
        """A signaling `ping` through the server's event loop, answered by a `pong`."""
        client = self.clients[0]
        self._pings += 1
        ts = f"bench-{self._pings}"
        waiter = asyncio.ensure_future(client.wait_for(
            lambda m: m.get("type") == "pong" and m.get("ts") == ts, timeout=5.0))
        await client.send({"type": "ping", "ts": ts})
        await waiter  # raises asyncio.TimeoutError after 5 s
        # Keep the client's message log from growing with pongs.
        client.messages = [m for m in client.messages if m.get("type") != "pong"]

    async def leave(self, client: RtcClient, leave: bool = True) -> None:
        """One client goes: with `leave`, or (leave=False) dropping its socket as a crash does."""
        pauser = self._pausers.pop(client, None)
        await cancel_tasks([pauser] if pauser is not None else [])
        self.clients.remove(client)
        await asyncio.wait_for(client.close(leave=leave), 10.0)

    async def leave_all(self) -> None:
        await cancel_tasks(list(self._pausers.values()))
        self._pausers.clear()
        await asyncio.gather(*(asyncio.wait_for(c.close(), 10.0) for c in self.clients),
                             return_exceptions=True)
        self.clients.clear()

    async def end_session(self) -> None:
        """POST /api/sessions/{id}/end: the room closes, the class is over."""
        assert self._session_id is not None
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base_url}/api/sessions/{self._session_id}/end",
                                 headers=API_HEADERS) as response:
                if response.status != 200:
                    raise RuntimeError(f"POST end: {response.status} {await response.text()}")

    def stop(self) -> None:
        self.process.stop()


async def profile_server(pid: int, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """py-spy, after the measurement window (so it does not disturb it): own time per function."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    directory = Path(args.profile_dir)
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / f"server-{label}.collapsed.txt"
    speedscope = directory / f"server-{label}.speedscope.json"
    print(f"  {label}: profiling the server with py-spy for {args.profile_duration:.0f} s",
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
    header = ("N", "srv CPU%", "loop%", "RSS MB", "MB/part", "deliv pps", "deliv Mbps", "pkt/CPU-s",
              "µs/pkt", "deliv %", "drops srv/load", "lat p50", "lat p95", "ping p95", "load CPU%",
              "lag p99", "valid")
    rows = []
    for r in results:
        if "error" in r:
            continue
        f, s, lat, lp = r["forwarding"], r["server"], r["latency_ms"]["all"], r["load_process"]
        rows.append((
            str(r["students"]), f"{s['cpu_percent_of_one_core']}",
            f"{s.get('main_thread_cpu_percent_of_one_core')}", f"{s['rss_mb']}",
            f"{s.get('rss_per_participant_mb')}", f"{f['delivered_pps']}", f"{f['delivered_mbps']}",
            f"{f.get('packets_per_server_cpu_s')}", f"{f.get('server_cpu_us_per_packet')}",
            f"{100 * f['delivery_ratio']:.1f}" if f["delivery_ratio"] is not None else "-",
            f"{f['server_socket_drops']}/{f['load_socket_drops']}", f"{lat['p50']}", f"{lat['p95']}", f"{r['signaling_ping_rtt_ms']['p95']}",
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


async def run_aula(scenario: Scenario, args: argparse.Namespace, redis: Subprocess,
                   redis_url: str, workdir: Path) -> dict[str, Any]:
    """One fresh server for one class size; its log is kept in --log-dir."""
    use_host_addresses((LOOPBACK,))
    run_dir = workdir / f"aula-{scenario.name}-n{scenario.size}"
    run_dir.mkdir(parents=True, exist_ok=True)
    server = await AulaServer.start(run_dir, redis, redis_url, args.record, args.audio_level,
                                    *receive_options(args.receivers))
    label = f"{scenario.name}-n{scenario.size}" if scenario.name != "class" else f"n{scenario.size}"

    async def profile() -> dict[str, Any]:
        return await profile_server(server.process.pid, label, args)

    try:
        return await run_class(server, scenario, args, profile if args.profile_dir else None)
    finally:
        server.stop()
        if args.log_dir:
            log_dir = Path(args.log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.process.log_path, log_dir / f"server-{label}.log")


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
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
                scenario = class_scenario(students, args.visible_videos, args.student_audio)
                result = await run_guarded(run_aula(scenario, args, redis, redis_url, workdir),
                                           scenario, "aula")
                results.append(result)
                if "error" not in result:
                    f = result["forwarding"]
                    print(f"  N={students}: server {result['server']['cpu_percent_of_one_core']}% "
                          f"CPU, {f['delivered_pps']} pkt/s delivered ({f['delivery_ratio']}), "
                          f"load {result['load_process']['cpu_percent_of_one_core']}% CPU",
                          flush=True)
                if args.json:
                    write_json(args, results)
                await asyncio.sleep(2.0)  # let sockets close and CPU settle between runs
        finally:
            redis.stop()
    return results


async def run_guarded(run: Any, scenario: Scenario, system: str) -> dict[str, Any]:
    """One failed class size must not lose the others: a failure becomes an invalid result."""
    try:
        return dict(await run)
    except Exception as exc:
        logger.exception("%s %s of %d failed", system, scenario.name, scenario.size)
        return {"system": system, "scenario": scenario.name, "students": scenario.size,
                "error": f"{type(exc).__name__}: {exc}", "valid": False,
                "warnings": [f"INVALID: run failed: {exc}"]}


def write_document(benchmark: str, args: argparse.Namespace, fields: dict[str, Any]) -> None:
    """Write the JSON results of `benchmark` to --json: how it was run, on what, with what."""
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": benchmark,
        "command": " ".join(["python", "-m", f"benchmarks.{benchmark}", *sys.argv[1:]]),
        "started": args.started, "environment": environment(),
        "media": {"instructor": INSTRUCTOR_VIDEO.filename, "student": STUDENT_VIDEO.filename,
                  "audio": AUDIO.filename},
        **fields,
    }
    path.write_text(json.dumps(document, indent=2))


def write_json(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    write_document("class_size", args, {
        "settings": {"warmup_s": args.warmup, "duration_s": args.duration,
                     "student_audio": args.student_audio,
                     "audio_level_extension": args.audio_level,
                     "visible_videos": args.visible_videos or "all",
                     "receivers": args.receivers, "recording": args.record},
        "results": results,
    })


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.class_size",
        description="1 instructor (720p+Opus) + N students (360p+Opus) in one Aula room.")
    parser.add_argument("--students", type=int, nargs="+", default=[10, 30])
    add_load_arguments(parser, visible_videos=0)
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
    results = run_event_loop(lambda: main_async(args), args.uvloop)
    print()
    print_table(results)
    if args.json:
        write_json(args, results)
        print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
