"""Summarisers as plug-ins: the registry by name (the two built-ins, code, entry points), and the
base every summariser builds on (metrics, APIError at the boundary, close once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.plugin import APIError, Registry, UnknownPlugin
from summaries.abstractive import AbstractiveSummariser
from summaries.extractive import ExtractiveSummariser
from summaries.registry import SUMMARISERS, SummariserOptions, create_summariser, default_summariser
from summaries.summariser import ClassSummary, Lesson, SummariserBase
from summaries.worker import load_summariser
from tests.plugin_dist import install_plugin

from .test_abstractive import bart_model  # noqa: F401  (a fixture: a locally built random-weights BART)
from .test_extractive import lesson


class Fixed(SummariserBase):
    def __init__(self, options: SummariserOptions = SummariserOptions()) -> None:
        super().__init__("fixed")
        self.released = 0
        self.fail: Exception | None = None

    def _summarise(self, lesson: Lesson) -> ClassSummary:
        if self.fail is not None:
            raise self.fail
        return ClassSummary(f"{len(lesson.sentences)} sentences")

    def _close(self) -> None:
        self.released += 1


def test_the_built_ins_and_how_a_name_is_chosen_by_default():
    assert {"extractive", "abstractive"} <= set(SUMMARISERS.names())
    assert default_summariser(None) == "extractive"
    assert default_summariser(Path("models/bart")) == "abstractive"  # --summary-model alone, as before
    assert issubclass(ExtractiveSummariser, SummariserBase) and issubclass(AbstractiveSummariser, SummariserBase)


def test_the_embedded_default_is_made_by_name_and_measured():
    summariser = load_summariser()
    try:
        assert isinstance(summariser, ExtractiveSummariser)
        summary = summariser.summarise(lesson())
        assert summary.topics
        metrics = summariser.metrics()
        assert metrics["summaries"] == 1 and metrics["errors"] == 0
        assert metrics["sentences"] == len(lesson().sentences) and metrics["name"] == summariser.name
    finally:
        summariser.close()
    summariser.close()
    assert summariser.closed


def test_abstractive_without_a_model_is_a_clear_error():
    with pytest.raises(ValueError, match="--summary-model"):
        create_summariser("abstractive")


def test_an_unknown_summariser_is_a_clear_error_listing_the_known_ones():
    with pytest.raises(UnknownPlugin) as caught:
        create_summariser("gpt-in-the-cloud")
    assert "abstractive, extractive" in str(caught.value) and "aula.summarisers" in str(caught.value)


def test_a_summariser_registered_in_code_is_made_by_name():
    SUMMARISERS.register("fixed", Fixed)
    try:
        summariser = create_summariser("fixed")
        assert summariser.summarise(lesson()).overview == f"{len(lesson().sentences)} sentences"
    finally:
        SUMMARISERS.unregister("fixed")


def test_a_summariser_from_an_installed_package_entry_point(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, "aula.summarisers", "first-line", "aula_test_first_line", """
        from summaries.summariser import ClassSummary, SummariserBase

        class FirstLine(SummariserBase):
            def _summarise(self, lesson):
                return ClassSummary(lesson.sentences[0].text if lesson.sentences else "")

        def create(options):
            return FirstLine("first-line")
    """)
    registry = Registry("summariser", "aula.summarisers")
    summariser = registry.get("first-line")(SummariserOptions())
    assert summariser.summarise(lesson()).overview == lesson().sentences[0].text


def test_a_failure_is_an_api_error_and_close_happens_once():
    summariser = Fixed()
    summariser.fail = MemoryError("model too big")
    with pytest.raises(APIError) as caught:
        summariser.summarise(lesson())
    assert caught.value.retryable and "model too big" in caught.value.message
    assert summariser.metrics()["errors"] == 1
    summariser.close()
    summariser.close()
    assert summariser.released == 1 and summariser.metrics()["closed"] is True
    with pytest.raises(APIError) as caught:
        summariser.summarise(lesson())
    assert not caught.value.retryable


def test_a_summary_model_alone_still_means_abstractive_which_closes_its_extractive_part(bart_model):
    abstractive = load_summariser(bart_model)
    assert isinstance(abstractive, AbstractiveSummariser)
    inner = abstractive._extractive
    abstractive.close()
    abstractive.close()
    assert abstractive.closed and inner.closed


def test_the_extractive_summariser_named_with_a_model_ignores_it(bart_model):
    summariser = load_summariser(bart_model, "extractive")
    assert isinstance(summariser, ExtractiveSummariser)
    summariser.close()
