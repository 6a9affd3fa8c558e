"""Guards media/aiortc/consent.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

import aioice.ice
import aioice.stun

from .guard import check_attributes, check_recorded

MODULE = "consent"


async def test_consent_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc_objects.connection, [
        "_nominated", "remote_password", "local_username", "_query_consent_task", "build_request"])
    check_attributes(MODULE, aioice.ice, ["CONSENT_INTERVAL"])
    check_attributes(MODULE, aioice.stun, ["TransactionError", "TransactionFailed"])
