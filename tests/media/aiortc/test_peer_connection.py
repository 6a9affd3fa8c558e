"""Guards media/aiortc/peer_connection.py: fails, naming it, when aiortc (or aioice) changed under it."""

from __future__ import annotations

from types import SimpleNamespace

from .guard import check_attributes, check_recorded

MODULE = "peer_connection"


async def test_peer_connection_matches_the_aiortc_it_was_written_against(aiortc_objects: SimpleNamespace) -> None:
    check_recorded(MODULE)
    check_attributes(MODULE, aiortc_objects.pc, ["_RTCPeerConnection__dtlsTransports"])
    check_attributes(MODULE, aiortc_objects.dtls, ["_RTCDtlsTransport__rx_packets"])
    check_attributes(MODULE, aiortc_objects.connection, ["request_received"])
