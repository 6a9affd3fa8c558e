"""The speech-recognition engine interface: 16 kHz mono audio in, segments out.

One method, so a deployment can put another engine behind it (as LiveKit's agents do with
their STT plug-ins) without touching the media path or the streaming logic. `SttEngine` is the
base an engine builds on: it counts the calls for `metrics()`, refuses calls once `close()`d,
and turns an engine's own failures into `APIError` at its boundary. Engines are made by name
(`--stt NAME`) from transcription/registry.py.

The engine is thread-based (the recognition workers call it from their threads), so it closes
with a plain `close()`, like the scheduler in front of it; idempotent.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from events.plugin import Meter, ThreadedPlugin

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


@dataclass(frozen=True)
class SttSettings:
    """What a local engine is made with (`--stt`, `--whisper-*` flags; `WhisperSettings` is
    the same class under its first name)."""
    # A local model directory (never a hub name: nothing is downloaded).
    model: str
    device: str = "cpu"
    # int8 on CPU; float16 suits CUDA.
    compute_type: str = "int8"
    # Threads per call; calls run concurrently up to `workers` (CTranslate2 inter-op workers).
    cpu_threads: int = 1
    workers: int = 2
    language: str = "en"
    beam_size: int = 1
    # Enough for a 15 s utterance of fast speech; bounds a hallucinating decode.
    max_tokens: int = 128
    # Retries of a final whose decode failed Whisper's guards (too repetitive or too unsure).
    fallback_temperatures: tuple[float, ...] = (0.2, 0.4, 0.6)
    # The engine's name in transcription/registry.py.
    engine: str = "faster-whisper"


class SpeechEngine(Protocol):
    """Safe to call from several threads at once (up to the engine's own worker count)."""

    language: str

    def transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        """`audio`: float32 mono at SAMPLE_RATE, one utterance. `final`: the settled decode of a
        whole utterance (word times, fallbacks), as opposed to a cheap running partial."""
        ...


class SttEngine(ThreadedPlugin, abc.ABC):
    """The base of a speech engine: subclasses implement `_transcribe` (and `_close` if they
    hold something to release). `metrics()`: {name, finals, partials, errors, busy_s, audio_s,
    closed}."""

    name: ClassVar[str] = "stt"

    def __init__(self, language: str) -> None:
        self.language = language
        self._meter = Meter(self.name, counts=("finals", "partials"), totals=("audio_s",))

    def transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        with self._meter.call("finals" if final else "partials"):
            segments = self._transcribe(audio, final=final)
        self._meter.add("audio_s", len(audio) / SAMPLE_RATE)
        return segments

    @abc.abstractmethod
    def _transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        ...
