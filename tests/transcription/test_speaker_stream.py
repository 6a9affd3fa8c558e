"""One speaker's stream through the real pipeline: Silero, the scheduler, faster-whisper (a
random-weights model, so the tests check what the VAD found, never the words)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from transcription.faster_whisper_engine import FasterWhisperEngine
from transcription.scheduler import RecognitionScheduler
from transcription.speaker_stream import SpeakerStream, StreamSettings, Transcript
from transcription.vad import SileroModel

from .speech import RATE, script

BLOCK = 320  # 20 ms, as Opus frames arrive


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return SileroModel()


@pytest.fixture
def scheduler(whisper_settings):
    scheduler = RecognitionScheduler(FasterWhisperEngine(whisper_settings), workers=2)
    yield scheduler
    scheduler.close()


class Collected:
    def __init__(self) -> None:
        self.transcripts: list[Transcript] = []
        self.voice: list[tuple[bool, float]] = []
        self.lock = threading.Lock()

    def transcript(self, transcript: Transcript) -> None:
        with self.lock:
            self.transcripts.append(transcript)

    @property
    def finals(self) -> list[Transcript]:
        return sorted((t for t in self.transcripts if t.final), key=lambda t: t.start)


def play(stream: SpeakerStream, audio: np.ndarray, real_time: bool = False, start: float = 0.0) -> None:
    began = time.monotonic()
    for first in range(0, len(audio), BLOCK):
        stream.feed(audio[first:first + BLOCK], start + first / RATE)
        if real_time:
            time.sleep(max(0.0, began + first / RATE - time.monotonic()))


def wait_for_finals(collected: Collected, stream: SpeakerStream, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(collected.finals) < count or stream.finals_pending:
        assert time.monotonic() < deadline, collected.transcripts
        time.sleep(0.02)


def test_each_sentence_becomes_one_final_at_its_true_time(silero, scheduler):
    audio, spoken = script(["The quick brown fox jumps over the lazy dog.",
                            "Water boils at one hundred degrees.", "Thank you."])
    collected = Collected()
    stream = SpeakerStream("sam", silero, scheduler, collected.transcript,
                           lambda speaking, at: collected.voice.append((speaking, at)))
    play(stream, audio)
    wait_for_finals(collected, stream, len(spoken))
    finals = collected.finals
    assert [t.utterance for t in finals] == [1, 2, 3]
    for final, truth in zip(finals, spoken):
        assert final.speaker == "sam"
        assert abs(final.start - truth.start) <= 0.25 and abs(final.end - truth.end) <= 0.25, (final, truth)
        assert all(final.start - 0.25 <= word.start <= word.end <= final.end + 0.25 for word in final.words)
    # The VAD's view, for talk time: voiced moments inside each sentence, and an end for each.
    ends = [at for speaking, at in collected.voice if not speaking]
    assert len(ends) == 3 and all(abs(end - truth.end) <= 0.25 for end, truth in zip(ends, spoken))


def test_a_running_utterance_gets_partials_whose_settled_words_only_grow(silero, scheduler):
    audio, spoken = script(["Today we will look at how plants turn sunlight, water and air into "
                            "sugar, and why that matters for every animal on the planet."], tail_s=1.0)
    collected = Collected()
    stream = SpeakerStream("sam", silero, scheduler, collected.transcript)
    play(stream, audio, real_time=True)
    wait_for_finals(collected, stream, 1)
    partials = [t for t in collected.transcripts if not t.final]
    final = collected.finals[0]
    assert len(partials) >= 3, partials
    assert all(p.utterance == final.utterance and p.start == pytest.approx(final.start) for p in partials)
    ends = [p.end for p in partials]
    assert ends == sorted(ends) and ends[-1] <= final.end + 0.6
    # Partials come about once a second of speech.
    assert len(partials) <= (spoken[0].end - spoken[0].start) + 1
    stable = [p.stable_text.split() for p in partials]
    assert all(later[:len(earlier)] == earlier for earlier, later in zip(stable, stable[1:]))


def test_continuous_speech_is_cut_into_utterances_no_longer_than_the_cap(silero, scheduler):
    sentences = ["This is a long lecture that goes on and on without a real pause"] * 6
    audio, spoken = script(sentences, gap_s=0.15)
    collected = Collected()
    stream = SpeakerStream("ms-lee", silero, scheduler, collected.transcript,
                           settings=StreamSettings(max_utterance_s=6.0))
    play(stream, audio)
    stream.close()
    wait_for_finals(collected, stream, 2)
    finals = collected.finals
    assert len(finals) >= 3
    assert all(t.end - t.start <= 6.0 + 0.05 for t in finals), [(t.start, t.end) for t in finals]
    # The pieces cover the speech without gaps or overlaps between them.
    assert abs(finals[0].start - spoken[0].start) <= 0.25 and abs(finals[-1].end - spoken[-1].end) <= 0.25
    assert all(abs(a.end - b.start) <= 0.1 for a, b in zip(finals, finals[1:]))


def test_lost_audio_keeps_later_utterances_on_the_true_clock(silero, scheduler):
    audio, spoken = script(["First sentence before the outage.", "Second sentence after it."], gap_s=2.0)
    collected = Collected()
    stream = SpeakerStream("sam", silero, scheduler, collected.transcript)
    # One second of packets never arrives, in the middle of the silence between the sentences.
    hole_from = int((spoken[0].end + 0.5) * RATE) // BLOCK * BLOCK
    hole_to = hole_from + RATE
    play(stream, audio[:hole_from])
    play(stream, audio[hole_to:], start=hole_to / RATE)
    wait_for_finals(collected, stream, 2)
    assert abs(collected.finals[1].start - spoken[1].start) <= 0.25, (collected.finals, spoken)


def test_leaving_mid_sentence_still_gives_that_utterance_its_final(silero, scheduler):
    audio, spoken = script(["A sentence that is cut off when the student leaves the class"], tail_s=0)
    collected = Collected()
    stream = SpeakerStream("sam", silero, scheduler, collected.transcript)
    play(stream, audio[:int((spoken[0].start + 1.5) * RATE)])
    stream.close()
    wait_for_finals(collected, stream, 1)
    assert abs(collected.finals[0].start - spoken[0].start) <= 0.25


def test_without_a_scheduler_the_stream_reports_voice_only(silero):
    audio, spoken = script(["Only the talk time is wanted here."])
    voice: list = []
    stream = SpeakerStream("sam", silero, None, lambda t: pytest.fail("no transcripts without ASR"),
                           lambda speaking, at: voice.append((speaking, at)))
    play(stream, audio)
    starts = [at for speaking, at in voice if speaking]
    ends = [at for speaking, at in voice if not speaking]
    assert abs(starts[0] - spoken[0].start) <= 0.25 and len(ends) == 1
    assert abs(ends[0] - spoken[0].end) <= 0.25
