"""Guards media/aiortc/datagrams.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

import aioice.ice

from .guard import check_annotated, check_attributes, check_recorded

MODULE = "datagrams"


async def test_datagrams_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc_objects.protocol, ["receiver"])
    check_annotated(MODULE, aioice.ice.StunProtocol, ["local_candidate", "transport"])
    check_attributes(MODULE, aiortc_objects.gatherer, ["_connection"])
    check_attributes(MODULE, aiortc_objects.connection, ["_protocols", "data_received"])
