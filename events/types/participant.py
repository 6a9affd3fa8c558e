"""participant.joined, participant.left, track.published, track.unpublished."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from ..event import EventType
from .base import Doc, Duration, Name, ParticipantSid, Payload, Role, TrackKind, TrackSid, TrackSource, when

LeaveReason = Literal["left", "removed", "disconnected", "connection_lost", "replaced", "session_ended",
                      "room_closed", "server_shutdown", "room_moved"]


@dataclass(frozen=True, kw_only=True)
class ParticipantJoined(Payload):
    """An identity joined the room."""

    TYPE = EventType.PARTICIPANT_JOINED

    name: Name
    role: Role
    participant_sid: ParticipantSid
    rejoin: Annotated[bool, Doc("true if this identity was in the room before")]


@dataclass(frozen=True, kw_only=True)
class ParticipantLeft(Payload):
    """An identity left the room."""

    TYPE = EventType.PARTICIPANT_LEFT

    participant_sid: ParticipantSid
    reason: LeaveReason
    duration_s: Annotated[Duration, Doc("the length of this interval")]


# A microphone is audio; a camera or a screen, video.
_KIND_FOLLOWS_SOURCE = when("source", {"const": "microphone"}, {"kind": {"const": "audio"}}, {"kind": {"const": "video"}})


@dataclass(frozen=True, kw_only=True)
class _Track(Payload):
    ALL_OF = (_KIND_FOLLOWS_SOURCE,)

    track_sid: TrackSid
    kind: TrackKind
    source: TrackSource


@dataclass(frozen=True, kw_only=True)
class TrackPublished(_Track):
    """A track was published (microphone: audio; camera and screen: video)."""

    TYPE = EventType.TRACK_PUBLISHED


@dataclass(frozen=True, kw_only=True)
class TrackUnpublished(_Track):
    """A track was unpublished (microphone: audio; camera and screen: video)."""

    TYPE = EventType.TRACK_UNPUBLISHED
