"""Attendance against the roster: intervals per identity, Ed-Fi categories, the summary."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional, cast

from events.event import iso, parse_iso
from events.types import AttendanceSummary
from events.types import attendance as typed
from events.types.base import RoleName
from sessions import Session


class Category(str, Enum):
    PRESENT = "present"
    TARDY = "tardy"
    EXCUSED_ABSENCE = "excused_absence"
    UNEXCUSED_ABSENCE = "unexcused_absence"


@dataclass(frozen=True)
class AttendancePolicy:
    scheduled_start: float
    scheduled_end: float
    late_after_s: int
    no_show_after_s: int

    @property
    def late_at(self) -> float:
        return self.scheduled_start + self.late_after_s

    @property
    def no_show_at(self) -> float:
        return self.scheduled_start + self.no_show_after_s


def attendance_policy(session: Session) -> AttendancePolicy:
    return AttendancePolicy(parse_iso(session.scheduled_start), parse_iso(session.scheduled_end),
                            session.settings.late_after_s, session.settings.no_show_after_s)


@dataclass
class AttendanceRecord:
    """One person: every join/leave interval (a reconnect is a new interval, not a new person)."""

    identity: str
    name: str
    role: str
    intervals: list[list[Optional[float]]] = field(default_factory=list)

    @property
    def first_join(self) -> Optional[float]:
        return self.intervals[0][0] if self.intervals else None

    @property
    def last_leave(self) -> Optional[float]:
        return self.intervals[-1][1] if self.intervals else None

    @property
    def is_present(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None

    def join(self, at: float) -> bool:
        """Open an interval; True if this identity had been here before (a rejoin)."""
        rejoin = bool(self.intervals)
        if self.is_present:
            self.intervals[-1][1] = at  # a stale open interval (a crash): close it here
        self.intervals.append([at, None])
        return rejoin

    def leave(self, at: float) -> float:
        """Close the open interval; returns its duration."""
        if not self.is_present:
            return 0.0
        self.intervals[-1][1] = at
        start = self.intervals[-1][0] or at
        return max(0.0, at - start)

    def present_s(self, now: float) -> float:
        return sum(max(0.0, (leave if leave is not None else now) - (join or now))
                   for join, leave in self.intervals)

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "name": self.name, "role": self.role,
                "intervals": self.intervals}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AttendanceRecord":
        return cls(data["identity"], data["name"], data["role"], [list(i) for i in data["intervals"]])


def categorise(record: Optional[AttendanceRecord], policy: AttendancePolicy,
               excused: bool = False) -> Category:
    if record is None or record.first_join is None:
        return Category.EXCUSED_ABSENCE if excused else Category.UNEXCUSED_ABSENCE
    return Category.TARDY if record.first_join > policy.late_at else Category.PRESENT


def late_by_s(record: AttendanceRecord, policy: AttendancePolicy) -> float:
    if record.first_join is None:
        return 0.0
    return max(0.0, record.first_join - policy.scheduled_start)


def summarise(records: dict[str, AttendanceRecord], roster: list[tuple[str, str]], policy: AttendancePolicy,
              now: float, excused: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The attendance.summary data (`attendance_summary`, as a dict)."""
    return attendance_summary(records, roster, policy, now, excused).to_data()


def attendance_summary(
    records: dict[str, AttendanceRecord],
    roster: list[tuple[str, str]],
    policy: AttendancePolicy,
    now: float,
    excused: frozenset[str] = frozenset(),
) -> AttendanceSummary:
    """The attendance.summary payload: every roster student, then everyone else who came."""
    rows: list[typed.AttendanceRecord] = []
    names = dict(roster)
    identities = [identity for identity, _ in roster] + sorted(set(records) - set(names))
    for identity in identities:
        record = records.get(identity)
        role = record.role if record else "student"
        name = record.name if record else names[identity]
        category = categorise(record, policy, identity in excused)
        intervals = [] if record is None else [
            typed.Interval(joined_at=iso(join), left_at=iso(leave if leave is not None else now),
                           duration_s=round((leave if leave is not None else now) - join, 3))
            for join, leave in record.intervals if join is not None]
        last_leave = None
        if record is not None and record.intervals:
            last_leave = record.last_leave if record.last_leave is not None else now
        rows.append(typed.AttendanceRecord(
            identity=identity, name=name, role=cast(RoleName, role),
            category=category.value,
            first_join=iso(record.first_join) if record and record.first_join else None,
            last_leave=iso(last_leave) if last_leave else None,
            present_s=round(record.present_s(now), 3) if record else 0.0,
            late_by_s=round(late_by_s(record, policy), 3) if record else 0.0,
            left_early=bool(last_leave and last_leave < policy.scheduled_end - policy.late_after_s),
            intervals=intervals,
        ))
    students = [r for r in rows if r.identity in names]
    present = sum(1 for r in students if r.category in (Category.PRESENT, Category.TARDY))
    return AttendanceSummary(records=rows, expected=len(students), present=present,
                             absent=len(students) - present)


CSV_COLUMNS = ("identity", "name", "role", "category", "first_join", "last_leave", "present_s",
               "late_by_s", "left_early", "intervals")


def records_csv(records: list[dict[str, Any]]) -> str:
    """The summary's records as CSV, intervals as `joined_at/left_at` pairs joined by `;`."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = {**record, "intervals": ";".join(
            f"{i['joined_at']}/{i['left_at']}" for i in record["intervals"])}
        writer.writerow([row[column] for column in CSV_COLUMNS])
    return output.getvalue()
