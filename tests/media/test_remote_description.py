"""A client's SDP is parsed once: the SFU's check hands its parse on to aiortc."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc import RTCPeerConnection

from media.aiortc import remote_description
from media.sdp import check_session_description


async def test_an_answer_checked_by_the_sfu_is_not_parsed_again_by_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    aiortc_parse = remote_description.AIORTC_PARSE

    def counting_parse(cls: Any, sdp: str) -> Any:
        parsed.append(sdp)
        return aiortc_parse(cls, sdp)

    monkeypatch.setattr(remote_description, "AIORTC_PARSE", counting_parse)
    server, client = RTCPeerConnection(), RTCPeerConnection()
    try:
        for kind in ("audio", "video", "video"):
            server.addTransceiver(kind, direction="sendonly")
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        answer = client.localDescription.sdp
        parsed.clear()

        await remote_description.set_remote_description(server, answer, "answer", check_session_description(answer))
        assert parsed == [answer]  # the check's parse only
        assert server.signalingState == "stable"
        assert [t.currentDirection for t in server.getTransceivers()] == ["sendonly"] * 3

        # Any other parse (another string) is aiortc's own, as before.
        await server.setLocalDescription(await server.createOffer())
        await client.setRemoteDescription(server.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        parsed.clear()
        await server.setRemoteDescription(client.localDescription)
        assert parsed == [client.localDescription.sdp]
    finally:
        await server.close()
        await client.close()
