from __future__ import annotations

import pytest

from summaries.embeddings import SentenceEmbedder
from summaries.extractive import ExtractiveSummariser


@pytest.fixture(scope="session")
def summariser() -> ExtractiveSummariser:
    """The embedded default, on the MiniLM model that ships in its pip package (loaded once)."""
    return ExtractiveSummariser(SentenceEmbedder())
