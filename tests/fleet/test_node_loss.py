"""Two real `aula serve` processes on one redis-server; one is killed with -9 mid-class. Within
its heartbeat TTL the class's room is placed on the survivor by the next join, and the class
goes on there: the instructor's media reaches a student again and the session ends normally."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from client import ClientOptions, RtcClient
from media.aiortc.host_addresses import use_host_addresses
from tests.conftest import LOOPBACK, RedisServer, free_port, iso
from tests.server.test_cli import wait_for_health
from tests.synthetic import ColourTrack, ToneTrack

ROOT = Path(__file__).resolve().parents[2]
TTL_S = 2


def start_node(redis_server: RedisServer, fleet: str, name: str, tmp_path: Path,
               *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", LOOPBACK, "--port", str(port), "--redis-url", redis_server.url,
         "--api-key", "k", "--secret", "a-fleet-secret-long-enough-for-hs256", "--data-dir", str(tmp_path / name),
         "--ice-addresses", LOOPBACK, "--ice-allowed-networks", "127.0.0.0/8", "--no-worker",
         "--fleet", fleet, "--node-name", name, "--node-ttl", str(TTL_S), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    wait_for_health(port, process)
    return process, port


def api(port: int, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def join(port: int, session_id: str, identity: str, role: str = "student", publish: Any = None) -> RtcClient:
    token = await asyncio.to_thread(api, port, f"/api/sessions/{session_id}/tokens",
                                    {"identity": identity, "name": identity.title(), "role": role})
    client = RtcClient(f"http://{LOOPBACK}:{port}", token["token"], publish, ClientOptions(decode=False))
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


@pytest.fixture
def loopback_candidates() -> Iterator[None]:
    """This process's clients offer loopback candidates only (the servers are other processes)."""
    use_host_addresses((LOOPBACK,))
    yield
    use_host_addresses(())


async def test_a_killed_nodes_class_goes_on_on_the_survivor(redis_server: RedisServer, tmp_path: Path,
                                                            loopback_candidates: None) -> None:
    fleet = f"loss-{free_port()}"
    survivor, survivor_port = start_node(redis_server, fleet, "survivor", tmp_path)
    doomed, doomed_port = start_node(redis_server, fleet, "doomed", tmp_path)
    clients: list[RtcClient] = []
    try:
        session = await asyncio.to_thread(api, survivor_port, "/api/sessions", {
            "title": "Biology", "scheduled_start": iso(), "scheduled_end": iso(3600), "roster": [],
            "instructors": ["rivera"]})
        teacher = await join(doomed_port, session["id"], "rivera", "instructor",
                             {"microphone": ToneTrack(440), "camera": ColourTrack((30, 160, 60))})
        clients.append(teacher)
        assert (await asyncio.to_thread(api, survivor_port, f"/api/sessions/{session['id']}"))["node"] == "doomed"

        doomed.kill()
        doomed.wait()
        killed_at = time.monotonic()
        await teacher.close()
        # The survivor places the room on itself once the dead node's entry has expired: until
        # then a join is sent to the dead node, and a client tries again, as a browser does.
        while True:
            try:
                teacher = await join(survivor_port, session["id"], "rivera", "instructor",
                                     {"microphone": ToneTrack(440), "camera": ColourTrack((30, 160, 60))})
                break
            except Exception:
                assert time.monotonic() - killed_at < TTL_S + 10, "the room never moved to the survivor"
                await asyncio.sleep(0.5)
        clients.append(teacher)
        student = await join(survivor_port, session["id"], "sam")
        clients.append(student)
        await student.wait_for_tracks(2)
        moved_in = time.monotonic() - killed_at
        nodes = await asyncio.to_thread(api, survivor_port, "/api/nodes")
        assert [n["name"] for n in nodes] == ["survivor"]
        assert (await asyncio.to_thread(api, survivor_port, f"/api/sessions/{session['id']}"))["node"] == "survivor"
        assert moved_in < TTL_S + 10
        ended = await asyncio.to_thread(api, survivor_port, f"/api/sessions/{session['id']}/end", {})
        assert ended["ended_at"] is not None
    finally:
        for client in clients:
            await client.close()
        for process in (survivor, doomed):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


async def test_a_drained_node_exits_0_once_its_classes_are_gone(redis_server: RedisServer, tmp_path: Path) -> None:
    node, port = start_node(redis_server, f"drain-{free_port()}", "upgrading", tmp_path)
    try:
        drained = await asyncio.to_thread(api, port, "/api/nodes/upgrading/drain", {"deadline_s": 0})
        assert drained["state"] == "draining"
        assert await asyncio.to_thread(node.wait, 20) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


async def test_sigterm_with_a_grace_drains_the_node_then_it_exits_0(redis_server: RedisServer, tmp_path: Path,
                                                                   loopback_candidates: None) -> None:
    node, port = start_node(redis_server, f"term-{free_port()}", "rolling", tmp_path, "--drain-grace", "1")
    try:
        session = await asyncio.to_thread(api, port, "/api/sessions", {
            "title": "Chemistry", "scheduled_start": iso(), "scheduled_end": iso(3600), "roster": []})
        student = await join(port, session["id"], "sam")
        node.terminate()
        await asyncio.sleep(0.5)  # within the grace: the class goes on, the node takes no new room
        nodes = await asyncio.to_thread(api, port, "/api/nodes")
        assert [(n["state"], n["accepting"]) for n in nodes] == [("draining", False)]
        assert await asyncio.wait_for(student.closed, 10) is not None
        left = [m["reason"] for m in student.messages if m["type"] == "participant_left" and m["identity"] == "sam"]
        assert left == ["server_shutdown"]  # the page reconnects, to another node
        await student.close()
        assert await asyncio.to_thread(node.wait, 20) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
