"""transcript.partial, transcript.final."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from ..event import EventType
from .base import ANY_OF_NULL, Doc, Limits, Name, Payload, Record, SessionTime, UtteranceId

Heard = Annotated[str, Doc("what the engine heard; may be empty (voice without recognisable words)")]


@dataclass(frozen=True, kw_only=True)
class _Utterance(Payload):
    name: Name
    utterance_id: UtteranceId
    start: SessionTime
    end: SessionTime
    text: Heard


@dataclass(frozen=True, kw_only=True)
class TranscriptPartial(_Utterance):
    """A running utterance, re-decoded about once a second; later partials and the final replace it."""

    TYPE = EventType.TRANSCRIPT_PARTIAL

    stable_text: Annotated[str, Doc("the words LocalAgreement has settled: a prefix of text that later partials keep")]


@dataclass(frozen=True, kw_only=True)
class Word(Record):
    start: SessionTime
    end: SessionTime
    text: str
    probability: Annotated[float, Limits(minimum=0, maximum=1)]


@dataclass(frozen=True, kw_only=True)
class TranscriptFinal(_Utterance):
    """One finished utterance of one speaker (VAD-cut, at most 15 s)."""

    TYPE = EventType.TRANSCRIPT_FINAL

    words: list[Word]
    confidence: Annotated[Optional[Annotated[float, Limits(minimum=0, maximum=1)]], ANY_OF_NULL,
                          Doc("the least confident segment's exp(mean token log-probability); "
                              "null when nothing was recognised")]
    language: Annotated[str, Limits(min_length=2)]
