"""Silero, streamed: utterance boundaries of synthesised speech, and nothing from noise."""

from __future__ import annotations

import numpy as np
import pytest

from transcription.vad import CHUNK, Segmenter, SileroModel, VoiceProbability

from .speech import RATE, script


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return SileroModel()


def utterances(silero: SileroModel, audio: np.ndarray, block: int = 320) -> list[tuple[float, float]]:
    probability, segmenter = VoiceProbability(silero), Segmenter()
    found, start, at = [], None, 0.0
    for first in range(0, len(audio), block):
        for p in probability.feed(audio[first:first + block]):
            activity = segmenter.observe(float(p), at)
            at += CHUNK / RATE
            if activity.started is not None:
                start = activity.started
            if activity.ended is not None:
                found.append((start, activity.ended))
    return found


def test_each_sentence_is_one_utterance_at_its_true_time(silero):
    audio, spoken = script(["The quick brown fox jumps over the lazy dog.",
                            "Water boils at one hundred degrees.", "Yes."])
    found = utterances(silero, audio)
    assert len(found) == len(spoken), found
    for (start, end), truth in zip(found, spoken):
        assert abs(start - truth.start) <= 0.25, (start, truth)
        assert abs(end - truth.end) <= 0.25, (end, truth)


def test_a_pause_shorter_than_the_minimum_silence_stays_inside_the_utterance(silero):
    audio, spoken = script(["First half of the thought", "and the second half."], gap_s=0.3)
    found = utterances(silero, audio)
    assert len(found) == 1, found
    assert abs(found[0][0] - spoken[0].start) <= 0.25 and abs(found[0][1] - spoken[1].end) <= 0.25


def test_silence_and_steady_noise_are_not_speech(silero):
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(RATE * 5) * 0.01).astype(np.float32)
    assert utterances(silero, np.zeros(RATE * 5, np.float32)) == []
    assert utterances(silero, noise) == []


def test_probabilities_do_not_depend_on_how_the_audio_is_cut(silero):
    audio, _ = script(["Photosynthesis turns light into chemical energy."])
    whole = VoiceProbability(silero).feed(audio)
    cut = VoiceProbability(silero)
    pieces = np.concatenate([cut.feed(audio[i:i + 333]) for i in range(0, len(audio), 333)])
    assert len(whole) == len(audio) // CHUNK
    np.testing.assert_allclose(pieces, whole[:len(pieces)], atol=1e-5)
