"""poll.started, poll.ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from ..event import EventType
from .base import CorrectIndex, Count, Identity, Limits, OptionIndex, Payload, PollId, PollOptions, Record

Question = Annotated[str, Limits(min_length=1)]


@dataclass(frozen=True, kw_only=True)
class _Poll(Payload):
    poll_id: PollId
    question: Question
    options: PollOptions
    correct: CorrectIndex


@dataclass(frozen=True, kw_only=True)
class PollStarted(_Poll):
    """An instructor started a poll."""

    TYPE = EventType.POLL_STARTED


@dataclass(frozen=True, kw_only=True)
class PollAnswer(Record):
    identity: Identity
    option: OptionIndex
    correct: Optional[bool]


@dataclass(frozen=True, kw_only=True)
class PollEnded(_Poll):
    """A poll ended, with its counts and answers."""

    TYPE = EventType.POLL_ENDED

    counts: list[Count]
    answers: list[PollAnswer]
