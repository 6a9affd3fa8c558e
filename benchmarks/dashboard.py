"""The operations dashboard under a school's load: how long its reads take with many classes and
their event history, and how soon an event reaches every open dashboard over the SSE feed.

    python -m benchmarks.dashboard --sessions 200 --live 30 --students 30 --minutes 30 \
        --feeds 1 10 50 --json benchmarks/results/dashboard.json

A redis-server of its own and the Aula app on loopback. `--sessions` classes are scheduled;
`--live` of them are running, each with `--students` students in the room and `--minutes` of
history on its stream (per student, an event every 6 s: an engagement.snapshot every 30 s,
signals between), written straight to its session's stream with the
entry ids they would have had (their times), and each student's latest snapshot where the
dashboard's index keeps it; the global stream only carries the feed's events. Reads are
timed over HTTP as a browser makes them; feed latency is from the call to `EventBus.publish`
(events.jsonl, then Redis) to each open feed's client reading the event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from engagement.attendance import AttendanceRecord
from events import Event, EventType
from events.bus import session_stream
from events.types import FlagRaised, SpeakingStarted
from engagement.attendance_store import AttendanceStore
from server.context import CONTEXT
from server.dashboard import DASHBOARD
from tests.conftest import AulaServer, RedisServer, iso, loopback_settings, running_aula

SNAPSHOT_EVERY_S = 30


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def fill(server: AulaServer, sessions: int, live: int, students: int, minutes: int) -> list[str]:
    """Schedule the classes; give the live ones their people and history. Returns the live ids."""
    redis = server.app[CONTEXT].redis
    live_ids = []
    for index in range(sessions):
        roster = [{"identity": f"s{index}-{n}", "name": f"Student {n}"} for n in range(students)]
        session = await server.create_session(title=f"Class {index}", roster=roster,
                                              scheduled_start=iso(-60 * minutes if index < live else 3600 + index),
                                              scheduled_end=iso(3600 * 2 + index),
                                              # no no-show check yet: the history goes in first
                                              settings={"no_show_after_s": 7200})
        if index >= live:
            continue
        live_ids.append(session["id"])
        start = time.time() - 60 * minutes
        store = AttendanceStore(redis, session["id"])
        for entry in roster:
            await store.save(AttendanceRecord(entry["identity"], entry["name"], "student", [[start, None]]))
        async with redis.pipeline(transaction=False) as pipe:
            for second in range(0, 60 * minutes, 6):
                for sequence, entry in enumerate(roster):
                    if second % SNAPSHOT_EVERY_S == 0:
                        event = Event(EventType.ENGAGEMENT_SNAPSHOT, session["id"], {
                            "present_s": float(second), "talk_time_s": 1.0, "score": (second // 30) % 100,
                            "score_parts": {}}, entry["identity"], start + second)
                    else:
                        event = Event.of(SpeakingStarted(), session["id"], entry["identity"], start + second)
                    # The entry id a live XADD would have given it: its time.
                    pipe.xadd(session_stream(session["id"]), {"event": event.to_json()},
                              id=f"{int(event.ts * 1000)}-{sequence}")
                if len(pipe) > 5000:
                    await pipe.execute()
            await pipe.execute()
        for entry in roster:  # what the dashboard's index keeps of the stream
            latest = Event(EventType.ENGAGEMENT_SNAPSHOT, session["id"], {"score": 50, "score_parts": {}},
                           entry["identity"], time.time() - 1)
            await server.app[DASHBOARD].index.engagement.record(latest.envelope())
    return live_ids


async def time_get(http: aiohttp.ClientSession, url: str, headers: dict[str, str], runs: int) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        async with http.get(url, headers=headers) as response:
            assert response.status == 200, await response.text()
            await response.read()
        seconds.append(time.perf_counter() - started)
    return {"p50_ms": round(1000 * statistics.median(seconds), 1), "p95_ms": round(1000 * percentile(seconds, 0.95), 1)}


async def feed_latency(server: AulaServer, http: aiohttp.ClientSession, token: str, feeds: int,
                       events: int, session_id: str) -> dict[str, float]:
    published: dict[str, float] = {}
    latencies: list[float] = []
    ready = asyncio.Event()
    opened = 0

    async def reader() -> None:
        nonlocal opened
        async with http.get(f"{server.base_url}/api/dashboard/events?token={token}&types=flag.raised") as response:
            opened += 1
            if opened == feeds:
                ready.set()
            seen = 0
            async for raw in response.content:
                if raw.startswith(b"data: {\"id\""):
                    event_id = json.loads(raw[len(b"data: "):])["id"]
                    latencies.append(time.perf_counter() - published[event_id])
                    seen += 1
                    if seen == events:
                        return

    tasks = [asyncio.ensure_future(reader()) for _ in range(feeds)]
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(0.5)  # every feed past its first XREAD
    bus = server.app[CONTEXT].bus
    for n in range(events):
        event = Event.of(FlagRaised(kind="at_risk", reason=f"benchmark {n}", severity="info",
                                    cause_event_id="evt_000000000000000000000001"), session_id, "s0-0")
        published[event.id] = time.perf_counter()
        await bus.publish(event)
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return {"feeds": feeds, "events": len(latencies), "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p95_ms": round(1000 * percentile(latencies, 0.95), 1), "max_ms": round(1000 * max(latencies), 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aula-dashboard-bench-") as directory:
        redis = RedisServer(Path(directory))
        redis.start()
        try:
            async with running_aula(loopback_settings(redis.url, Path(directory) / "data")) as server:
                filled = time.perf_counter()
                live_ids = await fill(server, args.sessions, args.live, args.students, args.minutes)
                print(f"filled in {time.perf_counter() - filled:.0f} s")
                async with server.http.post(f"{server.base_url}/api/tokens", headers=server.headers,
                                            json={"identity": "bench", "role": "ops"}) as response:
                    token = (await response.json())["token"]
                headers = {"Authorization": f"Bearer {token}"}
                async with aiohttp.ClientSession() as http:
                    reads = {
                        "sessions overview": await time_get(http, f"{server.base_url}/api/dashboard/sessions", headers, args.runs),
                        "one live session": await time_get(http, f"{server.base_url}/api/dashboard/sessions/{live_ids[0]}",
                                                           headers, args.runs),
                        "open flags": await time_get(http, f"{server.base_url}/api/dashboard/flags", headers, args.runs),
                    }
                    feeds = [await feed_latency(server, http, token, n, args.events, live_ids[0]) for n in args.feeds]
        finally:
            redis.kill()
    return {"sessions": args.sessions, "live": args.live, "students": args.students, "minutes": args.minutes,
            "reads": reads, "feeds": feeds}


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['sessions']} sessions, {result['live']} live with {result['students']} students and "
          f"{result['minutes']} min of events each\n")
    print("| read | p50 | p95 |\n|---|---|---|")
    for name, timing in result["reads"].items():
        print(f"| {name} | {timing['p50_ms']} ms | {timing['p95_ms']} ms |")
    print("\n| open feeds | events each | publish → feed p50 | p95 | max |\n|---|---|---|---|---|")
    for feed in result["feeds"]:
        print(f"| {feed['feeds']} | {feed['events'] // feed['feeds']} | {feed['p50_ms']} ms | {feed['p95_ms']} ms | "
              f"{feed['max_ms']} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--live", type=int, default=30)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--feeds", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    print_table(outcome)
    if arguments.json:
        arguments.json.write_text(json.dumps(outcome, indent=2) + "\n")
