"""Guards media/aiortc/sender_reports.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

import aiortc.rtp

from .guard import check_attributes, check_recorded

MODULE = "sender_reports"


def test_sender_reports_matches_the_aiortc_it_was_written_against() -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc.rtp, ["RTCP_SDES", "pack_rtcp_packet"])
