"""The faster-whisper engine: one CTranslate2 model per node, shared by the recognition workers."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from events.plugin import APIError

from .engine import Segment, SttEngine, SttSettings, Word

# The engine's settings under their first name (a local CTranslate2 Whisper model directory).
WhisperSettings = SttSettings


class FasterWhisperEngine(SttEngine):
    name = "faster-whisper"

    def __init__(self, settings: WhisperSettings) -> None:
        from faster_whisper import WhisperModel

        if not os.path.isfile(os.path.join(settings.model, "model.bin")):
            raise ValueError(f"no CTranslate2 Whisper model in {settings.model!r} (model.bin missing); "
                             "convert one with ct2-transformers-converter")
        super().__init__(settings.language)
        self.settings = settings
        # local_files_only: a name that is not a local model fails here instead of downloading.
        self._model: Any = WhisperModel(settings.model, device=settings.device,
                                        compute_type=settings.compute_type,
                                        cpu_threads=settings.cpu_threads,
                                        num_workers=settings.workers, local_files_only=True)

    def _close(self) -> None:
        self._model = None  # CTranslate2 frees the model's memory with its last reference

    def _transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        model = self._model
        if model is None:
            raise APIError("faster-whisper: the engine is closed", retryable=False)
        duration = len(audio) / 16000
        segments, _ = model.transcribe(
            audio,
            language=self.settings.language,
            task="transcribe",
            beam_size=self.settings.beam_size,
            # The VAD already cut the utterance, and every utterance is decoded on its own:
            # no previous text to condition on (a known source of runaway repetition).
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            word_timestamps=final,
            # Whisper's guards against silence and noise: a decode that is too repetitive
            # (compression ratio) or too unsure is retried warmer (finals only), and a window
            # that is probably not speech yields nothing.
            temperature=(0.0, *self.settings.fallback_temperatures) if final else 0.0,
            compression_ratio_threshold=2.4,
            log_prob_threshold=-1.0,
            no_speech_threshold=0.6,
            max_new_tokens=self.settings.max_tokens,
        )
        # An utterance (at most 15 s) fits one 30 s window, and without timestamps a window is
        # one segment: take it and stop. (With word times faster-whisper would seek on from the
        # last word and decode the window's tail again, often hallucinating on its padding.)
        segment = next(iter(segments), None)
        if segment is None or not segment.text.strip():
            return []
        words = tuple(
            Word(_clip(word.start, duration), _clip(word.end, duration), word.word.strip(),
                 round(float(word.probability), 3))
            for word in segment.words or () if word.word.strip())
        return [Segment(
            start=_clip(segment.start, duration), end=_clip(segment.end, duration),
            text=segment.text.strip(),
            confidence=round(math.exp(min(segment.avg_logprob, 0.0)), 3),
            no_speech_prob=round(segment.no_speech_prob, 3), words=words)]


def _clip(seconds: float, duration: float) -> float:
    return round(min(max(float(seconds), 0.0), duration), 3)
