"""workflow.notification_sent, workflow.notification_failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from ..event import EventType
from .base import Doc, EventId, Limits, Payload


Channel = Literal["email", "webhook"]


@dataclass(frozen=True, kw_only=True)
class _Notification(Payload):
    channel: Channel
    template: Annotated[str, Limits(min_length=1)]
    to: Annotated[str, Limits(min_length=1), Doc("the address or URL")]
    cause_event_id: EventId
    attempts: Annotated[int, Limits(minimum=1)]


@dataclass(frozen=True, kw_only=True)
class NotificationSent(_Notification):
    """A workflow sent a notice (participant: the student it is about)."""

    TYPE = EventType.WORKFLOW_NOTIFICATION_SENT


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(_Notification):
    """A notice that failed every attempt and went to the dead-letter stream."""

    TYPE = EventType.WORKFLOW_NOTIFICATION_FAILED

    error: str
