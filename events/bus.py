"""EventBus: the one way events are published (docs/events.md)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Optional

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .event import Event
from .outbox import Outbox

logger = logging.getLogger(__name__)

GLOBAL_STREAM = "aula:events"
SESSION_STREAM = "aula:session:{}:events"
GLOBAL_MAX_LEN = 1_000_000
REPLAY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


def session_stream(session_id: str) -> str:
    return SESSION_STREAM.format(session_id)


class EventBus:
    """Writes each event to its session's events.jsonl, then to Redis Streams; while Redis
    cannot be reached, to the outbox, replayed in order when it can. Order is kept: once
    anything waits in the outbox, new events queue behind it."""

    def __init__(self, redis: aioredis.Redis, data_dir: Path) -> None:
        self._redis = redis
        self._sessions_dir = data_dir / "sessions"
        self._outbox = Outbox(data_dir / "outbox")
        self._lock = asyncio.Lock()
        self._replay_task: Optional[asyncio.Task[None]] = None
        self.published = 0
        self.outboxed = 0

    def start(self) -> None:
        """Replay what a previous run left in the outbox."""
        if self._outbox.has_pending():
            self._start_replay()

    async def publish(self, event: Event) -> None:
        line = event.to_json()
        self._append_to_session_log(event.session_id, line)
        async with self._lock:
            if not self._outbox.has_pending() and await self._send(line):
                self.published += 1
                return
            self._outbox.append(line)
            self.outboxed += 1
            self._start_replay()

    @property
    def pending(self) -> bool:
        return self._outbox.has_pending()

    def session_log(self, session_id: str) -> Path:
        """`<data-dir>/sessions/{id}/events.jsonl`: every event of the session, one per line."""
        return self._sessions_dir / session_id / "events.jsonl"

    def _append_to_session_log(self, session_id: str, line: str) -> None:
        log = self.session_log(session_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as file:
            file.write(line + "\n")

    async def _send(self, line: str) -> bool:
        session_id = json.loads(line)["session_id"]
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(GLOBAL_STREAM, {"event": line}, maxlen=GLOBAL_MAX_LEN, approximate=True)
                pipe.xadd(session_stream(session_id), {"event": line})
                await pipe.execute()
            return True
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            logger.warning("Redis unreachable (%s): events go to the outbox", exc)
            return False

    def _start_replay(self) -> None:
        if self._replay_task is None or self._replay_task.done():
            self._replay_task = asyncio.ensure_future(self._replay())

    async def _replay(self) -> None:
        attempt = 0
        task = asyncio.current_task()
        assert task is not None
        # Not `while True`: redis-py may turn a cancellation into a failed send (Redis "down").
        while not task.cancelling():
            async with self._lock:
                batch = self._outbox.pending()
                if not batch:
                    return
                for cursor, line in batch:
                    if not await self._send(line):
                        break
                    self._outbox.mark_sent(cursor)
                    self.published += 1
                    attempt = 0
                else:
                    continue
            await asyncio.sleep(REPLAY_BACKOFF_S[min(attempt, len(REPLAY_BACKOFF_S) - 1)])
            attempt += 1

    async def close(self) -> None:
        """Give a pending replay a moment; what is left stays in the outbox for next time."""
        if self._replay_task is not None and not self._replay_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._replay_task), 2)
            except asyncio.TimeoutError:
                self._replay_task.cancel()
