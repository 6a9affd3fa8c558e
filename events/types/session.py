"""session.started, session.ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..event import EventType
from .base import DateTime, Duration, Name, Payload


EndReason = Literal["instructor", "api", "scheduled_end"]


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Payload):
    """The room opened (first join)."""

    TYPE = EventType.SESSION_STARTED
    PARTICIPANT = "none"

    title: Name
    scheduled_start: DateTime
    scheduled_end: DateTime
    started_at: DateTime


@dataclass(frozen=True, kw_only=True)
class SessionEnded(Payload):
    """The session ended."""

    TYPE = EventType.SESSION_ENDED
    PARTICIPANT = "none"

    ended_at: DateTime
    reason: EndReason
    duration_s: Duration
