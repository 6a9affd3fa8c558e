"""Session: one scheduled class with its roster and settings, and how a new one is parsed."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Optional

from events.event import iso, parse_iso



class SessionInvalid(ValueError):
    pass


@dataclass
class Guardian:
    name: str
    email: str
    phone: Optional[str] = None


@dataclass
class RosterEntry:
    identity: str
    name: str
    guardian: Optional[Guardian] = None


@dataclass
class SessionSettings:
    late_after_s: int = 300
    no_show_after_s: int = 900
    recording: bool = False
    # Days after the end of the class its recordings are deleted; None: kept until deleted.
    recording_retention_days: Optional[int] = None


@dataclass
class Session:
    id: str
    title: str
    scheduled_start: str
    scheduled_end: str
    roster: list[RosterEntry] = field(default_factory=list)
    instructors: list[str] = field(default_factory=list)
    settings: SessionSettings = field(default_factory=SessionSettings)
    created_at: float = field(default_factory=time.time)
    ended_at: Optional[float] = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Session":
        return cls(
            id=data["id"], title=data["title"], scheduled_start=data["scheduled_start"],
            scheduled_end=data["scheduled_end"],
            roster=[RosterEntry(r["identity"], r["name"],
                                Guardian(**r["guardian"]) if r.get("guardian") else None)
                    for r in data.get("roster", [])],
            instructors=list(data.get("instructors", [])),
            settings=SessionSettings(**data.get("settings", {})),
            created_at=data.get("created_at", time.time()), ended_at=data.get("ended_at"),
        )


def _text(data: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SessionInvalid(f"{name} must be a non-empty string")
    if len(value) > max_length:
        raise SessionInvalid(f"{name} must be at most {max_length} characters")
    return value.strip()


def _timestamp(data: dict[str, Any], name: str) -> datetime:
    value = _text(data, name)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SessionInvalid(f"{name} must be an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise SessionInvalid(f"{name} must carry a time zone (e.g. Z or +01:00)")
    return parsed


def parse_new_session(data: Any) -> Session:
    """Validate a POST /api/sessions body into a Session with a fresh id."""
    if not isinstance(data, dict):
        raise SessionInvalid("the body must be a JSON object")
    start, end = _timestamp(data, "scheduled_start"), _timestamp(data, "scheduled_end")
    if end <= start:
        raise SessionInvalid("scheduled_end must be after scheduled_start")
    if end.timestamp() <= time.time():
        raise SessionInvalid("scheduled_end is in the past: a session is scheduled for a class to come")
    roster_data = data.get("roster", [])
    if not isinstance(roster_data, list):
        raise SessionInvalid("roster must be a list")
    roster: list[RosterEntry] = []
    for entry in roster_data:
        if not isinstance(entry, dict):
            raise SessionInvalid("each roster entry must be an object")
        guardian = entry.get("guardian")
        if guardian is not None:
            if not isinstance(guardian, dict):
                raise SessionInvalid("guardian must be an object")
            phone = guardian.get("phone")
            if phone is not None and not isinstance(phone, str):
                raise SessionInvalid("guardian.phone must be a string")
            email = _text(guardian, "email")
            if "@" not in email:
                raise SessionInvalid("guardian.email must be an e-mail address")
            guardian = Guardian(_text(guardian, "name"), email, phone)
        roster.append(RosterEntry(_text(entry, "identity", 128), _text(entry, "name"), guardian))
    if len({r.identity for r in roster}) != len(roster):
        raise SessionInvalid("roster identities must be unique")
    instructors = data.get("instructors", [])
    if not isinstance(instructors, list) or not all(isinstance(i, str) and i for i in instructors):
        raise SessionInvalid("instructors must be a list of identities")
    settings_data = data.get("settings", {})
    if not isinstance(settings_data, dict):
        raise SessionInvalid("settings must be an object")
    defaults = SessionSettings()
    settings = SessionSettings()
    for name in ("late_after_s", "no_show_after_s"):
        value = settings_data.get(name, getattr(defaults, name))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SessionInvalid(f"settings.{name} must be a non-negative integer")
        setattr(settings, name, value)
    recording = settings_data.get("recording", defaults.recording)
    if not isinstance(recording, bool):
        raise SessionInvalid("settings.recording must be true or false")
    settings.recording = recording
    retention = settings_data.get("recording_retention_days")
    if retention is not None and (not isinstance(retention, int) or isinstance(retention, bool) or retention < 1):
        raise SessionInvalid("settings.recording_retention_days must be a whole number of days (at least 1), or null")
    settings.recording_retention_days = retention
    unknown = set(settings_data) - {"late_after_s", "no_show_after_s", "recording", "recording_retention_days"}
    if unknown:
        raise SessionInvalid(f"unknown settings: {', '.join(sorted(unknown))}")
    return Session(
        id="ses_" + secrets.token_hex(8), title=_text(data, "title"),
        scheduled_start=iso(start.timestamp()), scheduled_end=iso(end.timestamp()),
        roster=roster, instructors=instructors, settings=settings,
    )
