"""Nodes and room placement on a real redis-server: balance, races, a dead node, draining."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
import redis.asyncio as aioredis

from fleet import NodeLoad, NodeRegistry, NodeState, NoNodeAvailable, RoomPlacement
from fleet.nodes import list_nodes
from tests.conftest import RedisServer


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    # A database of its own: the servers other tests start register nodes in database 0.
    client = aioredis.from_url(redis_server.url.rsplit("/", 1)[0] + "/7")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def node(redis: aioredis.Redis, name: str, participants: int = 0, ttl_s: float = 10.0,
         max_participants: int | None = None) -> NodeRegistry:
    return NodeRegistry(redis, name, f"http://127.0.0.1:{9000 + len(name)}/{name}",
                        lambda: NodeLoad(participants=participants), ttl_s, max_participants)


async def test_rooms_spread_evenly_and_each_session_stays_where_it_was_placed(redis):
    a, b = node(redis, "a"), node(redis, "b")
    await a.heartbeat()
    await b.heartbeat()
    placement = RoomPlacement(redis)
    hosts = [await placement.place(f"ses_{n}") for n in range(10)]
    assert sorted(hosts.count(name) for name in "ab") == [5, 5]
    assert [await placement.place(f"ses_{n}") for n in range(10)] == hosts
    assert await placement.rooms_of("a") == {f"ses_{n}" for n, h in enumerate(hosts) if h == "a"}


async def test_two_nodes_racing_to_host_one_room_get_one_answer(redis):
    nodes = [node(redis, name) for name in ("a", "b", "c")]
    for each in nodes:
        await each.heartbeat()
    placement = RoomPlacement(redis)
    answers = await asyncio.gather(*(placement.place("ses_race", preferred=n.name) for n in nodes * 10))
    assert len(set(answers)) == 1
    assert [len(await placement.rooms_of(n.name)) for n in nodes].count(1) == 1


async def test_a_dead_nodes_rooms_go_to_a_live_node_once_its_entry_expires(redis):
    dead, alive = node(redis, "dead", ttl_s=1.0), node(redis, "alive", participants=40)
    await dead.heartbeat()
    await alive.heartbeat()
    placement = RoomPlacement(redis)
    assert await placement.place("ses_1") == "dead"  # fewer participants
    await asyncio.sleep(1.2)  # no more heartbeats: as after kill -9
    assert [n.name for n in await list_nodes(redis)] == ["alive"]
    assert await placement.place("ses_1") == "alive"
    assert await placement.rooms_of("dead") == set()


async def test_a_draining_or_full_node_keeps_its_rooms_and_takes_no_new_one(redis):
    draining, full = node(redis, "draining"), node(redis, "full", participants=5, max_participants=5)
    await draining.heartbeat()
    await full.heartbeat()
    placement = RoomPlacement(redis)
    assert await placement.place("ses_old") == "draining"
    info = await draining.drain()
    assert info.state is NodeState.DRAINING and not info.accepting
    assert await placement.place("ses_old") == "draining"
    with pytest.raises(NoNodeAvailable, match="draining, full or gone"):
        await placement.place("ses_new")


async def test_only_the_host_releases_a_room(redis):
    a = node(redis, "a")
    await a.heartbeat()
    placement = RoomPlacement(redis)
    await placement.place("ses_1")
    assert not await placement.release("ses_1", "b")
    assert await placement.host("ses_1") == "a"
    assert await placement.release("ses_1", "a")
    assert await placement.host("ses_1") is None and await placement.rooms_of("a") == set()


async def test_a_node_that_stops_leaves_the_fleet_at_once(redis):
    a = node(redis, "a")
    a.start()
    for _ in range(50):
        if await list_nodes(redis):
            break
        await asyncio.sleep(0.02)
    assert [(n.name, n.state, n.url) for n in await list_nodes(redis)] == [
        ("a", NodeState.ACTIVE, "http://127.0.0.1:9001/a")]
    await a.close()
    await a.close()
    assert await list_nodes(redis) == []


def test_a_heartbeat_ttl_outside_one_to_sixty_seconds_is_refused(redis):
    with pytest.raises(ValueError, match="TTL"):
        node(redis, "a", ttl_s=0.1)
