"""The dashboard's live feed: events as Server-Sent Events, read from a Redis stream with
XREAD BLOCK from the moment of connection.

Each SSE message's `id` is the stream entry id, so a browser that reconnects (EventSource
sends `Last-Event-ID`) resumes right after the last event it got. The first message,
`event: ready`, carries the position the feed starts from (also as its id: a reconnect before
any event still misses nothing). A comment line goes out every `heartbeat_s`, so proxies keep
the connection and a vanished client is noticed. `close()` ends every open feed (shutdown).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Optional

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from .api import error

logger = logging.getLogger(__name__)

ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
RETRY_MS = 2000


class EventFeed:
    def __init__(self, redis: aioredis.Redis, heartbeat_s: float = 15.0, block_ms: int = 1000) -> None:
        self._redis = redis
        self._heartbeat_s = heartbeat_s
        # Under the Redis client's socket timeout; also how soon a feed notices `close()`.
        self._block_ms = block_ms
        self._closing = asyncio.Event()

    def close(self) -> None:
        self._closing.set()

    async def _position_now(self, stream: str) -> str:
        """The id of the stream's newest entry: the feed sends what comes after it."""
        newest = await self._redis.xrevrange(stream, count=1)
        return newest[0][0].decode() if newest else "0-0"

    async def respond(self, request: web.Request, stream: str, types: Optional[frozenset[str]],
                      last_id: Optional[str]) -> web.StreamResponse:
        try:
            position = last_id or await self._position_now(stream)
        except (RedisError, OSError) as exc:
            refusal = error(503, "unavailable", f"the event bus cannot be reached: {exc}")
            refusal.headers["Retry-After"] = str(RETRY_MS // 1000)
            return refusal
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})  # nginx: do not buffer the stream
        await response.prepare(request)
        beat = asyncio.get_running_loop().time()
        try:
            await response.write(f"retry: {RETRY_MS}\nevent: ready\nid: {position}\n"
                                 f"data: {json.dumps({'position': position})}\n\n".encode())
            while not self._closing.is_set() and not _gone(request):
                try:
                    reply = await self._redis.xread({stream: position}, count=200, block=self._block_ms)
                except (RedisError, OSError) as exc:
                    logger.warning("dashboard feed: Redis unreachable (%s); retrying", exc)
                    await response.write(b": redis unreachable, retrying\n\n")
                    await asyncio.sleep(RETRY_MS / 1000)
                    continue
                for _, entries in reply:
                    for entry_id, fields in entries:
                        position = entry_id.decode()
                        raw = fields.get(b"event")
                        if raw is None or (types is not None and json.loads(raw)["type"] not in types):
                            continue
                        await response.write(b"id: " + entry_id + b"\ndata: " + raw + b"\n\n")
                now = asyncio.get_running_loop().time()
                if now - beat >= self._heartbeat_s:
                    beat = now
                    await response.write(b": heartbeat\n\n")
            if not _gone(request):
                await response.write_eof()
        except ConnectionResetError:
            pass  # the browser went away
        return response


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def parse_last_id(value: Optional[str]) -> Optional[str]:
    """A `Last-Event-ID` as the feed writes them (a stream entry id), or None if absent."""
    if not value:
        return None
    if not ENTRY_ID.match(value):
        raise ValueError("Last-Event-ID must be an event feed id such as 1718000000000-0")
    return value
