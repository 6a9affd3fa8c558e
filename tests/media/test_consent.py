"""ICE consent (RFC 7675) under load: late answers keep a connection; silence ends it."""

from __future__ import annotations

import asyncio
from typing import Any

import aioice
import aioice.ice
import aioice.stun
import pytest

from media.aiortc import consent, use_host_addresses

LOOPBACK = "127.0.0.1"


async def connected_pair() -> tuple[aioice.Connection, aioice.Connection]:
    controlling = aioice.Connection(ice_controlling=True, components=1)
    controlled = aioice.Connection(ice_controlling=False, components=1)
    for connection in (controlling, controlled):
        await connection.gather_candidates()
    for connection, other in ((controlling, controlled), (controlled, controlling)):
        for candidate in other.local_candidates:
            await connection.add_remote_candidate(candidate)
        await connection.add_remote_candidate(None)
        connection.remote_username, connection.remote_password = other.local_username, other.local_password
    await asyncio.gather(controlling.connect(), controlled.connect())
    return controlling, controlled


def answer_late(connection: aioice.Connection, delay_s: float) -> None:
    """The peer's event loop is busy: its consent answers leave `delay_s` late."""
    for protocol in connection._protocols:
        send_stun = protocol.send_stun

        def late(message: aioice.stun.Message, addr: Any, send_stun: Any = send_stun) -> None:
            if message.message_class == aioice.stun.Class.RESPONSE:
                asyncio.get_running_loop().call_later(delay_s, send_stun, message, addr)
            else:
                send_stun(message, addr)

        protocol.send_stun = late


@pytest.fixture
def fast_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    use_host_addresses((LOOPBACK,))
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(consent, "CONSENT_EXPIRY_S", 3.0)
    yield
    use_host_addresses(())


async def test_consent_answered_a_second_late_keeps_the_connection(fast_consent: None) -> None:
    """aioice alone would close it after 6 checks unanswered within 0.5 s (~4 s here)."""
    controlling, controlled = await connected_pair()
    try:
        answer_late(controlled, 1.0)
        await asyncio.sleep(6.0)
        await controlling.send(b"still here")
        assert await asyncio.wait_for(controlled.recv(), 2) == b"still here"
    finally:
        await controlling.close()
        await controlled.close()


async def test_consent_never_answered_expires_and_closes_the_connection(fast_consent: None) -> None:
    controlling, controlled = await connected_pair()
    try:
        answer_late(controlled, 3600.0)
        await asyncio.sleep(6.0)  # 3 s of expiry, plus a check's 3.5 s of retries at most
        with pytest.raises(ConnectionError):
            await controlling.send(b"anyone?")
    finally:
        await controlling.close()
        await controlled.close()
