"""summary.draft, summary.approved, summary.rejected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ..event import EventType
from .base import Count, Doc, Identity, Limits, Payload, Record


@dataclass(frozen=True, kw_only=True)
class SummaryCounts(Record):
    topics: Count
    key_points: Count
    questions: Count
    action_items: Count
    students: Count


@dataclass(frozen=True, kw_only=True)
class SummaryDraft(Payload):
    """A draft summary of the class is ready for its instructors to review (GET
    /api/sessions/{id}/summary, the review page). Nothing reaches guardians until it is approved."""

    TYPE = EventType.SUMMARY_DRAFT
    PARTICIPANT = "none"

    summariser: Annotated[str, Limits(min_length=1),
                          Doc("which summariser wrote the class part, e.g. extractive:all-MiniLM-L6-v2")]
    overview: str
    counts: SummaryCounts


@dataclass(frozen=True, kw_only=True)
class SummaryApproved(Payload):
    """An instructor approved the class summary; the workflows send each student's guardian their
    part. participant: who approved it."""

    TYPE = EventType.SUMMARY_APPROVED
    PARTICIPANT = "optional"

    by: Identity
    students: Annotated[list[Identity], Doc("the students the summary speaks of")]


@dataclass(frozen=True, kw_only=True)
class SummaryRejected(Payload):
    """An instructor rejected the draft: it is not sent. participant: who rejected it."""

    TYPE = EventType.SUMMARY_REJECTED
    PARTICIPANT = "optional"

    by: Identity
    reason: str
