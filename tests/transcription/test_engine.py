"""The faster-whisper engine on a locally built model: loads offline, bounded, times clipped."""

from __future__ import annotations

import pytest

from transcription.faster_whisper_engine import FasterWhisperEngine, WhisperSettings

from .speech import RATE, script


def test_a_missing_model_is_a_clear_error_not_a_download(tmp_path):
    with pytest.raises(ValueError, match="no CTranslate2 Whisper model"):
        FasterWhisperEngine(WhisperSettings(str(tmp_path / "tiny.en")))
    with pytest.raises(ValueError, match="no CTranslate2 Whisper model"):
        FasterWhisperEngine(WhisperSettings("tiny.en"))  # a hub name is not a path


def test_segments_and_words_stay_inside_the_audio(whisper_model):
    engine = FasterWhisperEngine(WhisperSettings(whisper_model, max_tokens=12, fallback_temperatures=()))
    audio, _ = script(["Water boils at one hundred degrees."], lead_s=0.2, tail_s=0.2)
    duration = len(audio) / RATE
    for final in (False, True):
        segments = engine.transcribe(audio, final=final)
        for segment in segments:
            assert 0 <= segment.start <= segment.end <= duration
            assert 0 <= segment.confidence <= 1 and 0 <= segment.no_speech_prob <= 1
            assert all(0 <= w.start <= w.end <= duration for w in segment.words)
            assert final or not segment.words  # word times only for finals
