"""engagement.snapshot (the signals are in events/types/signal.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from ..event import EventType
from .base import Count, Doc, Duration, Limits, Payload, Record, when

Part = Annotated[float, Limits(minimum=0, maximum=20)]


@dataclass(frozen=True, kw_only=True)
class ScoreParts(Record):
    """Each part's points (0-20); they add up to the score."""

    talk: Part
    chat: Part
    hands: Part
    reactions: Part
    polls: Part


# No score (instructors, observers), no parts; a score, its parts.
_PARTS_GO_WITH_THE_SCORE = when("score", {"type": "null"}, {"score_parts": {"type": "null"}},
                                {"score_parts": {"type": "object"}})


@dataclass(frozen=True, kw_only=True)
class EngagementSnapshot(Payload):
    """Running totals, every 30 s while present."""

    TYPE = EventType.ENGAGEMENT_SNAPSHOT
    ALL_OF = (_PARTS_GO_WITH_THE_SCORE,)

    present_s: Duration
    talk_time_s: Duration
    speaking_turns: Count
    camera_on_s: Duration
    visible_s: Duration
    messages: Count
    hands: Count
    reactions: Count
    polls_answered: Count
    polls_correct: Count
    score: Annotated[Optional[float], Limits(minimum=0, maximum=100),
                     Doc("0-100, the sum of score_parts; null for instructors and observers")]
    score_parts: Optional[ScoreParts]
