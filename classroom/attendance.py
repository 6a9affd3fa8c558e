"""Attendance as the class runs: each join and leave written to the student's record in Redis
and published (participant.joined / participant.left, attendance.late), in the order they
happened; a network drop is a leave from the moment the connection went silent."""

from __future__ import annotations

import time
from typing import Any, cast

import redis.asyncio as aioredis

from engagement.attendance import AttendanceRecord, attendance_policy, attendance_summary
from engagement.attendance_store import AttendanceStore
from events import Event
from events.event import iso, new_event_id
from events.types import AttendanceLate, AttendanceSummary, ParticipantJoined, ParticipantLeft
from events.types.participant import LeaveReason
from media import Participant

from .context import ClassContext


class Attendance:
    def __init__(self, context: ClassContext, redis: aioredis.Redis) -> None:
        self._context = context
        self.policy = attendance_policy(context.session)
        self.store = AttendanceStore(redis, context.session.id)

    def joined(self, participant: Participant, rejoin: bool) -> None:
        if participant.connectivity.lost:
            return  # back from a network drop: present again once its media is (restored)
        self._enter(participant, rejoin, time.time())

    def restored(self, participant: Participant) -> None:
        self._enter(participant, True, time.time())

    def left(self, participant: Participant, reason: str) -> None:
        if participant.connectivity.lost:
            return  # its leave was recorded when its network went (lost)
        # A connection that went silent before its socket closed (or before the client
        # reconnected, replacing it) left when it went silent: its network dropped.
        now = time.time()
        silent_since = participant.connectivity.absent_since(now)
        if silent_since is not None and reason == "replaced":
            reason = "connection_lost"
        self._leave(participant, reason, silent_since or now)

    def lost(self, participant: Participant) -> None:
        self._leave(participant, "connection_lost", participant.connectivity.lost_since or time.time())

    async def summary(self, now: float) -> AttendanceSummary:
        """The attendance.summary payload: every roster entry and guest, categorised."""
        roster = [(entry.identity, entry.name) for entry in self._context.session.roster]
        return attendance_summary(await self.store.all(), roster, self.policy, now,
                         frozenset(await self.store.excused()))

    def _enter(self, participant: Participant, rejoin: bool, now: float) -> None:
        # The id now: events emitted while the job waits on Redis must sort after this one.
        event_id = new_event_id(now)
        self._context.queue(lambda: self._record_join(participant, rejoin, now, event_id))

    async def _record_join(self, participant: Participant, rejoin: bool, now: float, event_id: str) -> None:
        session_id = self._context.session.id
        record = await self.store.get(participant.identity) or AttendanceRecord(
            participant.identity, participant.name, participant.role.value)
        first = record.first_join is None
        # A rejoin is per person, not per room: after a restart the room is new, the record is not.
        rejoin = record.join(now) or rejoin
        await self.store.save(record)
        await self._context.bus.publish(Event.of(ParticipantJoined(
            name=participant.name, role=participant.role.value,
            participant_sid=participant.sid, rejoin=rejoin), session_id, participant.identity, now, event_id))
        if first and participant.role.value == "student" and now > self.policy.late_at:
            await self._context.bus.publish(Event.of(AttendanceLate(
                name=participant.name, joined_at=iso(now),
                late_by_s=round(now - self.policy.scheduled_start, 3),
                late_after_s=self.policy.late_after_s), session_id, participant.identity, now))

    def _leave(self, participant: Participant, reason: str, at: float) -> None:
        event_id = new_event_id(at)  # taken now, like a join's
        self._context.queue(lambda: self._record_leave(participant, reason, at, event_id))

    async def _record_leave(self, participant: Participant, reason: str, now: float, event_id: str) -> None:
        record = await self.store.get(participant.identity)
        duration = 0.0
        if record is not None:
            duration = record.leave(now)
            await self.store.save(record)
        await self._context.bus.publish(Event.of(ParticipantLeft(
            participant_sid=participant.sid, reason=cast(LeaveReason, reason),
            duration_s=round(duration, 3)), self._context.session.id, participant.identity, now, event_id))
