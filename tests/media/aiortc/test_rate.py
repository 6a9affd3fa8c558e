"""Guards media/aiortc/rate.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

import aiortc.rate

from .guard import check_attributes, check_recorded

MODULE = "rate"


def test_rate_matches_the_aiortc_it_was_written_against() -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc.rate, ["RateCounter", "OveruseEstimator"])
