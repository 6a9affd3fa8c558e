"""Polls and comprehension checks: one question, options, an optional correct answer."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Optional

MAX_OPTIONS = 8


class PollInvalid(ValueError):
    pass


@dataclass
class Poll:
    question: str
    options: list[str]
    correct: Optional[int] = None
    created_by: str = ""
    id: str = field(default_factory=lambda: "poll_" + secrets.token_hex(6))
    started_at: float = field(default_factory=time.time)
    answers: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.question.strip() or len(self.question) > 500:
            raise PollInvalid("the question must be 1-500 characters")
        if not 2 <= len(self.options) <= MAX_OPTIONS:
            raise PollInvalid(f"a poll needs 2-{MAX_OPTIONS} options")
        if any(not option.strip() or len(option) > 200 for option in self.options):
            raise PollInvalid("each option must be 1-200 characters")
        if self.correct is not None and not 0 <= self.correct < len(self.options):
            raise PollInvalid("correct must be the index of an option")

    def answer(self, identity: str, option: int) -> Optional[bool]:
        """Record (or replace) an answer; whether it is correct (None: no correct answer)."""
        if not 0 <= option < len(self.options):
            raise PollInvalid("option must be the index of an option")
        self.answers[identity] = option
        return self.is_correct(option)

    def is_correct(self, option: int) -> Optional[bool]:
        return None if self.correct is None else option == self.correct

    def counts(self) -> list[int]:
        counts = [0] * len(self.options)
        for option in self.answers.values():
            counts[option] += 1
        return counts

    def public(self) -> dict[str, Any]:
        """What students see: no correct answer."""
        return {"poll_id": self.id, "question": self.question, "options": self.options}
