"""Each live session's latest engagement.snapshot per participant, kept in Redis by the
dashboard's index, so the sessions overview reads a few small hashes instead of the streams."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

from events.event import parse_iso

LATEST_KEY = "aula:dashboard:session:{}:engagement"  # identity → {id, ts, ...snapshot data}
# A session's hash outlives its class by a day, then goes.
TTL_S = 86400
# A snapshot older than this many snapshot intervals is someone who left: not live any more.
LIVE_INTERVALS = 2.5


class LiveEngagement:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def record(self, event: dict[str, Any]) -> None:
        """Keep an engagement.snapshot if it is the participant's newest (redeliveries and
        replays arrive late; event ids sort in the order events were made)."""
        key = LATEST_KEY.format(event["session_id"])
        current = await self._redis.hget(key, event["participant"])
        if current and json.loads(current)["id"] >= event["id"]:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, event["participant"], json.dumps({"id": event["id"], "ts": event["ts"], **event["data"]}))
            pipe.expire(key, TTL_S)
            await pipe.execute()

    async def latest(self, session_ids: list[str], interval_s: float) -> dict[str, dict[str, dict[str, Any]]]:
        """Per session, each participant's snapshot of the last intervals; one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.hgetall(LATEST_KEY.format(session_id))
            replies = await pipe.execute()
        since = time.time() - LIVE_INTERVALS * interval_s
        latest: dict[str, dict[str, dict[str, Any]]] = {}
        for session_id, raw in zip(session_ids, replies):
            snapshots = (json.loads(value) for value in raw.values())
            latest[session_id] = {identity.decode(): snapshot for identity, snapshot in zip(raw, snapshots)
                                  if parse_iso(snapshot["ts"]) >= since}
        return latest
