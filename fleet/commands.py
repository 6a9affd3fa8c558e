"""Requests to the node that hosts a room — end this class, start its recording — from any other
node (the API, a timer, an instructor's socket can each land anywhere). One Redis stream per
node, read by that node alone; each answer comes back on a list of its own."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any, Awaitable, Callable, Optional, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .nodes import FleetKeys

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
# Under the Redis client's socket timeout (2 s): a blocking read must return before it.
BLOCK_MS = 1000
REPLY_TTL_S = 60


class NodeUnreachable(Exception):
    """The node did not answer in time (it died, or its loop is stuck)."""


class NodeCommands:
    def __init__(self, redis: aioredis.Redis, keys: FleetKeys, name: str) -> None:
        self._redis = redis
        self._keys = keys
        self._name = name
        self._task: Optional[asyncio.Task[None]] = None

    async def send(self, node: str, command: dict[str, Any], timeout_s: float = 15.0) -> dict[str, Any]:
        """`command` run by `node`'s handler; its answer."""
        reply_key = self._keys.prefix + "reply:" + secrets.token_hex(8)
        await self._redis.xadd(self._keys.prefix + "commands:" + node,
                               {"command": json.dumps(command), "reply": reply_key, "from": self._name},
                               maxlen=1000, approximate=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            answer = await self._redis.blpop([reply_key], timeout=BLOCK_MS / 1000)
            if answer is not None:
                return cast(dict[str, Any], json.loads(answer[1]))
        raise NodeUnreachable(f"node {node} did not answer {command} within {timeout_s:g} s")

    def start(self, handler: Handler) -> None:
        self._task = asyncio.ensure_future(self._serve(handler))

    async def close(self) -> None:
        """Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _serve(self, handler: Handler) -> None:
        stream = self._keys.prefix + "commands:" + self._name
        last = "$"  # what was sent while this node was down has timed out at its sender
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():
            try:
                read = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],
                            await self._redis.xread({stream: last}, block=BLOCK_MS, count=10))
            except (RedisError, OSError) as exc:
                logger.warning("fleet: cannot read this node's commands (%s)", exc)
                await asyncio.sleep(1.0)
                continue
            for _, entries in read or []:
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    await self._answer(handler, fields)

    async def _answer(self, handler: Handler, fields: dict[bytes, bytes]) -> None:
        command = json.loads(fields[b"command"])
        try:
            answer = await handler(command)
        except Exception as exc:
            logger.exception("fleet: command %s from %s failed", command, fields[b"from"].decode())
            answer = {"error": str(exc) or type(exc).__name__}
        reply_key = fields[b"reply"].decode()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(reply_key, json.dumps(answer))
            pipe.expire(reply_key, REPLY_TTL_S)
            await pipe.execute()
