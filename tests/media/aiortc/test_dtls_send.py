"""Guards media/aiortc/dtls_send.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

import aioice.ice
from aiortc.rtcdtlstransport import State

from .guard import check_assigned, check_attributes, check_recorded

MODULE = "dtls_send"


async def test_dtls_send_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc_objects.dtls, ["_state", "_tx_srtp", "_send_rtp", "transport"])
    check_attributes(MODULE, aiortc_objects.ice, ["_connection"])
    check_attributes(MODULE, aiortc_objects.connection, ["_nominated"])
    check_attributes(MODULE, State, ["CONNECTED"])
    check_attributes(MODULE, aioice.ice.CandidatePair, ["remote_addr"])
    check_assigned(MODULE, "aioice.ice.CandidatePair.__init__", ["protocol"])
