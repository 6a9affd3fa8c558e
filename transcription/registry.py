"""Speech engines by name (`aula serve --stt NAME`, `aula asr-worker --stt NAME`).

Built in: `faster-whisper` (transcription/faster_whisper_engine.py). A deployment adds an engine
without touching the media path: a factory `create(settings: SttSettings) -> SpeechEngine`
(best built on `transcription.engine.SttEngine`), declared in its package's entry point group
`aula.stt`, or registered in code with `STT_ENGINES.register(name, factory)`.
"""

from __future__ import annotations

from typing import Callable

from events.plugin import Registry

from .engine import SpeechEngine, SttSettings

SttFactory = Callable[[SttSettings], SpeechEngine]

STT_ENGINES: Registry[SttFactory] = Registry("speech engine", "aula.stt")


def _faster_whisper(settings: SttSettings) -> SpeechEngine:
    from .faster_whisper_engine import FasterWhisperEngine

    return FasterWhisperEngine(settings)


STT_ENGINES.register("faster-whisper", _faster_whisper)


def create_engine(settings: SttSettings) -> SpeechEngine:
    """The engine `settings.engine` names, made with `settings` (UnknownPlugin for a name no
    built-in or installed plug-in answers to)."""
    return STT_ENGINES.get(settings.engine)(settings)
