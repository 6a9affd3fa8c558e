"""Speech engines as plug-ins: the registry by name (built-ins, code, entry points), and the
base every engine builds on (metrics, APIError at the boundary, close once)."""

from __future__ import annotations

import numpy as np
import pytest

from events.plugin import APIError, Registry, UnknownPlugin
from tests.plugin_dist import install_plugin
from transcription.engine import SAMPLE_RATE, Segment, SttEngine, SttSettings
from transcription.faster_whisper_engine import FasterWhisperEngine, WhisperSettings
from transcription.registry import STT_ENGINES, create_engine
from transcription.scheduler import RecognitionScheduler, Request


class Echo(SttEngine):
    name = "echo"

    def __init__(self, settings: SttSettings) -> None:
        super().__init__(settings.language)
        self.released = 0
        self.fail: Exception | None = None

    def _transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        if self.fail is not None:
            raise self.fail
        return [Segment(0.0, len(audio) / SAMPLE_RATE, "final" if final else "partial", 0.9)]

    def _close(self) -> None:
        self.released += 1


def test_faster_whisper_is_built_in_and_the_default():
    assert "faster-whisper" in STT_ENGINES.names()
    assert SttSettings("model").engine == "faster-whisper"
    assert WhisperSettings is SttSettings  # the settings' first name still works
    assert issubclass(FasterWhisperEngine, SttEngine)


def test_the_default_engine_is_made_from_the_registry(tmp_path):
    with pytest.raises(ValueError, match="no CTranslate2 Whisper model"):  # faster-whisper's own check
        create_engine(SttSettings(str(tmp_path / "missing")))


def test_an_unknown_engine_is_a_clear_error_listing_the_known_ones():
    with pytest.raises(UnknownPlugin) as caught:
        create_engine(SttSettings("model", engine="wav2vec-cloud"))
    message = str(caught.value)
    assert "unknown speech engine 'wav2vec-cloud'" in message and "faster-whisper" in message
    assert "aula.stt" in message


def test_an_engine_registered_in_code_is_made_by_name():
    STT_ENGINES.register("echo", Echo)
    try:
        engine = create_engine(SttSettings("unused", language="fr", engine="echo"))
        assert isinstance(engine, Echo) and engine.language == "fr"
        assert "echo" in STT_ENGINES.names()
    finally:
        STT_ENGINES.unregister("echo")
    assert "echo" not in STT_ENGINES.names()


def test_an_engine_from_an_installed_package_entry_point(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, "aula.stt", "silent", "aula_test_silent_stt", """
        from transcription.engine import SttEngine

        class Silent(SttEngine):
            name = "silent"

            def _transcribe(self, audio, *, final):
                return []

        def create(settings):
            return Silent(settings.language)
    """)
    registry = Registry("speech engine", "aula.stt")  # reads the entry points afresh
    assert "silent" in registry.names() and "silent" in registry
    engine = registry.get("silent")(SttSettings("unused"))
    assert engine.transcribe(np.zeros(SAMPLE_RATE, np.float32), final=True) == []
    assert engine.metrics()["finals"] == 1


def test_the_base_counts_calls_and_audio():
    engine = Echo(SttSettings("unused"))
    second = np.zeros(SAMPLE_RATE, np.float32)
    assert engine.transcribe(second, final=False)[0].text == "partial"
    assert engine.transcribe(second, final=True)[0].text == "final"
    metrics = engine.metrics()
    assert metrics["name"] == "echo" and metrics["finals"] == 1 and metrics["partials"] == 1
    assert metrics["errors"] == 0 and metrics["audio_s"] == 2.0 and metrics["closed"] is False


def test_an_engine_failure_is_a_retryable_api_error_and_counted():
    engine = Echo(SttSettings("unused"))
    engine.fail = RuntimeError("CUDA out of memory")
    with pytest.raises(APIError) as caught:
        engine.transcribe(np.zeros(160, np.float32), final=True)
    assert caught.value.retryable and "CUDA out of memory" in caught.value.message
    engine.fail = APIError("quota exhausted", retryable=False)
    with pytest.raises(APIError) as caught:
        engine.transcribe(np.zeros(160, np.float32), final=True)
    assert caught.value.retryable is False  # an engine's own APIError passes as it is
    assert engine.metrics()["errors"] == 2 and engine.metrics()["finals"] == 0


def test_close_is_idempotent_and_a_closed_engine_refuses_calls():
    engine = Echo(SttSettings("unused"))
    engine.close()
    engine.close()
    assert engine.released == 1 and engine.closed and engine.metrics()["closed"] is True
    with pytest.raises(APIError) as caught:
        engine.transcribe(np.zeros(160, np.float32), final=True)
    assert caught.value.retryable is False


def test_a_scheduler_closes_the_engine_it_was_handed_and_shows_its_metrics():
    engine = Echo(SttSettings("unused"))
    scheduler = RecognitionScheduler(engine, workers=1, owns_engine=True)
    done: list = []
    scheduler.submit(Request("ann", np.zeros(SAMPLE_RATE, np.float32), True, done.append))
    scheduler.close()
    assert done and done[0][0].text == "final"
    assert scheduler.metrics()["engine"]["finals"] == 1
    assert engine.released == 1
    shared = Echo(SttSettings("unused"))
    RecognitionScheduler(shared, workers=1).close()  # not handed over: left open
    assert not shared.closed
