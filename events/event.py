"""Event: an immutable, versioned fact about a class, as it travels on the bus."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .types import Payload


class EventType(str, Enum):
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    PARTICIPANT_JOINED = "participant.joined"
    PARTICIPANT_LEFT = "participant.left"
    TRACK_PUBLISHED = "track.published"
    TRACK_UNPUBLISHED = "track.unpublished"
    ATTENDANCE_LATE = "attendance.late"
    ATTENDANCE_NO_SHOW = "attendance.no_show"
    ATTENDANCE_SUMMARY = "attendance.summary"
    ENGAGEMENT_SIGNAL = "engagement.signal"
    ENGAGEMENT_SNAPSHOT = "engagement.snapshot"
    POLL_STARTED = "poll.started"
    POLL_ENDED = "poll.ended"
    TRANSCRIPT_PARTIAL = "transcript.partial"
    TRANSCRIPT_FINAL = "transcript.final"
    RECORDING_STARTED = "recording.started"
    RECORDING_FINISHED = "recording.finished"
    SUMMARY_DRAFT = "summary.draft"
    SUMMARY_APPROVED = "summary.approved"
    SUMMARY_REJECTED = "summary.rejected"
    FLAG_RAISED = "flag.raised"
    WORKFLOW_NOTIFICATION_SENT = "workflow.notification_sent"
    WORKFLOW_NOTIFICATION_FAILED = "workflow.notification_failed"


# The version of each type's `data` schema (docs/events.md).
VERSIONS: dict[EventType, int] = {event_type: 1 for event_type in EventType}


class _EventIds:
    """48 bits of milliseconds, then 48 bits that start random each millisecond and count up
    within it (as monotonic ULIDs do): ids sort in the order they were made."""

    def __init__(self) -> None:
        self._milliseconds = -1
        self._tail = 0

    def next(self, now: Optional[float] = None) -> str:
        milliseconds = int((time.time() if now is None else now) * 1000)
        if milliseconds <= self._milliseconds:
            milliseconds = self._milliseconds  # the clock stepped back or stood still
            self._tail += 1
        else:
            self._milliseconds = milliseconds
            self._tail = int.from_bytes(os.urandom(6), "big") >> 1  # room to count up
        return f"evt_{milliseconds:012x}{self._tail:012x}"


new_event_id = _EventIds().next


def parse_iso(value: str) -> float:
    """The Unix time of an ISO 8601 string written by `iso` (a trailing Z is UTC)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    type: EventType
    session_id: str
    data: dict[str, Any]
    participant: Optional[str] = None
    ts: float = field(default_factory=time.time)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", new_event_id(self.ts))

    @classmethod
    def of(cls, payload: Payload, session_id: str, participant: Optional[str] = None,
           at: Optional[float] = None, event_id: Optional[str] = None) -> Event:
        """The event of a typed payload (events/types/): its type and `data` come from it. Like
        the constructor it checks nothing (an event is never refused on its way out: nothing
        lost); `payload.PARTICIPANT` says whether the type has a participant, and
        `events.schema.validate` checks the envelope."""
        return cls(payload.TYPE, session_id, payload.to_data(), participant,
                   time.time() if at is None else at, event_id or "")

    @property
    def version(self) -> int:
        return VERSIONS[self.type]

    def envelope(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "id": self.id, "type": self.type.value, "version": self.version,
            "ts": iso(self.ts), "session_id": self.session_id,
        }
        if self.participant is not None:
            envelope["participant"] = self.participant
        envelope["data"] = self.data
        return envelope

    def to_json(self) -> str:
        return json.dumps(self.envelope(), ensure_ascii=False, separators=(",", ":"))


_ENVELOPE_FIELDS = {"id", "type", "version", "ts", "session_id", "participant", "data"}


def parse_event(envelope: Any) -> tuple[Event, Payload]:
    """The Event of an envelope as it comes off the bus (the JSON of `Event.to_json`, parsed),
    and its `data` as a typed payload. PayloadInvalid (a ValueError) names the field that is off:
    `type`, `version`, `ts`, `participant`, `data.<field>`... (`events.schema.validate` checks
    the whole envelope against the JSON Schemas, rules between fields included)."""
    from .types import PAYLOADS, PayloadInvalid
    from .types.base import def_problem

    if not isinstance(envelope, dict):
        raise PayloadInvalid("(unknown type)", "(envelope)", "an event envelope must be a JSON object")
    name = envelope.get("type")
    label = name if isinstance(name, str) else "(unknown type)"
    try:
        event_type = EventType(name)
    except ValueError:
        raise PayloadInvalid(label, "type", f"{name!r} is not an event type") from None
    payload_class = PAYLOADS[event_type]
    if envelope.get("version") != payload_class.VERSION or isinstance(envelope.get("version"), bool):
        raise PayloadInvalid(label, "version", f"{envelope.get('version')!r}: this reader knows "
                                               f"version {payload_class.VERSION}")
    extra = sorted(set(envelope) - _ENVELOPE_FIELDS)
    if extra:
        raise PayloadInvalid(label, extra[0], "is not allowed here")
    for key, definition in (("id", "event_id"), ("session_id", "session_id"), ("ts", "timestamp")):
        if not isinstance(envelope.get(key), str):
            raise PayloadInvalid(label, key, "is required (a string)")
        problem = def_problem(definition, envelope[key])
        if problem is not None:
            raise PayloadInvalid(label, key, problem)
    try:
        ts = parse_iso(envelope["ts"])
    except ValueError:
        raise PayloadInvalid(label, "ts", f"{envelope['ts']!r} is not an ISO 8601 time") from None
    participant = envelope.get("participant")
    if payload_class.PARTICIPANT == "none" and "participant" in envelope:
        raise PayloadInvalid(label, "participant", "is not allowed here")
    if participant is None:
        if payload_class.PARTICIPANT == "required":
            raise PayloadInvalid(label, "participant", "is required")
    else:
        problem = "must be a string" if not isinstance(participant, str) else def_problem("identity", participant)
        if problem is not None:
            raise PayloadInvalid(label, "participant", problem)
    if "data" not in envelope:
        raise PayloadInvalid(label, "data", "is required")
    payload = payload_class.from_data(envelope["data"])
    event = Event(event_type, envelope["session_id"], envelope["data"], participant, ts, envelope["id"])
    return event, payload
