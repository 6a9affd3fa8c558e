"""The speech-recognition engine interface: 16 kHz mono audio in, segments out.

One method, so a deployment can put another engine behind it (as LiveKit's agents do with
their STT plug-ins) without touching the media path or the streaming logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """Times are seconds from the start of the audio given to the engine."""
    start: float
    end: float
    text: str
    # exp(mean token log-probability): 0..1.
    confidence: float
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = field(default=())


class SpeechEngine(Protocol):
    """Safe to call from several threads at once (up to the engine's own worker count)."""

    language: str

    def transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        """`audio`: float32 mono at SAMPLE_RATE, one utterance. `final`: the settled decode of a
        whole utterance (word times, fallbacks), as opposed to a cheap running partial."""
        ...
