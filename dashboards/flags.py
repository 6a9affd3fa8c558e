"""Flags for operations: what `flag.raised` reported, students on a lossy connection, notices
that could not be delivered; each one acknowledged or resolved by a named ops user.

`FlagIndex` keeps the flags in Redis as the dashboard's index reads the events, so any node's
dashboard sees them all. Failed notices are read straight from the workflow worker's dead letter. A
flag's state (acknowledged / resolved, by whom, when) is kept beside it, also in Redis.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Optional, Protocol, cast

import redis.asyncio as aioredis

from events.event import iso, parse_iso
from workflows.worker import DEAD_LETTER

FLAGS_KEY = "aula:dashboard:flags"  # flag id → Flag JSON
FLAGS_BY_TIME = "aula:dashboard:flags:by_time"  # flag id → raised at (Unix seconds)
# The same for flags not resolved: however old, an open flag stays listed.
UNRESOLVED_BY_TIME = "aula:dashboard:flags:unresolved"
STATES_KEY = "aula:dashboard:flag_states"  # flag id → Resolution JSON
# "{session id}:{identity}" → the id of that student's technical flag in that session.
QUALITY_FLAGS_KEY = "aula:dashboard:quality_flags"
# A failed notice's cause event id → {session_id, participant}: the dead letter names neither.
NOTICE_CAUSES_KEY = "aula:dashboard:notice_causes"
DEAD_LETTER_PREFIX = "dead_letter:"
# Above this fraction of packets lost (a client's `connection_quality` report) audio breaks up
# and video freezes: worth a look from operations.
HIGH_PACKET_LOSS = 0.05
LIST_LIMIT = 500
MAX_NOTE_CHARS = 500


class Operator(Protocol):
    """The ops user acting on a flag: a verified ops token's grant is one."""

    @property
    def identity(self) -> str: ...

    @property
    def name(self) -> str: ...


class FlagState(str, Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Resolution:
    """Who acknowledged or resolved a flag, and when."""

    state: FlagState
    by: str
    name: str
    at: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}


@dataclass
class Flag:
    id: str
    kind: str  # no_show, at_risk, technical (flag.raised or packet loss), notification_failed
    reason: str
    severity: str
    raised_at: str
    session_id: Optional[str] = None
    participant: Optional[str] = None
    cause_event_id: Optional[str] = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Flag":
        return cls(**data)


class FlagIndex:
    """Turns events into flags (dashboards/index.py feeds it every event). Idempotent: a
    redelivered event changes nothing."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def index(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        if event["type"] == "flag.raised":
            await self._save(Flag(
                id=event["id"], kind=data["kind"], reason=data["reason"], severity=data["severity"],
                raised_at=event["ts"], session_id=event["session_id"],
                participant=event.get("participant"), cause_event_id=data.get("cause_event_id")))
        elif event["type"] == "engagement.signal" and data.get("signal") == "connection_quality":
            if (data.get("packet_loss") or 0) >= HIGH_PACKET_LOSS and event.get("participant"):
                await self._lossy(event)
        elif event["type"] == "workflow.notification_failed":
            await self._redis.hset(NOTICE_CAUSES_KEY, data["cause_event_id"], json.dumps(
                {"session_id": event["session_id"], "participant": event.get("participant")}))

    async def _lossy(self, event: dict[str, Any]) -> None:
        """One technical flag per student and session while it is not resolved: later reports
        update it (latest and worst loss, how many reports)."""
        data = event["data"]
        key = f"{event['session_id']}:{event['participant']}"
        loss = float(data["packet_loss"])
        flag_id = cast(Optional[bytes], await self._redis.hget(QUALITY_FLAGS_KEY, key))
        flag = await self._get(flag_id.decode()) if flag_id else None
        state = await _state(self._redis, flag.id) if flag else None
        if flag is None or (state is not None and state.state is FlagState.RESOLVED):
            flag = Flag(id=event["id"], kind="technical", reason="", severity="warning",
                        raised_at=event["ts"], session_id=event["session_id"],
                        participant=event["participant"], cause_event_id=event["id"],
                        details={"reports": 0, "worst_packet_loss": 0.0})
            await self._redis.hset(QUALITY_FLAGS_KEY, key, flag.id)
        elif event["id"] <= flag.details.get("last_event_id", ""):
            return  # a redelivery: already counted
        flag.details.update({
            "reports": flag.details["reports"] + 1, "packet_loss": loss,
            "worst_packet_loss": max(loss, flag.details["worst_packet_loss"]),
            "rtt_ms": data.get("rtt_ms"), "last_report_at": event["ts"], "last_event_id": event["id"]})
        flag.reason = (f"high packet loss: {loss:.0%} at the last report, worst {flag.details['worst_packet_loss']:.0%} "
                       f"({flag.details['reports']} report{'s' if flag.details['reports'] != 1 else ''})")
        flag.severity = "critical" if flag.details["worst_packet_loss"] >= 0.2 else "warning"
        await self._save(flag)

    async def _get(self, flag_id: str) -> Optional[Flag]:
        raw = await self._redis.hget(FLAGS_KEY, flag_id)
        return Flag.from_dict(json.loads(raw)) if raw else None

    async def _save(self, flag: Flag) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(FLAGS_KEY, flag.id, json.dumps(asdict(flag)))
            pipe.zadd(FLAGS_BY_TIME, {flag.id: parse_iso(flag.raised_at)})
            # A redelivered flag that was resolved comes back here; its state still says resolved.
            pipe.zadd(UNRESOLVED_BY_TIME, {flag.id: parse_iso(flag.raised_at)})
            await pipe.execute()


async def _state(redis: aioredis.Redis, flag_id: str) -> Optional[Resolution]:
    raw = cast(Optional[bytes], await redis.hget(STATES_KEY, flag_id))
    return _resolution(raw) if raw else None


def _resolution(raw: bytes) -> Resolution:
    data = json.loads(raw)
    return Resolution(**{**data, "state": FlagState(data["state"])})


class FlagBoard:
    """What the dashboard reads and writes: flags with their state."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def flags(self, states: frozenset[FlagState], session_id: Optional[str] = None,
                    participant: Optional[str] = None) -> list[dict[str, Any]]:
        """Newest first: the latest `LIST_LIMIT` indexed flags (of those not resolved, when
        resolved ones are not asked for) and dead-lettered notices."""
        flags = await self._indexed(FlagState.RESOLVED in states) + await self._dead_letters()
        flags = [f for f in flags if (session_id is None or f.session_id == session_id)
                 and (participant is None or f.participant == participant)]
        raw_states = cast(list[Optional[bytes]], await self._redis.hmget(STATES_KEY, [f.id for f in flags]) if flags else [])
        listed = []
        for flag, raw in zip(flags, raw_states):
            resolution = _resolution(raw) if raw else None
            state = resolution.state if resolution else FlagState.OPEN
            if state in states:
                listed.append({**asdict(flag), "state": state.value,
                               "resolution": resolution.to_dict() if resolution else None})
        return sorted(listed, key=lambda f: f["raised_at"], reverse=True)

    async def set_state(self, flag_id: str, state: FlagState, grant: Operator,
                        note: str = "") -> Optional[dict[str, Any]]:
        """Acknowledge, resolve or reopen a flag; None if there is no such flag."""
        if not await self._exists(flag_id):
            return None
        resolution = None
        if state is not FlagState.OPEN:
            resolution = Resolution(state, grant.identity, grant.name or grant.identity, iso(time.time()), note)
        raised_at = await self._redis.zscore(FLAGS_BY_TIME, flag_id)  # None: a dead letter's
        async with self._redis.pipeline(transaction=True) as pipe:
            if resolution is None:
                pipe.hdel(STATES_KEY, flag_id)
            else:
                pipe.hset(STATES_KEY, flag_id, json.dumps(resolution.to_dict()))
            if raised_at is not None and state is FlagState.RESOLVED:
                pipe.zrem(UNRESOLVED_BY_TIME, flag_id)
            elif raised_at is not None:
                pipe.zadd(UNRESOLVED_BY_TIME, {flag_id: raised_at})
            await pipe.execute()
        return {"id": flag_id, "state": state.value, "resolution": resolution.to_dict() if resolution else None}

    async def _exists(self, flag_id: str) -> bool:
        if flag_id.startswith(DEAD_LETTER_PREFIX):
            entry_id = flag_id[len(DEAD_LETTER_PREFIX):]
            try:
                return bool(await self._redis.xrange(DEAD_LETTER, entry_id, entry_id))
            except aioredis.ResponseError:  # not a stream entry id
                return False
        return bool(await self._redis.hexists(FLAGS_KEY, flag_id))

    async def _indexed(self, resolved_too: bool) -> list[Flag]:
        ids = cast(list[bytes], await self._redis.zrevrange(FLAGS_BY_TIME if resolved_too else UNRESOLVED_BY_TIME,
                                                           0, LIST_LIMIT - 1))
        if not ids:
            return []
        return [Flag.from_dict(json.loads(raw)) for raw in await self._redis.hmget(FLAGS_KEY, ids) if raw]

    async def _dead_letters(self) -> list[Flag]:
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await self._redis.xrevrange(DEAD_LETTER, count=LIST_LIMIT))
        if not entries:
            return []
        causes = cast(list[Optional[bytes]],
                      await self._redis.hmget(NOTICE_CAUSES_KEY, [fields[b"event_id"] for _, fields in entries]))
        flags = []
        for (entry_id, fields), cause in zip(entries, causes):
            text = {k.decode(): v.decode() for k, v in fields.items()}
            where = json.loads(cause) if cause else {}
            flags.append(Flag(
                id=DEAD_LETTER_PREFIX + entry_id.decode(), kind="notification_failed",
                reason=f"{text.get('channel')} to {text.get('to')} failed: {text.get('error')}",
                severity="warning", raised_at=iso(float(text.get("at") or 0)),
                session_id=where.get("session_id"), participant=where.get("participant"),
                cause_event_id=text.get("event_id"),
                details={"channel": text.get("channel"), "to": text.get("to"),
                         "template": text.get("template"), "error": text.get("error")}))
        return flags
