"""The bus against a real redis-server the test owns, kills and restarts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from events import Event, EventType
from events.bus import GLOBAL_STREAM, EventBus, session_stream
from events.consumer import EventConsumer
from tests.conftest import RedisServer

SESSION = "ses_0123456789abcdef"


def signal(index: int) -> Event:
    return Event(EventType.ENGAGEMENT_SIGNAL, SESSION, {"signal": "reaction", "emoji": "👍", "n": index},
                 participant="sam")


async def stream_events(client: aioredis.Redis, stream: str) -> list[dict]:
    return [json.loads(fields[b"event"]) for _, fields in await client.xrange(stream)]


@pytest.fixture
async def own_redis(tmp_path: Path):
    server = RedisServer(tmp_path, persistent=True)
    server.start()
    client = aioredis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    yield server, client
    await client.aclose()
    server.kill()


async def test_an_event_lands_in_both_streams_and_the_session_log(own_redis, tmp_path):
    _, client = own_redis
    bus = EventBus(client, tmp_path / "data")
    event = signal(1)
    await bus.publish(event)
    assert await stream_events(client, GLOBAL_STREAM) == [event.envelope()]
    assert await stream_events(client, session_stream(SESSION)) == [event.envelope()]
    log = (tmp_path / "data" / "sessions" / SESSION / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in log] == [event.envelope()]


async def test_events_published_while_redis_is_down_arrive_in_order_without_duplicates(own_redis, tmp_path):
    server, client = own_redis
    bus = EventBus(client, tmp_path / "data")
    sent = [signal(i) for i in range(60)]
    for event in sent[:20]:
        await bus.publish(event)
    server.kill()
    for event in sent[20:40]:
        await bus.publish(event)  # must not raise, must not block the caller for long
    assert bus.pending
    server.start()
    for event in sent[40:]:
        await bus.publish(event)  # queued behind the outbox to keep the order
    for _ in range(100):
        if not bus.pending:
            break
        await asyncio.sleep(0.1)
    assert not bus.pending
    received = await stream_events(client, session_stream(SESSION))
    assert [e["id"] for e in received] == [e.id for e in sent]
    assert [e["data"]["n"] for e in await stream_events(client, GLOBAL_STREAM)] == list(range(60))
    await bus.close()


async def test_an_outbox_left_by_a_crash_is_replayed_at_the_next_start(own_redis, tmp_path):
    server, client = own_redis
    server.kill()
    first = EventBus(client, tmp_path / "data")
    for i in range(5):
        await first.publish(signal(i))
    await first.close()  # the process dies here; a new one starts with Redis back
    server.start()
    second = EventBus(client, tmp_path / "data")
    second.start()
    for _ in range(100):
        if not second.pending:
            break
        await asyncio.sleep(0.1)
    assert [e["data"]["n"] for e in await stream_events(client, session_stream(SESSION))] == [0, 1, 2, 3, 4]


async def test_a_consumer_group_shares_work_and_claims_what_a_dead_consumer_left(own_redis, tmp_path):
    _, client = own_redis
    bus = EventBus(client, tmp_path / "data")
    for i in range(6):
        await bus.publish(signal(i))
    seen: list[tuple[str, int]] = []

    def handler_for(name: str, fail: bool = False):
        async def handle(envelope: dict) -> None:
            if fail:
                raise RuntimeError("crashed before acknowledging")
            seen.append((name, envelope["data"]["n"]))
        return handle

    dying = EventConsumer(client, "workflows", "dying", claim_idle_ms=200, block_ms=100, batch=3)
    living = EventConsumer(client, "workflows", "living", claim_idle_ms=200, block_ms=100, batch=3)
    await dying.ensure_group()
    assert await dying.step(handler_for("dying", fail=True)) == 0  # read 3, acknowledged none
    assert await living.step(handler_for("living")) == 3  # the other 3
    await asyncio.sleep(0.3)
    assert await living.step(handler_for("living")) == 3  # claims the dead consumer's 3
    assert sorted(n for _, n in seen) == [0, 1, 2, 3, 4, 5]
    pending = await client.xpending(GLOBAL_STREAM, "workflows")
    assert pending["pending"] == 0
