"""Summarisers by name (`aula worker --summariser NAME`).

Built in: `extractive` (the embedded default, on the MiniLM model that ships with pip) and
`abstractive` (a local transformers model, `--summary-model PATH`, writes the overview on top of
the extractive summary). A deployment adds one without touching the workers: a factory
`create(options: SummariserOptions) -> Summariser` (best built on
`summaries.summariser.SummariserBase`), declared in its package's entry point group
`aula.summarisers`, or registered in code with `SUMMARISERS.register(name, factory)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from events.plugin import Registry

from .summariser import Summariser


@dataclass(frozen=True)
class SummariserOptions:
    # A local model folder, for the summarisers that take one (abstractive).
    model: Optional[Path] = None


SummariserFactory = Callable[[SummariserOptions], Summariser]

SUMMARISERS: Registry[SummariserFactory] = Registry("summariser", "aula.summarisers")


def _extractive(options: SummariserOptions) -> Summariser:
    from .extractive import ExtractiveSummariser

    return ExtractiveSummariser()


def _abstractive(options: SummariserOptions) -> Summariser:
    if options.model is None:
        raise ValueError("the abstractive summariser needs a model: --summary-model PATH (AULA_SUMMARY_MODEL)")
    from .abstractive import AbstractiveSummariser

    return AbstractiveSummariser(options.model, _extractive(options))


SUMMARISERS.register("extractive", _extractive)
SUMMARISERS.register("abstractive", _abstractive)


def default_summariser(model: Optional[Path]) -> str:
    """As before names existed: abstractive when a model is given, else extractive."""
    return "extractive" if model is None else "abstractive"


def create_summariser(name: Optional[str], options: SummariserOptions = SummariserOptions()) -> Summariser:
    """The summariser `name` names (None: `default_summariser`), made with `options`."""
    return SUMMARISERS.get(name or default_summariser(options.model))(options)
