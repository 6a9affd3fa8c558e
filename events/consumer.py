"""EventConsumer: reads a stream through a consumer group, for downstream workers.

Each entry is handled, then acknowledged; one whose handler fails stays pending and is
retried. Entries a dead consumer left pending longer than `claim_idle_ms` are claimed by a
live one. Delivery is at least once: handlers must be idempotent by event id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .bus import GLOBAL_STREAM

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class EventConsumer:
    def __init__(
        self,
        redis: aioredis.Redis,
        group: str,
        consumer: str,
        stream: str = GLOBAL_STREAM,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1_000,
        batch: int = 50,
    ) -> None:
        self._redis = redis
        self.group = group
        self.consumer = consumer
        self.stream = stream
        self._claim_idle_ms = claim_idle_ms
        self._block_ms = block_ms
        self._batch = batch

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, handler: Handler, stop: asyncio.Event) -> None:
        await self.ensure_group()
        while not stop.is_set():
            await self.step(handler)

    async def step(self, handler: Handler) -> int:
        """Claim stale entries, then read new ones; handle each. Returns how many were handled."""
        claimed = await self._redis.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_time=self._claim_idle_ms,
            start_id="0-0", count=self._batch)
        entries: list[tuple[Any, Any]] = list(claimed[1])
        if not entries:
            response: Any = await self._redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=self._batch,
                block=self._block_ms)
            entries = [entry for _, stream_entries in response for entry in stream_entries]
        handled = 0
        for entry_id, fields in entries:
            if not fields:
                continue  # trimmed away while pending
            raw = fields.get(b"event") or fields.get("event")
            try:
                await handler(json.loads(raw))
            except Exception:
                logger.exception("handler failed on %s; it stays pending", entry_id)
                continue
            await self._redis.xack(self.stream, self.group, entry_id)
            handled += 1
        return handled
