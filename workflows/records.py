"""Student records: per student, every session with its attendance category, minutes present,
lateness, engagement and flags, and the student's risk level (workflows/risk.py). Kept in Redis
(`aula:student:{identity}`: session id → JSON; `aula:student:{identity}:risk`), written by the
workflow worker, read by `GET /api/students/{identity}`."""

from __future__ import annotations

import json
from typing import Any, Optional

import redis.asyncio as aioredis


def _key(identity: str) -> str:
    return f"aula:student:{identity}"


def _risk_key(identity: str) -> str:
    return f"aula:student:{identity}:risk"


class StudentRecords:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def merge(self, identity: str, session_id: str, fields: dict[str, Any],
                    flag: str | None = None) -> None:
        """Add what an event says to the student's line for the session (idempotent)."""
        key = _key(identity)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hget(key, session_id)
                    entry = json.loads(raw) if raw else {"session_id": session_id, "flags": []}
                    entry.update(fields)
                    if flag and flag not in entry["flags"]:
                        entry["flags"].append(flag)
                    pipe.multi()
                    pipe.hset(key, session_id, json.dumps(entry))
                    await pipe.execute()
                    return
                except aioredis.WatchError:
                    continue

    async def sessions(self, identity: str) -> list[dict[str, Any]]:
        entries = [json.loads(raw) for raw in (await self._redis.hgetall(_key(identity))).values()]
        return sorted(entries, key=lambda entry: entry.get("scheduled_start") or "")

    async def risk(self, identity: str) -> Optional[dict[str, Any]]:
        raw = await self._redis.get(_risk_key(identity))
        return json.loads(raw) if raw else None

    async def set_risk(self, identity: str, risk: dict[str, Any]) -> Optional[dict[str, Any]]:
        """Store the student's risk; returns the one it replaces."""
        previous = await self._redis.getset(_risk_key(identity), json.dumps(risk))
        return json.loads(previous) if previous else None
