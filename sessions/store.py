"""SessionStore: the sessions in Redis, so every node and worker reads the same."""

from __future__ import annotations

import json
from typing import Optional, cast

import redis.asyncio as aioredis

from events.event import parse_iso

from .session import Session

SESSION_KEY = "aula:session:{}"
SESSIONS_INDEX = "aula:sessions"


class SessionStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def save(self, session: Session) -> None:
        start = parse_iso(session.scheduled_start)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(SESSION_KEY.format(session.id), json.dumps(session.to_dict()))
            pipe.zadd(SESSIONS_INDEX, {session.id: start})
            await pipe.execute()

    async def get(self, session_id: str) -> Optional[Session]:
        raw = await self._redis.get(SESSION_KEY.format(session_id))
        return Session.from_dict(json.loads(raw)) if raw else None

    async def list(self, limit: int = 200) -> list[Session]:
        ids = cast(list[bytes], await self._redis.zrevrange(SESSIONS_INDEX, 0, limit - 1))
        sessions = [await self.get(i.decode()) for i in ids]
        return [s for s in sessions if s is not None]
