"""Word error rate of a real Whisper model on espeak sentences, through the live pipeline
(VAD, utterances, finals). Runs when AULA_TEST_WHISPER_MODEL names a local CTranslate2 model:

    AULA_TEST_WHISPER_MODEL=/models/whisper-base.en python3 -m pytest -s tests/transcription/test_accuracy.py
"""

from __future__ import annotations

import os
import re
import time

import pytest

from transcription.faster_whisper_engine import FasterWhisperEngine, WhisperSettings
from transcription.scheduler import RecognitionScheduler
from transcription.speaker_stream import SpeakerStream, Transcript
from transcription.vad import SileroModel

from .speech import RATE, script

MODEL = os.environ.get("AULA_TEST_WHISPER_MODEL")
SENTENCES = ["The quick brown fox jumps over the lazy dog.",
             "Photosynthesis turns light, water and carbon dioxide into sugar.",
             "Please open your books to page forty two.",
             "What is the capital city of France?",
             "We will have a short quiz at the end of the lesson."]
# espeak's voice is far from a person's; a real model still gets most words.
MAX_WER = 0.35



def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1] / max(len(reference), 1)


def test_word_error_rate_helper():
    assert word_error_rate("a b c d".split(), "a x c".split()) == 0.5


@pytest.mark.skipif(not MODEL, reason="AULA_TEST_WHISPER_MODEL is not set")
def test_a_real_model_transcribes_the_espeak_sentences():
    assert MODEL is not None
    engine = FasterWhisperEngine(WhisperSettings(MODEL))
    scheduler = RecognitionScheduler(engine, workers=2)
    finals: list[Transcript] = []
    audio, spoken = script(SENTENCES)
    stream = SpeakerStream("sam", SileroModel(), scheduler, lambda t: t.final and finals.append(t))
    for first in range(0, len(audio), 320):
        stream.feed(audio[first:first + 320], first / RATE)
    stream.close()
    deadline = time.monotonic() + 120
    while stream.finals_pending and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.close()
    hypothesis = " ".join(t.text for t in sorted(finals, key=lambda t: t.start))
    wer = word_error_rate(words(" ".join(SENTENCES)), words(hypothesis))
    print(f"\nWER {wer:.1%} over {len(words(' '.join(SENTENCES)))} words\nheard: {hypothesis}")
    assert len(finals) == len(spoken)
    assert wer <= MAX_WER
