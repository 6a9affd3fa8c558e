"""A class's draft summary, as stored in `summary.json` and shown on the review page."""

from __future__ import annotations

from typing import Any

from events.event import iso

from .evidence import ClassRecord
from .student_facts import student_reports
from .summariser import Summariser, lesson_of


def draft_summary(record: ClassRecord, summariser: Summariser, now: float) -> dict[str, Any]:
    summary = summariser.summarise(lesson_of(record))
    reports = student_reports(record)
    questions = [{"id": f"question-{n}", "text": statement.text, "asked_by": report.identity,
                  "evidence": [item.to_dict() for item in statement.evidence]}
                 for n, (report, statement) in enumerate(
                     ((report, statement) for report in reports for statement in report.statements
                      if statement.kind == "question"), 1)]
    return {
        "session_id": record.session_id,
        "title": record.title,
        "status": "draft",
        "summariser": summariser.name,
        "generated_at": iso(now),
        "overview": summary.overview,
        "topics": [topic.to_dict() for topic in summary.topics],
        "key_points": [point.to_dict() for point in summary.key_points],
        "questions": questions,
        "action_items": [point.to_dict() for point in summary.action_items],
        "students": [report.to_dict() for report in reports],
        "instructor_note": "",
        "history": [{"action": "drafted", "by": summariser.name, "at": iso(now)}],
    }
