"""Streaming voice activity detection with the Silero VAD that ships inside faster-whisper.

faster-whisper runs Silero over a whole file; here the same ONNX model runs on a live stream,
512 samples (32 ms) at a time, carrying the LSTM state and the 64-sample context between calls.
One ONNX session serves every stream (its `run` is thread-safe); each stream keeps its own state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .engine import SAMPLE_RATE

CHUNK = 512
CONTEXT = 64
CHUNK_S = CHUNK / SAMPLE_RATE


class SileroModel:
    def __init__(self) -> None:
        import onnxruntime
        from faster_whisper.utils import get_assets_path

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
            providers=["CPUExecutionProvider"], sess_options=options)

    def run(self, chunks: np.ndarray, h: np.ndarray, c: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probs, h, c = self._session.run(None, {"input": chunks, "h": h, "c": c})
        return probs.reshape(-1), h, c


class VoiceProbability:
    """Speech probability per 32 ms chunk of one stream."""

    def __init__(self, model: SileroModel) -> None:
        self.model = model
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def skip_silence(self, samples: int) -> int:
        """Digital silence (a muted or silent sender), not run through the model: its state
        stays where the last quiet stretch left it (a fresh state would miss the next onset
        for half a second). Returns how many whole chunks it completed."""
        total = len(self._pending) + samples
        whole = total // CHUNK
        self._pending = np.zeros(total - whole * CHUNK, np.float32)
        if whole:
            self._context = np.zeros(CONTEXT, np.float32)
        return whole

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """Float32 16 kHz samples in; one probability per whole chunk completed, in order."""
        samples = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        whole = len(samples) // CHUNK
        self._pending = samples[whole * CHUNK:]
        if whole == 0:
            return np.zeros(0, np.float32)
        chunks = samples[:whole * CHUNK].reshape(whole, CHUNK)
        contexts = np.vstack([self._context[None, :], chunks[:-1, -CONTEXT:]])
        self._context = chunks[-1, -CONTEXT:].copy()
        probs, self._h, self._c = self.model.run(np.hstack([contexts, chunks]), self._h, self._c)
        return probs


@dataclass(frozen=True)
class VadSettings:
    # Silero's defaults, as faster-whisper uses them: speech above `threshold`, and it lasts
    # until the probability falls below `threshold - 0.15`.
    threshold: float = 0.5
    # Quiet this long ends an utterance: the pause between sentences, not between words.
    min_silence_s: float = 0.5
    # Shorter bursts (a cough, a click) are not utterances.
    min_speech_s: float = 0.25
    # Audio kept on both sides of the voiced part: Whisper needs the word edges.
    pad_s: float = 0.2


@dataclass
class VoiceActivity:
    """What one chunk changed: an utterance began (at `start`) or ended (voiced until `end`)."""
    started: Optional[float] = None
    ended: Optional[float] = None


class Segmenter:
    """Cuts a stream into utterances from per-chunk probabilities, on the stream's own clock."""

    def __init__(self, settings: VadSettings = VadSettings()) -> None:
        self.settings = settings
        self.in_speech = False
        self.speech_start = 0.0
        self.last_voiced = 0.0
        self._candidate: Optional[float] = None

    def observe(self, probability: float, chunk_start: float) -> VoiceActivity:
        s = self.settings
        activity = VoiceActivity()
        if probability >= s.threshold:
            if not self.in_speech:
                if self._candidate is None:
                    self._candidate = chunk_start
                if chunk_start + CHUNK_S - self._candidate >= s.min_speech_s:
                    self.in_speech = True
                    self.speech_start = self._candidate
                    self._candidate = None
                    activity.started = self.speech_start
            self.last_voiced = chunk_start + CHUNK_S
        elif probability < s.threshold - 0.15:
            self._candidate = None
            if self.in_speech and chunk_start + CHUNK_S - self.last_voiced >= s.min_silence_s:
                self.in_speech = False
                activity.ended = self.last_voiced
        return activity
