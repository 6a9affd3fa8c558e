"""Two `aula serve` nodes on one redis-server, as one fleet: any node answers, each room lives on
one node, and a join that reaches the other node is sent there, with the same token."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

from client import ClientOptions, RtcClient
from server.context import CONTEXT
from tests.conftest import AulaServer, RedisServer, free_port, loopback_settings, running_aula
from tests.server.test_dashboard_api import ops_token
from tests.synthetic import ColourTrack, ToneTrack


@contextlib.asynccontextmanager
async def fleet_of_two(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[tuple[AulaServer, AulaServer]]:
    fleet = f"two-{free_port()}"
    async with running_aula(loopback_settings(redis_server.url, tmp_path / "a", fleet_name=fleet,
                                              node_name="node-a")) as a:
        async with running_aula(loopback_settings(redis_server.url, tmp_path / "b", fleet_name=fleet,
                                                  node_name="node-b")) as b:
            yield a, b


async def get(server: AulaServer, path: str, **options: Any) -> Any:
    async with server.http.get(server.base_url + path, headers=server.headers, **options) as response:
        return response.status, response.headers, await response.json() if response.content_type == "application/json" else None


async def joined_via(server: AulaServer, token_from: AulaServer, session_id: str, identity: str,
                     **options: Any) -> RtcClient:
    token = await token_from.token(session_id, identity, role=options.pop("role", "student"))
    client = RtcClient(server.base_url, token["token"], options.pop("publish", None), ClientOptions(decode=False))
    await client.connect()
    return client


async def test_a_join_that_reaches_the_other_node_is_sent_to_the_rooms_node(redis_server, tmp_path):
    async with fleet_of_two(redis_server, tmp_path) as (a, b):
        session = await a.create_session()
        teacher = await joined_via(b, a, session["id"], "rivera", role="instructor",
                                   publish={"microphone": ToneTrack(440), "camera": ColourTrack((200, 40, 40))})
        student = await joined_via(a, a, session["id"], "sam")
        try:
            assert teacher.redirects == []  # a tie goes to the node asked: b
            assert [(r["node"], r["url"]) for r in student.redirects] == [
                ("node-b", b.base_url.replace("http", "ws") + "/api/rtc")]
            await student.wait_for_tracks(2)
            assert set(b.sfu.rooms) == {session["id"]} and a.sfu.rooms == {}
            status, _, detail = await get(a, f"/api/sessions/{session['id']}")
            assert (status, detail["node"], detail["room"]) == (200, "node-b", None)  # a answers for b's room
            status, headers, _ = await get(a, f"/join/{session['id']}?token=t", allow_redirects=False)
            assert (status, headers["Location"]) == (307, f"{b.base_url}/join/{session['id']}?token=t")
            ended = await a.end_session(session["id"])  # asked of a: b ends it, b's room closes
            assert ended["ended_at"] is not None and b.sfu.rooms == {}
            assert await asyncio.wait_for(student.closed, 5) is not None
        finally:
            await student.close()
            await teacher.close()
        status, _, detail = await get(b, f"/api/sessions/{session['id']}")
        assert detail["node"] is None  # released with the class
        events = await b.session_events(session["id"])
        assert [e["type"] for e in events][-2:] == ["attendance.summary", "session.ended"]


async def test_classes_spread_over_the_nodes_and_a_draining_node_takes_no_new_one(redis_server, tmp_path):
    async with fleet_of_two(redis_server, tmp_path) as (a, b):
        sessions = [await a.create_session() for _ in range(4)]
        clients = [await joined_via(a, a, s["id"], "rivera", role="instructor") for s in sessions]
        try:
            assert (len(a.sfu.rooms), len(b.sfu.rooms)) == (2, 2)
            status, _, nodes = await get(b, "/api/nodes")
            assert status == 200
            assert sorted((n["name"], n["state"], n["accepting"]) for n in nodes) == [
                ("node-a", "active", True), ("node-b", "active", True)]
            async with b.http.post(f"{a.base_url}/api/nodes/node-b/drain", headers=a.headers) as response:
                assert response.status == 409 and b.base_url in (await response.json())["error"]["message"]
            async with b.http.post(f"{b.base_url}/api/nodes/node-b/drain", headers=b.headers) as response:
                assert (await response.json())["state"] == "draining"
            later = [await a.create_session() for _ in range(2)]
            clients += [await joined_via(b, b, s["id"], "rivera", role="instructor") for s in later]
            assert {s["id"] for s in later} <= set(a.sfu.rooms)
            assert len(b.sfu.rooms) == 2  # its classes go on
        finally:
            for client in clients:
                await client.close()


async def test_the_node_list_needs_the_api_key_or_an_ops_token(redis_server, tmp_path):
    async with running_aula(loopback_settings(redis_server.url, tmp_path / "a")) as a:
        async with a.http.get(f"{a.base_url}/api/nodes") as response:
            assert response.status == 401
        ops = await ops_token(a)
        async with a.http.get(f"{a.base_url}/api/nodes", headers={"Authorization": f"Bearer {ops}"}) as response:
            assert response.status == 200 and len(await response.json()) == 1


async def test_a_node_that_finds_its_room_placed_elsewhere_closes_it_here(redis_server, tmp_path):
    """As after its loop stalled past the TTL and a join re-placed the room: one room per class."""
    async with fleet_of_two(redis_server, tmp_path) as (a, b):
        session = await a.create_session()
        student = await joined_via(b, b, session["id"], "sam")
        try:
            hosting = b.app[CONTEXT].hosting
            await b.app[CONTEXT].redis.set(hosting.keys.room(session["id"]), "node-a")
            await asyncio.wait_for(student.closed, hosting.registry.ttl_s)
            for _ in range(50):  # the socket ends before the room has finished closing
                if session["id"] not in b.sfu.rooms:
                    break
                await asyncio.sleep(0.05)
            assert session["id"] not in b.sfu.rooms
            left = [m for m in student.messages if m["type"] == "participant_left" and m["identity"] == "sam"]
            assert [m["reason"] for m in left] == ["room_moved"]
        finally:
            await student.close()


async def test_a_drain_deadline_moves_the_classes_still_running_to_another_node(redis_server, tmp_path):
    async with fleet_of_two(redis_server, tmp_path) as (a, b):
        session = await a.create_session()
        student = await joined_via(b, b, session["id"], "sam")
        try:
            async with b.http.post(f"{b.base_url}/api/nodes/node-b/drain", headers=b.headers,
                                   json={"deadline_s": "soon"}) as response:
                assert response.status == 400
            async with b.http.post(f"{b.base_url}/api/nodes/node-b/drain", headers=b.headers,
                                   json={"deadline_s": 0.5}) as response:
                assert (await response.json())["deadline_s"] == 0.5
            hosting = b.app[CONTEXT].hosting
            await asyncio.wait_for(hosting.drained.wait(), 5)
            assert b.sfu.rooms == {}
            assert await asyncio.wait_for(student.closed, 5) is not None
        finally:
            await student.close()
        back = await joined_via(b, b, session["id"], "sam")  # as the page's reconnect does
        try:
            assert [r["node"] for r in back.redirects] == ["node-a"]
            assert set(a.sfu.rooms[session["id"]].participants) == {"sam"}
        finally:
            await back.close()
