"""The dashboard's index: reads `aula:events` through the consumer group `dashboard` and keeps
what the dashboard shows in Redis (flags, each live session's latest engagement), so any node's
dashboard reads the same and a page load reads small keys instead of the streams.

Every `aula serve` node runs one consumer; the group shares the events. The index carries on
through Redis restarts: what was not acknowledged comes back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from events.consumer import EventConsumer

from .engagement import LiveEngagement
from .flags import FlagIndex

logger = logging.getLogger(__name__)

GROUP = "dashboard"
RETRY_S = 1.0


class DashboardIndex:
    def __init__(self, redis: aioredis.Redis, consumer: str) -> None:
        self.consumer = EventConsumer(redis, GROUP, consumer)
        self.flags = FlagIndex(redis)
        self.engagement = LiveEngagement(redis)
        self._stop = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.consumer.run(self.handle, self._stop)
            except (RedisError, OSError) as exc:
                logger.warning("dashboard index: Redis unreachable (%s); resuming when it is back", exc)
                try:
                    await asyncio.wait_for(self._stop.wait(), RETRY_S)
                except asyncio.TimeoutError:
                    pass

    async def close(self) -> None:
        """At once: the read in progress is cancelled (what it held stays pending and comes back)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def handle(self, event: dict[str, Any]) -> None:
        try:
            if event["type"] == "engagement.snapshot":
                await self.engagement.record(event)
            else:
                await self.flags.index(event)
        except (KeyError, TypeError, ValueError) as exc:
            # Not retried: a malformed event stays malformed (the consumer acknowledges it).
            logger.warning("dashboard index: event %s skipped: %r", event.get("id"), exc)
