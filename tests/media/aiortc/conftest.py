"""Real aiortc and aioice objects for the guard tests, built as the SFU builds them (no
network: nothing is negotiated)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import AsyncIterator

import aioice.ice
import pytest
from aiortc import RTCPeerConnection


@pytest.fixture
async def aiortc_objects() -> AsyncIterator[SimpleNamespace]:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video")
    dtls = transceiver.receiver.transport
    connection = dtls.transport.iceGatherer._connection
    try:
        yield SimpleNamespace(
            pc=pc, receiver=transceiver.receiver, sender=transceiver.sender, dtls=dtls,
            ice=dtls.transport, gatherer=dtls.transport.iceGatherer, connection=connection,
            protocol=aioice.ice.StunProtocol(connection))
    finally:
        await pc.close()
