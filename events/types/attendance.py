"""attendance.late, attendance.no_show, attendance.summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from ..event import EventType
from .base import OMIT, Count, DateTime, Doc, Duration, Identity, Limits, Name, Payload, Record, Role, when
from .defs import ref


@dataclass(frozen=True, kw_only=True)
class AttendanceLate(Payload):
    """A roster student joined after scheduled start + late_after_s."""

    TYPE = EventType.ATTENDANCE_LATE

    name: Name
    joined_at: DateTime
    late_by_s: Duration
    late_after_s: Count


@dataclass(frozen=True, kw_only=True)
class Guardian(Record):
    name: Name
    email: Annotated[str, Limits(min_length=3, pattern="@")]
    phone: Optional[str]


@dataclass(frozen=True, kw_only=True)
class AttendanceNoShow(Payload):
    """A roster student had not joined no_show_after_s after the scheduled start."""

    TYPE = EventType.ATTENDANCE_NO_SHOW

    name: Name
    guardian: Optional[Guardian]
    title: Annotated[Optional[str], OMIT, Doc("the session's title (for notices)")] = None
    scheduled_start: DateTime
    no_show_after_s: Count


@dataclass(frozen=True, kw_only=True)
class Interval(Record):
    joined_at: DateTime
    left_at: DateTime
    duration_s: Duration


CategoryName = Literal["present", "tardy", "excused_absence", "unexcused_absence"]
Category = Annotated[CategoryName, Doc("Ed-Fi attendance event category")]

# An absent student never joined: no times, no presence, no intervals; anyone else did.
_ABSENT_MEANS_NEVER_JOINED = when(
    "category", {"enum": ["excused_absence", "unexcused_absence"]},
    {"first_join": {"type": "null"}, "last_leave": {"type": "null"}, "present_s": {"const": 0},
     "intervals": {"maxItems": 0}},
    {"first_join": {"$ref": ref("date_time")}, "intervals": {"minItems": 1}})


@dataclass(frozen=True, kw_only=True)
class AttendanceRecord(Record):
    ALL_OF = (_ABSENT_MEANS_NEVER_JOINED,)

    identity: Identity
    name: Name
    role: Role
    category: Category
    first_join: Optional[DateTime]
    last_leave: Optional[DateTime]
    present_s: Duration
    late_by_s: Optional[Duration]
    left_early: Optional[bool]
    intervals: list[Interval]


@dataclass(frozen=True, kw_only=True)
class AttendanceSummary(Payload):
    """Attendance of the whole session: one record per roster student and everyone else who came."""

    TYPE = EventType.ATTENDANCE_SUMMARY
    PARTICIPANT = "none"

    records: list[AttendanceRecord]
    expected: Count
    present: Count
    absent: Count
