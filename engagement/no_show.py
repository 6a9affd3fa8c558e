"""No-shows: the roster's students who, once `no_show_after_s` has passed since the scheduled
start, have not joined and are not excused."""

from __future__ import annotations

from collections.abc import Container
from typing import Any, Iterable

from events.types import AttendanceNoShow, Guardian
from sessions import RosterEntry, Session


def no_shows(roster: Iterable[RosterEntry], joined: Container[str], excused: Container[str]) -> list[RosterEntry]:
    return [entry for entry in roster if entry.identity not in joined and entry.identity not in excused]


def no_show_payload(session: Session, entry: RosterEntry) -> AttendanceNoShow:
    """The attendance.no_show payload: what the workflow needs to tell the guardian."""
    guardian = None
    if entry.guardian is not None:
        guardian = Guardian(name=entry.guardian.name, email=entry.guardian.email, phone=entry.guardian.phone)
    return AttendanceNoShow(name=entry.name, guardian=guardian, title=session.title,
                            scheduled_start=session.scheduled_start,
                            no_show_after_s=session.settings.no_show_after_s)


def no_show_data(session: Session, entry: RosterEntry) -> dict[str, Any]:
    return no_show_payload(session, entry).to_data()
