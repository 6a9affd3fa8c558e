"""The no-show check: a durable timer fires `no_show_after_s` after a session's scheduled start,
on whichever node holds the timers, whether or not anyone opened the room, and publishes one
attendance.no_show per missing student (once: a second check finds them marked)."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from engagement.attendance_store import AttendanceStore
from engagement.no_show import no_show_payload, no_shows
from events import Event
from events.bus import EventBus
from sessions import SessionStore


class NoShowCheck:
    def __init__(self, sessions: SessionStore, bus: EventBus, redis: aioredis.Redis) -> None:
        self._sessions = sessions
        self._bus = bus
        self._redis = redis

    async def __call__(self, payload: dict[str, Any]) -> None:
        session = await self._sessions.get(payload["session_id"])
        if session is None or session.ended:
            return
        store = AttendanceStore(self._redis, session.id)
        missing = no_shows(session.roster, await store.all(), await store.excused())
        now = time.time()
        for entry in missing:
            if await store.mark_no_show(entry.identity):
                await self._bus.publish(Event.of(no_show_payload(session, entry), session.id, entry.identity, now))
