"""flag.raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from ..event import EventType
from .base import EventId, Limits, Payload


@dataclass(frozen=True, kw_only=True)
class FlagRaised(Payload):
    """Something operations should look at, about a student (participant)."""

    TYPE = EventType.FLAG_RAISED

    kind: Literal["no_show", "at_risk", "technical"]
    reason: Annotated[str, Limits(min_length=1)]
    severity: Literal["info", "warning", "critical"]
    cause_event_id: EventId
