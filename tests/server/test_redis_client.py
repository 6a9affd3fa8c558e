"""The server's Redis client: a class joining at once shares a bounded pool of connections."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from server.app import redis_client
from tests.conftest import RedisServer


async def connected_clients(observer: aioredis.Redis) -> int:
    return int((await observer.info("clients"))["connected_clients"])


async def test_a_burst_of_calls_waits_for_a_pooled_connection_instead_of_opening_more(
        redis_server: RedisServer) -> None:
    client = redis_client(redis_server.url, max_connections=4)
    observer = aioredis.Redis.from_url(redis_server.url)
    try:
        baseline = await connected_clients(observer)
        # 20 calls that each hold a connection for 0.2 s: with 4 connections, five rounds.
        burst = asyncio.gather(*(client.blpop([f"nothing-{i}"], timeout=0.2) for i in range(20)))
        most = 0
        while not burst.done():
            most = max(most, await connected_clients(observer) - baseline)
            await asyncio.sleep(0.02)
        assert await burst == [None] * 20  # none failed: they waited their turn
        assert most == 4
    finally:
        await client.aclose()
        await observer.aclose()
