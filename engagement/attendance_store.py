"""Attendance records in Redis, so they survive restarts and every node sees them."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from engagement.attendance import AttendanceRecord

RECORDS_KEY = "aula:session:{}:attendance"
NO_SHOWS_KEY = "aula:session:{}:no_shows"
EXCUSED_KEY = "aula:session:{}:excused"


class AttendanceStore:
    def __init__(self, redis: aioredis.Redis, session_id: str) -> None:
        self._redis = redis
        self._records_key = RECORDS_KEY.format(session_id)
        self._no_shows_key = NO_SHOWS_KEY.format(session_id)
        self._excused_key = EXCUSED_KEY.format(session_id)

    async def get(self, identity: str) -> AttendanceRecord | None:
        raw = await self._redis.hget(self._records_key, identity)
        return AttendanceRecord.from_dict(json.loads(raw)) if raw else None

    async def save(self, record: AttendanceRecord) -> None:
        await self._redis.hset(self._records_key, record.identity, json.dumps(record.to_dict()))

    async def all(self) -> dict[str, AttendanceRecord]:
        raw = await self._redis.hgetall(self._records_key)
        records = (AttendanceRecord.from_dict(json.loads(value)) for value in raw.values())
        return {record.identity: record for record in records}

    async def mark_no_show(self, identity: str) -> bool:
        """True the first time only: a no-show is reported once, whichever node checks."""
        return bool(await self._redis.sadd(self._no_shows_key, identity))

    async def excuse(self, identity: str) -> None:
        await self._redis.sadd(self._excused_key, identity)

    async def excused(self) -> set[str]:
        return {i.decode() if isinstance(i, bytes) else i
                for i in await self._redis.smembers(self._excused_key)}
