"""Typed payloads: one frozen dataclass per event type (the `data` of its envelope).

Producers build one and publish it with `Event.of(payload, session_id, participant)`;
consumers get one back from `events.parse_event(envelope)`. `to_data()` is the `data` dict on
the wire; `from_data(dict)` parses it and raises `PayloadInvalid` (a ValueError) naming the
field. The JSON Schemas in events/schemas/ are written from these classes
(`python -m events.schema_gen`).
"""

from __future__ import annotations

from ..event import EventType
from .attendance import AttendanceLate, AttendanceNoShow, AttendanceRecord, AttendanceSummary, Guardian, Interval
from .base import Payload, PayloadInvalid, Record
from .engagement import EngagementSnapshot, ScoreParts
from .flag import FlagRaised
from .participant import ParticipantJoined, ParticipantLeft, TrackPublished, TrackUnpublished
from .poll import PollAnswer, PollEnded, PollStarted
from .recording import RecordingFile, RecordingFinished, RecordingStarted
from .session import SessionEnded, SessionStarted
from .signal import (SIGNALS, CameraOff, CameraOn, ChatMessage, ConnectionQuality, FaceAbsent, FacePresent,
                     HandLowered, HandRaised, MicMuted, MicUnmuted, PollAnswered, Reaction, Signal,
                     SpeakingStarted, SpeakingStopped, TabHidden, TabVisible, VideoBlack, VideoFrozen, VideoOk)
from .summary import SummaryApproved, SummaryCounts, SummaryDraft, SummaryRejected
from .transcript import TranscriptFinal, TranscriptPartial, Word
from .workflow import NotificationFailed, NotificationSent

_CLASSES: tuple[type[Payload], ...] = (
    SessionStarted, SessionEnded, ParticipantJoined, ParticipantLeft, TrackPublished, TrackUnpublished,
    AttendanceLate, AttendanceNoShow, AttendanceSummary, Signal, EngagementSnapshot, PollStarted, PollEnded,
    TranscriptPartial, TranscriptFinal, RecordingStarted, RecordingFinished, SummaryDraft, SummaryApproved,
    SummaryRejected, FlagRaised, NotificationSent, NotificationFailed,
)
# Each event type's payload class, in the order of EventType.
PAYLOADS: dict[EventType, type[Payload]] = {
    event_type: next(cls for cls in _CLASSES if cls.TYPE is event_type) for event_type in EventType}

__all__ = [
    "PAYLOADS", "SIGNALS", "Payload", "PayloadInvalid", "Record",
    "SessionStarted", "SessionEnded",
    "ParticipantJoined", "ParticipantLeft", "TrackPublished", "TrackUnpublished",
    "AttendanceLate", "AttendanceNoShow", "AttendanceSummary", "AttendanceRecord", "Guardian", "Interval",
    "Signal", "SpeakingStarted", "SpeakingStopped", "CameraOn", "CameraOff", "MicMuted", "MicUnmuted",
    "ChatMessage", "HandRaised", "HandLowered", "Reaction", "PollAnswered", "TabHidden", "TabVisible",
    "ConnectionQuality", "VideoBlack", "VideoFrozen", "VideoOk", "FacePresent", "FaceAbsent",
    "EngagementSnapshot", "ScoreParts",
    "PollStarted", "PollEnded", "PollAnswer",
    "TranscriptPartial", "TranscriptFinal", "Word",
    "RecordingStarted", "RecordingFinished", "RecordingFile",
    "SummaryDraft", "SummaryApproved", "SummaryRejected", "SummaryCounts",
    "FlagRaised", "NotificationSent", "NotificationFailed",
]
