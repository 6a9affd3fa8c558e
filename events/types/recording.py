"""recording.started, recording.finished."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from ..event import EventType
from .base import Doc, Duration, Identity, Limits, Payload, Record, TrackKind, TrackSource

StopReason = Literal["stopped", "session_ended", "server_shutdown"]
By = Annotated[Optional[Identity],
               Doc("the moderator who started/stopped it; null: the session's setting or the server")]


@dataclass(frozen=True, kw_only=True)
class RecordingStarted(Payload):
    """Recording began; every participant's page shows it. participant: who started it (absent
    when the session's setting did)."""

    TYPE = EventType.RECORDING_STARTED
    PARTICIPANT = "optional"

    by: By


@dataclass(frozen=True, kw_only=True)
class RecordingFile(Record):
    file: Annotated[str, Limits(min_length=1)]
    participant: Identity
    kind: TrackKind
    source: TrackSource
    offset_s: float
    duration_s: Optional[Duration]


@dataclass(frozen=True, kw_only=True)
class RecordingFinished(Payload):
    """Recording stopped (by a moderator, or the class ended); the files are closed and listed in
    recordings.json."""

    TYPE = EventType.RECORDING_FINISHED
    PARTICIPANT = "optional"

    by: By
    reason: StopReason
    duration_s: Duration
    files: list[RecordingFile]
