"""A fleet of two `aula serve` nodes on one redis-server: where K classes land (placement
balance), and what a node's death costs its classes.

Each class is 1 instructor publishing 360p VP8 (benchmarks/media.py, no encoding) and N
students receiving it (aiortc peers, no decoding), every one joining through a node picked at
random: a join that lands on the other node is redirected. Then the node hosting the most
classes is killed with -9. Every client of its classes does what the browser client does
(web_client/js/signaling_route.js): it tries the other node, then the dead one, in turn, with
the browser's backoff (0.5, 1, 1, 2, 2, 2, 4, 8 s), until a join holds; a student is "back" when the
instructor's video reaches it again. Reported: how long that took after the kill, per client
(p50, p95, max), against the nodes' heartbeat TTL (`--ttl`, 6 s as `--node-ttl`), which bounds
how long the dead node still looks alive. Everything stays on 127.0.0.1 (no STUN).

    python -m benchmarks.fleet --classes 3 --students 10 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import aiohttp

from client.rtc_client import ClientOptions, RtcClient
from media.aiortc import use_host_addresses

from .class_load import LOOPBACK, Subprocess, free_port, wait_for_http
from .class_size import API_HEADERS, API_KEY, SECRET, create_session, join_token, start_redis, write_document
from .media import STUDENT_VIDEO, EncodedTrack, clip_for

logger = logging.getLogger("benchmarks.fleet")
BACKOFF_S = (0.5, 1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 8.0)  # web_client/js/connection_phase.js


async def start_node(directory: Path, redis_url: str, fleet: str, name: str, ttl_s: float) -> tuple[Subprocess, str]:
    port = free_port()
    argv = [sys.executable, "-m", "server", "--host", LOOPBACK, "--port", str(port), "--redis-url", redis_url,
            "--data-dir", str(directory / name), "--api-key", API_KEY, "--secret", SECRET,
            "--ice-addresses", LOOPBACK, "--ice-allowed-networks", "127.0.0.0/8", "--no-worker",
            "--log-level", "WARNING", "--fleet", fleet, "--node-name", name, "--node-ttl", str(ttl_s)]
    node = Subprocess(name, argv, directory / f"{name}.log")
    base_url = f"http://{LOOPBACK}:{port}"
    await wait_for_http(node, f"{base_url}/healthz", lambda health: bool(health.get("redis", {}).get("reachable")))
    return node, base_url


class Member:
    """One client of a class, joining through whichever node it is given."""

    def __init__(self, session_id: str, identity: str, instructor: bool) -> None:
        self.session_id = session_id
        self.identity = identity
        self.instructor = instructor
        self.client: Optional[RtcClient] = None
        self.redirected = False
        self.attempts = 0  # joins tried after the node's death

    async def join(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.redirected = False
        token = await join_token(http, base_url, self.session_id, self.identity,
                                 "instructor" if self.instructor else "student")
        publish = {"camera": EncodedTrack(clip_for(STUDENT_VIDEO))} if self.instructor else None
        client = RtcClient(base_url, token, publish, ClientOptions(decode=False, connect_timeout_s=5))
        try:
            await client.connect()
        except BaseException:
            await client.close()
            raise
        finally:
            self.redirected = bool(client.redirects)
        self.client = client

    async def rejoin(self, http: aiohttp.ClientSession, nodes: list[str]) -> None:
        """As the browser does after its node went (web_client/js/signaling_route.js): the
        nodes in turn, skipping one that cannot be reached while another can, with its backoff."""
        if self.client is not None:
            await self.client.close()
            self.client = None
        unreachable: set[str] = set()
        for attempt in range(100):
            choices = [url for url in nodes if url not in unreachable] or nodes
            url = choices[attempt % len(choices)]
            self.attempts += 1
            try:
                await self.join(http, url)
                return
            except aiohttp.ClientConnectorError:
                # Refused by `url` itself, or by the dead node it redirected to: only the first
                # counts against `url` (it places the room on a live node once the TTL is over).
                if not self.redirected:
                    unreachable.add(url)
            except Exception as exc:
                logger.info("%s: try %d at %s: %s", self.identity, attempt + 1, url, exc)
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        raise RuntimeError(f"{self.identity} never got back in")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


async def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="aula-fleet-"))
    redis, redis_url = start_redis(directory)
    fleet = f"bench-{run}"
    nodes = [await start_node(directory, redis_url, fleet, f"node-{i}", args.ttl) for i in range(2)]
    urls = [url for _, url in nodes]
    rng = random.Random(run)
    members: list[Member] = []
    try:
        async with aiohttp.ClientSession() as http:
            sessions = [await create_session(http, urls[0], args.students) for _ in range(args.classes)]
            for session_id in sessions:
                teacher = Member(session_id, "instructor", True)
                await teacher.join(http, rng.choice(urls))
                members.append(teacher)
                for n in range(args.students):
                    student = Member(session_id, f"student-{n}", False)
                    await student.join(http, rng.choice(urls))
                    members.append(student)
            placed = {}
            for session_id in sessions:
                async with http.get(f"{urls[0]}/api/sessions/{session_id}", headers=API_HEADERS) as response:
                    placed[session_id] = (await response.json())["node"]
            rooms = {name: list(placed.values()).count(name) for name in ("node-0", "node-1")}
            await asyncio.gather(*(m.client.wait_for_tracks(1, timeout=30) for m in members
                                   if not m.instructor and m.client is not None))
            doomed_name = max(sorted(set(placed.values())), key=lambda name: list(placed.values()).count(name))
            doomed = int(doomed_name.split("-")[1])
            survivor_url = urls[1 - doomed]
            affected = [m for m in members if placed[m.session_id] == doomed_name]
            nodes[doomed][0].process.kill()
            killed_at = time.monotonic()
            order = [survivor_url, urls[doomed]]
            async def rejoined_after(member: Member) -> float:
                await member.rejoin(http, order)
                return time.monotonic() - killed_at

            rejoined = sorted(await asyncio.gather(*(rejoined_after(m) for m in affected)))  # at once, as pages do
            students = [m for m in affected if not m.instructor]

            async def back_after(member: Member) -> float:
                assert member.client is not None
                await member.client.wait_for_tracks(1, timeout=60)
                return time.monotonic() - killed_at

            back = sorted(await asyncio.gather(*(back_after(m) for m in students)))
    finally:
        for member in members:
            await member.close()
        for node, _ in nodes:
            node.stop()
        redis.stop()
    redirected = sum(m.redirected for m in members)
    return {"run": run, "classes": args.classes, "students": args.students, "ttl_s": args.ttl,
            "rooms_per_node": rooms, "clients": len(members), "joins_redirected": redirected,
            "killed": doomed_name, "classes_moved": len({m.session_id for m in affected}),
            "clients_moved": len(affected),
            "rejoined_p50_s": round(statistics.median(rejoined), 2), "rejoined_max_s": round(rejoined[-1], 2),
            "attempts_max": max(m.attempts for m in affected),
            "back_p50_s": round(statistics.median(back), 2),
            "back_p95_s": round(back[max(0, int(len(back) * 0.95) - 1)], 2), "back_max_s": round(back[-1], 2)}


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'run':>3} {'rooms per node':>16} {'redirected':>10} {'moved':>11} {'rejoined p50':>12} {'max':>6} "
          f"{'tries':>5} {'back p50':>9} {'p95':>6} {'max':>6}  (s after kill -9; TTL {results[0]['ttl_s']:g} s)")
    for r in results:
        rooms = "/".join(str(v) for _, v in sorted(r["rooms_per_node"].items()))
        print(f"{r['run']:>3} {rooms:>16} {r['joins_redirected']:>4} of {r['clients']:<3} "
              f"{r['classes_moved']:>2} ({r['clients_moved']:>2}) {r['rejoined_p50_s']:>12.2f} {r['rejoined_max_s']:>6.2f} "
              f"{r['attempts_max']:>5} {r['back_p50_s']:>9.2f} "
              f"{r['back_p95_s']:>6.2f} {r['back_max_s']:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ttl", type=float, default=6.0, help="the nodes' heartbeat TTL, seconds (--node-ttl)")
    parser.add_argument("--json", default="benchmarks/results/fleet.json")
    args = parser.parse_args()
    args.started = datetime.now(timezone.utc).isoformat()
    logging.basicConfig(level=logging.WARNING)
    use_host_addresses((LOOPBACK,))
    results = [asyncio.run(one_run(args, run)) for run in range(1, args.runs + 1)]
    print_table(results)
    write_document("fleet", args, {"settings": {"classes": args.classes, "students": args.students,
                                                "ttl_s": args.ttl, "runs": args.runs}, "results": results})


if __name__ == "__main__":
    main()
