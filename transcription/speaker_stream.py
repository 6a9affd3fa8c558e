"""SpeakerStream: one speaker's live audio → voice activity, utterances, partial and final transcripts.

Fed 16 kHz audio on the speaker's own clock (seconds since the stream began). Silero cuts
utterances; a running utterance is re-decoded about once a second for partials (stabilised with
LocalAgreement); the end of an utterance, or its reaching the cap, sends its final. Every
speaker is its own stream, so every word is attributed without diarization. With no scheduler,
the stream only reports voice activity (talk time when transcription is off).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .agreement import LocalAgreement
from .engine import SAMPLE_RATE, Segment, Word
from .scheduler import Recognizer, Request
from .vad import CHUNK_S, Segmenter, SileroModel, VadSettings, VoiceProbability


@dataclass(frozen=True)
class StreamSettings:
    vad: VadSettings = VadSettings()
    partial_interval_s: float = 1.0
    # An utterance is cut here, so neither latency nor a decode's cost grows without bound.
    max_utterance_s: float = 15.0


@dataclass(frozen=True)
class Transcript:
    """One utterance, as a partial (still running) or final. Times are on the stream's clock."""
    speaker: str
    utterance: int
    final: bool
    start: float
    end: float
    text: str
    # Partials: the words LocalAgreement has settled (a prefix of `text`).
    stable_text: str = ""
    confidence: Optional[float] = None
    words: tuple[Word, ...] = ()


TranscriptObserver = Callable[[Transcript], None]
# The VAD's view, for talk time: (True, t) for each voiced moment, (False, end) when it ends.
VoiceObserver = Callable[[bool, float], None]
# A jump in the stream clock longer than this (lost packets, a paused sender) is filled with
# silence so utterance times stay true; a longer one (over MAX_GAP_S) restarts the clock.
GAP_FILL_S = 0.06
MAX_GAP_S = 30.0
# Digital silence (a muted or silent sender) is run through the VAD only this long; after that
# it is skipped. The model needs that much of it to settle: from a state that never heard the
# stream, it finds the next onset about half a second late.
SILENCE_SETTLE_S = 0.5


class SpeakerStream:
    def __init__(self, speaker: str, vad: SileroModel, scheduler: Optional[Recognizer],
                 on_transcript: TranscriptObserver, on_voice: Optional[VoiceObserver] = None,
                 settings: StreamSettings = StreamSettings()) -> None:
        self.speaker = speaker
        self.settings = settings
        self._probability = VoiceProbability(vad)
        self._segmenter = Segmenter(settings.vad)
        self._scheduler = scheduler
        self._on_transcript = on_transcript
        self._on_voice = on_voice
        # Re-entrant: a scheduler that is closing delivers (None) from inside submit.
        self._lock = threading.RLock()
        # Audio kept from `_audio_start` on: the running utterance, or a short pre-roll.
        self._audio: list[np.ndarray] = []
        self._audio_start = 0.0
        self._audio_samples = 0
        self._clock: Optional[float] = None
        self._vad_time = 0.0
        self._utterance = 0
        self._utterance_probs: list[tuple[float, float]] = []
        self._agreement = LocalAgreement()
        self._last_partial_at = 0.0
        # The end of the newest partial delivered: an older one finishing later is dropped.
        self._partial_shown_until = 0.0
        # Digital silence analysed so far in a row (see SILENCE_SETTLE_S).
        self._silence_s = 0.0
        # Finals asked for and not yet delivered (ending a class waits for them).
        self.finals_pending = 0
        self.closed = False

    # -- audio in (the audio tap's thread) -------------------------------------------------

    def feed(self, audio: np.ndarray, stream_time: float) -> None:
        """Float32 mono 16 kHz; `stream_time`: the stream-clock time of its first sample."""
        with self._lock:
            if self.closed:
                return
            if self._clock is None:
                self._clock = self._audio_start = self._vad_time = stream_time
            gap = stream_time - self._clock
            if gap > MAX_GAP_S or gap < -MAX_GAP_S:
                self._restart_clock(stream_time)
            elif gap > GAP_FILL_S:
                self._append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
            self._append(audio)
            if not self._segmenter.in_speech:
                keep = self.settings.vad.pad_s + self.settings.vad.min_speech_s + CHUNK_S
                self._trim_before(self._vad_time - keep)

    def _append(self, audio: np.ndarray) -> None:
        self._audio.append(audio)
        self._audio_samples += len(audio)
        self._clock += len(audio) / SAMPLE_RATE
        if not audio.any() and not self._segmenter.in_speech and self._silence_s >= SILENCE_SETTLE_S:
            for _ in range(self._probability.skip_silence(len(audio))):
                self._observe(0.0, self._vad_time)
                self._vad_time += CHUNK_S
            return
        self._silence_s = 0.0 if audio.any() else self._silence_s + len(audio) / SAMPLE_RATE
        for probability in self._probability.feed(audio):
            self._observe(float(probability), self._vad_time)
            self._vad_time += CHUNK_S

    def _restart_clock(self, stream_time: float) -> None:
        """After a long silence of the sender: end what was running, start afresh."""
        self._end_speech()
        self._probability = VoiceProbability(self._probability.model)
        self._segmenter = Segmenter(self.settings.vad)
        self._audio, self._audio_samples = [], 0
        self._clock = self._audio_start = self._vad_time = stream_time

    def _observe(self, probability: float, at: float) -> None:
        segmenter = self._segmenter
        activity = segmenter.observe(probability, at)
        if activity.started is not None:
            self._begin_utterance()
            self._voice(True, activity.started)
        if segmenter.in_speech:
            self._utterance_probs.append((at, probability))
            self._voice(True, at + CHUNK_S)
            if self._scheduler is not None:
                self._schedule_decodes(at)
        if activity.ended is not None:
            self._voice(False, activity.ended)
            self._request_final(segmenter.speech_start, activity.ended)

    def _schedule_decodes(self, at: float) -> None:
        if at + CHUNK_S - self._segmenter.speech_start >= self.settings.max_utterance_s:
            self._cut_long_utterance()
        elif at - self._last_partial_at >= self.settings.partial_interval_s:
            self._request_partial(at + CHUNK_S)

    def _end_speech(self) -> None:
        """The audio stops here: an utterance in flight ends at its last voiced moment."""
        if self._segmenter.in_speech:
            self._segmenter.in_speech = False
            end = self._segmenter.last_voiced
            self._voice(False, end)
            self._request_final(self._segmenter.speech_start, end)

    def _voice(self, speaking: bool, at: float) -> None:
        if self._on_voice is not None:
            self._on_voice(speaking, at)

    def _begin_utterance(self) -> None:
        self._utterance += 1
        self._agreement = LocalAgreement()
        self._utterance_probs = []
        self._last_partial_at = self._segmenter.speech_start

    def _cut_long_utterance(self) -> None:
        """At the cap: end the utterance at its quietest moment of the last two seconds (not
        mid-word), and go on with a new one from there."""
        segmenter = self._segmenter
        recent = [item for item in self._utterance_probs if item[0] >= self._vad_time - 2.0]
        cut = min(recent, key=lambda item: item[1])[0] if recent else self._vad_time
        self._request_final(segmenter.speech_start, cut, pad=False)
        self._begin_utterance()
        segmenter.speech_start = cut
        self._last_partial_at = cut
        self._trim_before(cut - self.settings.vad.pad_s)

    def _request_partial(self, until: float) -> None:
        start = self._segmenter.speech_start
        self._last_partial_at = until
        utterance = self._utterance
        audio = self._slice(start - self.settings.vad.pad_s, until)

        def deliver(segments: Optional[list[Segment]]) -> None:
            with self._lock:
                if (segments is None or utterance != self._utterance or self.closed
                        or until <= self._partial_shown_until):
                    return  # dropped, failed, overtaken, or its utterance has ended meanwhile
                self._partial_shown_until = until
                text = _text(segments)
                stable, _ = self._agreement.update(text.split())
                transcript = Transcript(self.speaker, utterance, False, start, until, text,
                                        " ".join(stable))
            self._on_transcript(transcript)

        self._scheduler.submit(Request(self.speaker, audio, False, deliver))

    def _request_final(self, start: float, end: float, pad: bool = True) -> None:
        if self._scheduler is None:
            return
        pad_s = self.settings.vad.pad_s if pad else 0.0
        offset = max(start - self.settings.vad.pad_s, self._audio_start)
        audio = self._slice(offset, end + pad_s)
        utterance = self._utterance
        self.finals_pending += 1

        def deliver(segments: Optional[list[Segment]]) -> None:
            try:
                self._deliver_final(utterance, start, end, offset, segments or [])
            finally:
                with self._lock:
                    self.finals_pending -= 1

        self._scheduler.submit(Request(self.speaker, audio, True, deliver))

    def _deliver_final(self, utterance: int, start: float, end: float, offset: float,
                       segments: list[Segment]) -> None:
        words = tuple(Word(round(offset + w.start, 3), round(offset + w.end, 3), w.text,
                           w.probability) for s in segments for w in s.words)
        confidences = [s.confidence for s in segments]
        self._on_transcript(Transcript(
            self.speaker, utterance, True, round(start, 3), round(end, 3), _text(segments),
            confidence=round(min(confidences), 3) if confidences else None, words=words))

    # -- the audio buffer ------------------------------------------------------------------

    def _slice(self, start: float, end: float) -> np.ndarray:
        if not self._audio:
            return np.zeros(0, np.float32)
        audio = np.concatenate(self._audio) if len(self._audio) > 1 else self._audio[0]
        self._audio = [audio]
        first = max(0, int(round((start - self._audio_start) * SAMPLE_RATE)))
        last = max(first, int(round((end - self._audio_start) * SAMPLE_RATE)))
        return audio[first:last].copy()

    def _trim_before(self, start: float) -> None:
        drop = int((start - self._audio_start) * SAMPLE_RATE)
        if drop <= 0 or drop >= self._audio_samples:
            return
        audio = np.concatenate(self._audio)[drop:]
        self._audio = [audio]
        self._audio_samples = len(audio)
        self._audio_start += drop / SAMPLE_RATE

    def close(self) -> None:
        """The speaker left: an utterance in flight still gets its final."""
        with self._lock:
            if not self.closed:
                self._end_speech()
                self.closed = True


def _text(segments: list[Segment]) -> str:
    return " ".join(segment.text for segment in segments).strip()
