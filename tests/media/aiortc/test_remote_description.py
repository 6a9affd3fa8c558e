"""Guards media/aiortc/remote_description.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from aiortc.sdp import SessionDescription

from .guard import check_attributes, check_recorded

MODULE = "remote_description"


def test_remote_description_matches_the_aiortc_it_was_written_against() -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, SessionDescription, ["parse"])
