"""engagement.signal: one class per signal (`data.signal`), each with exactly its own fields.

`Signal.from_data` picks the class by `data.signal`; `to_data` writes `signal` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Optional, Self

from ..event import EventType
from .base import OMIT, Doc, Duration, Identity, Limits, OptionIndex, Payload, PayloadInvalid, PollId


@dataclass(frozen=True, kw_only=True)
class Signal(Payload):
    """One engagement signal; each signal value allows exactly its own fields."""

    TYPE = EventType.ENGAGEMENT_SIGNAL
    SIGNAL: ClassVar[str]

    def to_data(self) -> dict[str, Any]:
        return {"signal": self.SIGNAL, **super().to_data()}

    @classmethod
    def from_data(cls, data: Any) -> Self:
        label = cls.TYPE.value
        if not isinstance(data, dict):
            raise PayloadInvalid(label, "data", "expected an object")
        if "signal" not in data:
            raise PayloadInvalid(label, "data.signal", "is required")
        signal = SIGNALS.get(data["signal"]) if isinstance(data["signal"], str) else None
        if signal is None:
            raise PayloadInvalid(label, "data.signal", f"{data['signal']!r} is not one of {', '.join(SIGNALS)}")
        if not issubclass(signal, cls):
            raise PayloadInvalid(label, "data.signal", f"{signal.SIGNAL!r} is not a {cls.__name__}")
        fields = {name: value for name, value in data.items() if name != "signal"}
        return signal._decode(fields, "data", label)


# A moderator's identity, only there when a moderator did it.
By = Annotated[Optional[Identity], OMIT]
Measured = Annotated[Optional[float], Limits(minimum=0)]


@dataclass(frozen=True, kw_only=True)
class SpeakingStarted(Signal):
    SIGNAL = "speaking_started"


@dataclass(frozen=True, kw_only=True)
class SpeakingStopped(Signal):
    SIGNAL = "speaking_stopped"
    duration_s: Duration


@dataclass(frozen=True, kw_only=True)
class CameraOn(Signal):
    SIGNAL = "camera_on"


@dataclass(frozen=True, kw_only=True)
class CameraOff(Signal):
    SIGNAL = "camera_off"


@dataclass(frozen=True, kw_only=True)
class MicMuted(Signal):
    SIGNAL = "mic_muted"
    by: Annotated[By, Doc("the moderator, when muted by one")] = None


@dataclass(frozen=True, kw_only=True)
class MicUnmuted(Signal):
    SIGNAL = "mic_unmuted"


@dataclass(frozen=True, kw_only=True)
class ChatMessage(Signal):
    SIGNAL = "chat_message"
    message_id: Annotated[str, Limits(min_length=1)]
    text: Annotated[str, Limits(min_length=1)]
    to: Annotated[Optional[Identity], Doc("null: everyone; an identity: private")]


@dataclass(frozen=True, kw_only=True)
class HandRaised(Signal):
    SIGNAL = "hand_raised"


@dataclass(frozen=True, kw_only=True)
class HandLowered(Signal):
    SIGNAL = "hand_lowered"
    by: Annotated[By, Doc("the moderator, when one lowered it")] = None


@dataclass(frozen=True, kw_only=True)
class Reaction(Signal):
    SIGNAL = "reaction"
    emoji: Annotated[str, Limits(min_length=1, max_length=64)]


@dataclass(frozen=True, kw_only=True)
class PollAnswered(Signal):
    SIGNAL = "poll_answered"
    poll_id: PollId
    option: OptionIndex
    correct: Optional[bool]


@dataclass(frozen=True, kw_only=True)
class TabHidden(Signal):
    SIGNAL = "tab_hidden"


@dataclass(frozen=True, kw_only=True)
class TabVisible(Signal):
    SIGNAL = "tab_visible"


@dataclass(frozen=True, kw_only=True)
class ConnectionQuality(Signal):
    SIGNAL = "connection_quality"
    rtt_ms: Measured
    packet_loss: Measured
    jitter_ms: Measured


@dataclass(frozen=True, kw_only=True)
class VideoBlack(Signal):
    SIGNAL = "video_black"
    mean_luma: Annotated[float, Limits(minimum=0, maximum=255)]


@dataclass(frozen=True, kw_only=True)
class VideoFrozen(Signal):
    SIGNAL = "video_frozen"
    change: Annotated[float, Limits(minimum=0)]


@dataclass(frozen=True, kw_only=True)
class VideoOk(Signal):
    SIGNAL = "video_ok"


@dataclass(frozen=True, kw_only=True)
class FacePresent(Signal):
    SIGNAL = "face_present"
    faces: Annotated[int, Limits(minimum=1)]


@dataclass(frozen=True, kw_only=True)
class FaceAbsent(Signal):
    SIGNAL = "face_absent"
    faces: Literal[0] = 0


# In the order the schema lists them.
SIGNALS: dict[str, type[Signal]] = {cls.SIGNAL: cls for cls in (
    SpeakingStarted, SpeakingStopped, CameraOn, CameraOff, MicMuted, MicUnmuted, ChatMessage,
    HandRaised, HandLowered, Reaction, PollAnswered, TabHidden, TabVisible, ConnectionQuality,
    VideoBlack, VideoFrozen, VideoOk, FacePresent, FaceAbsent)}
