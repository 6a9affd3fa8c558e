"""Timers that outlive the process: a Redis sorted set of due times.

A session's no-show check and automatic end must fire even if nobody opens the room and even
across a restart. Each timer is a member of `aula:timers` scored by its due time; whichever
node removes it first (ZREM returns 1) runs it, so several nodes can share the set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

TIMERS_KEY = "aula:timers"
POLL_INTERVAL_S = 0.25
RETRY_AFTER_S = 5.0

TimerHandler = Callable[[dict[str, Any]], Awaitable[None]]


class DurableTimers:
    def __init__(self, redis: aioredis.Redis, handlers: dict[str, TimerHandler],
                 poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self._redis = redis
        self._handlers = handlers
        self._poll_interval_s = poll_interval_s
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _member(kind: str, payload: dict[str, Any]) -> str:
        return json.dumps({"kind": kind, "payload": payload}, sort_keys=True)

    async def schedule(self, kind: str, due: float, payload: dict[str, Any]) -> None:
        """Idempotent: the same kind and payload is one timer (re-scheduling moves it)."""
        await self._redis.zadd(TIMERS_KEY, {self._member(kind, payload): due})

    async def cancel(self, kind: str, payload: dict[str, Any]) -> None:
        await self._redis.zrem(TIMERS_KEY, self._member(kind, payload))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        # Not `while True`: redis-py can turn a cancellation that lands inside a command into
        # a connection error, which the loop would log and carry on from, forever.
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():
            try:
                await self.fire_due()
            except (RedisError, OSError) as exc:
                logger.warning("timers: Redis unreachable (%s)", exc)
            await asyncio.sleep(self._poll_interval_s)

    async def fire_due(self, now: float | None = None) -> int:
        due = cast(list[bytes], await self._redis.zrangebyscore(TIMERS_KEY, 0, now or time.time(), start=0, num=50))
        fired = 0
        for member in due:
            if not await self._redis.zrem(TIMERS_KEY, member):
                continue  # another node took it
            timer = json.loads(member)
            handler = self._handlers.get(timer["kind"])
            if handler is None:
                logger.error("timers: no handler for %s", timer["kind"])
                continue
            try:
                await handler(timer["payload"])
                fired += 1
            except Exception:
                logger.exception("timer %s failed; retrying in %s s", timer["kind"], RETRY_AFTER_S)
                await self.schedule(timer["kind"], time.time() + RETRY_AFTER_S, timer["payload"])
        return fired

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
