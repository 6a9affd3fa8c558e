"""What a participant may do in a room, as granted by its join token."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, Mapping


class Role(str, Enum):
    INSTRUCTOR = "instructor"
    STUDENT = "student"
    OBSERVER = "observer"


class Source(str, Enum):
    MICROPHONE = "microphone"
    CAMERA = "camera"
    SCREEN = "screen"

    @property
    def kind(self) -> str:
        return "audio" if self is Source.MICROPHONE else "video"


@dataclass(frozen=True)
class Permissions:
    publish_audio: bool = False
    publish_video: bool = False
    publish_screen: bool = False
    moderate: bool = False
    subscribe: bool = True

    @classmethod
    def for_role(cls, role: Role) -> "Permissions":
        if role is Role.INSTRUCTOR:
            return cls(True, True, True, True, True)
        if role is Role.STUDENT:
            return cls(publish_audio=True, publish_video=True)
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Permissions":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown permissions: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            if not isinstance(value, bool):
                raise ValueError(f"permission {name} must be true or false")
        return cls(**data)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Permissions":
        return Permissions.from_dict({**asdict(self), **overrides})

    def may_publish(self, source: Source) -> bool:
        if source is Source.MICROPHONE:
            return self.publish_audio
        if source is Source.CAMERA:
            return self.publish_video
        return self.publish_screen

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)
