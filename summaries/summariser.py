"""The summariser plug-in: a class's sentences in, what the lesson covered out. Every point keeps
the transcript evidence it was drawn from, whichever summariser wrote it.

`SummariserBase` is the base a summariser builds on: it counts the calls for `metrics()`,
refuses calls once `close()`d, and turns a summariser's own failures into `APIError` at its
boundary. A summariser runs on a thread (the summary worker's `asyncio.to_thread`), so it closes
with a plain `close()`, like the speech engine; idempotent. Summarisers are made by name
(`aula worker --summariser NAME`) from summaries/registry.py.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol

from events.plugin import Meter, ThreadedPlugin

from .evidence import ClassRecord, Evidence, Utterance, split_sentences

@dataclass(frozen=True)
class Sentence:
    text: str
    utterance: Utterance

    @property
    def evidence(self) -> Evidence:
        return self.utterance.evidence


@dataclass
class Point:
    id: str
    text: str
    evidence: list[Evidence]
    speaker: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "speaker": self.speaker,
                "evidence": [item.to_dict() for item in self.evidence]}


@dataclass
class Topic:
    id: str
    title: str
    text: str
    start_s: float
    end_s: float
    evidence: list[Evidence]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "start_s": round(self.start_s, 1),
                "end_s": round(self.end_s, 1), "evidence": [item.to_dict() for item in self.evidence]}


@dataclass
class ClassSummary:
    overview: str
    topics: list[Topic] = field(default_factory=list)
    key_points: list[Point] = field(default_factory=list)
    action_items: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class Lesson:
    title: str
    sentences: list[Sentence]


class Summariser(Protocol):
    name: str

    def summarise(self, lesson: Lesson) -> ClassSummary:
        ...


class SummariserBase(ThreadedPlugin, abc.ABC):
    """Subclasses implement `_summarise` (and `_close` if they hold a model to release).
    `metrics()`: {name, summaries, errors, busy_s, sentences, closed}."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._meter = Meter(name, counts=("summaries",), totals=("sentences",))

    def summarise(self, lesson: Lesson) -> ClassSummary:
        with self._meter.call("summaries"):
            summary = self._summarise(lesson)
        self._meter.add("sentences", len(lesson.sentences))
        return summary

    @abc.abstractmethod
    def _summarise(self, lesson: Lesson) -> ClassSummary:
        ...


def lesson_of(record: ClassRecord) -> Lesson:
    sentences = [Sentence(text, utterance) for utterance in record.utterances
                 for text in split_sentences(utterance.text)]
    return Lesson(record.title, sentences)
