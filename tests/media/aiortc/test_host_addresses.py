"""Guards media/aiortc/host_addresses.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

import aioice.ice

from .guard import check_attributes, check_recorded

MODULE = "host_addresses"


def test_host_addresses_matches_the_aiortc_it_was_written_against() -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aioice.ice, ["get_host_addresses"])
