"""Guards media/aiortc/dtls_receive.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

from .guard import check_attributes, check_recorded

MODULE = "dtls_receive"


async def test_dtls_receive_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    dtls = aiortc_objects.dtls
    check_attributes(MODULE, dtls, [
        "_RTCDtlsTransport__rx_bytes", "_RTCDtlsTransport__rx_packets", "_rx_srtp",
        "_rtp_header_extensions_map", "_rtp_router"])
    check_attributes(MODULE, dtls._rtp_router, ["ssrc_table", "route_rtp"])
    check_attributes(MODULE, aiortc_objects.ice, ["_connection"])
