"""The signaling socket fuzzed by a student's connection while a live class goes on beside it:
every frame gets a clear, documented answer (never internal_error, never a dropped socket), the
server keeps answering, the class's media keeps flowing and the room still takes newcomers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, Union

import aiohttp
import pytest
from hypothesis import given, settings

from tests.fuzz.conftest import FUZZ_SETTINGS, LiveClass, LoopBridge
from tests.fuzz.signaling_strategies import OFFER_SDP, TEMPLATES, frames

# The loop thread's own use of `random` (WebSocket masks, ICE) is not the strategies' doing.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

SIGNALING_DOC = Path(__file__).resolve().parents[2] / "docs" / "signaling.md"
EXAMPLES = 1000


def documented_error_codes() -> set[str]:
    """The codes of docs/signaling.md's "Error codes" table."""
    section = SIGNALING_DOC.read_text().split("## Error codes", 1)[1].split("\n## ", 1)[0]
    return {code for row in section.splitlines() if row.startswith("| `")
            for code in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


class Fuzzer:
    """One participant's raw socket: sends a frame, then a ping, and collects what the server
    said until the matching pong (so each answer is known to belong to its frame)."""

    def __init__(self, live: LiveClass, token: str) -> None:
        self._live, self._token = live, token
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._sequence = 0

    async def connect(self) -> None:
        url = f"{self._live.server.base_url.replace('http', 'ws')}/api/rtc?token={self._token}"
        self._ws = await self._live.server.http.ws_connect(url, max_msg_size=0)
        joined = json.loads((await self._ws.receive(timeout=10)).data)
        assert joined["type"] == "joined", joined

    async def exchange(self, frame: Union[str, bytes], timeout: float = 20.0) -> list[dict[str, Any]]:
        if self._ws is None or self._ws.closed:  # a failed example must not fail the next ones
            await self.connect()
        assert self._ws is not None
        self._sequence += 1
        marker = f"fuzz-{self._sequence}"
        if isinstance(frame, bytes):
            await self._ws.send_bytes(frame)
        else:
            await self._ws.send_str(frame)
        await self._ws.send_str(json.dumps({"type": "ping", "ts": marker}))
        replies: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                received = await self._ws.receive()
                if received.type != aiohttp.WSMsgType.TEXT:
                    return [*replies, {"type": "socket_closed", "code": self._ws.close_code}]
                message = json.loads(received.data)
                if message == {"type": "pong", "ts": marker}:
                    return replies
                replies.append(message)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def check_answers(frame: Union[str, bytes], replies: list[dict[str, Any]], codes: set[str]) -> None:
    shown = repr(frame[:200])
    for reply in replies:
        assert reply["type"] != "socket_closed", f"the server dropped the socket after {shown}: {reply}"
        if reply["type"] == "error":
            assert reply["code"] in codes - {"internal_error"}, f"{shown} → {reply}"
            assert isinstance(reply["message"], str) and reply["message"], f"{shown} → {reply}"


def test_the_documented_codes_are_read_from_the_docs():
    codes = documented_error_codes()
    assert {"bad_json", "bad_sdp", "unknown_type", "internal_error", "join_rate_limited"} <= codes


async def test_fuzzed_signaling_gets_clear_errors_while_the_class_goes_on(live_class: LiveClass,
                                                                          bridge: LoopBridge):
    codes = documented_error_codes()
    fuzzer = Fuzzer(live_class, await live_class.token("mallory"))
    await fuzzer.connect()
    seen: dict[str, int] = {}

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES)
    @given(frame=frames)
    def fuzz(frame: Union[str, bytes]) -> None:
        replies = bridge.run(lambda: fuzzer.exchange(frame))
        check_answers(frame, replies, codes)
        for reply in replies:
            key = reply["code"] if reply["type"] == "error" else reply["type"]
            seen[key] = seen.get(key, 0) + 1

    try:
        await asyncio.to_thread(fuzz)
        # The fuzzer's own connection still works, every message type is still handled, and
        # its publisher connection still takes a good offer after all the bad ones...
        for template in TEMPLATES.values():
            check_answers(json.dumps(template), await fuzzer.exchange(json.dumps(template)), codes)
        replies = await fuzzer.exchange(json.dumps(TEMPLATES["offer"]))
        assert [r["type"] for r in replies if r["type"] in ("answer", "error")] == ["answer"], replies
        # ...the class never lost its media, and the room still admits somebody new.
        await live_class.media.assert_still_flowing()
        await live_class.assert_a_newcomer_gets_the_media("newcomer")
        assert {"teacher", "student"} <= set(live_class.server.sfu.rooms[live_class.session_id].participants)
    finally:
        await fuzzer.close()
    # The fuzz reached past the parser into the handlers (not one kind of refusal throughout).
    assert {"bad_json", "unknown_type", "bad_message", "bad_sdp", "too_large", "forbidden"} <= set(seen), seen
    assert "answer" in seen, seen  # some offers were good enough to publish


async def test_a_frame_over_the_socket_limit_closes_only_that_socket(live_class: LiveClass):
    fuzzer = Fuzzer(live_class, await live_class.token("mallory"))
    await fuzzer.connect()
    replies = await fuzzer.exchange(json.dumps({"type": "offer", "target": "publisher",
                                                "sdp": OFFER_SDP * 1000, "tracks": []}))
    # The room's news (who is speaking) may come first; nothing answers the frame but the close.
    assert replies[-1] == {"type": "socket_closed", "code": 1009}, replies
    assert not [r for r in replies[:-1] if r["type"] in ("answer", "error")], replies
    await fuzzer.close()
    await live_class.media.assert_still_flowing()
    # The same participant comes back at once (no reconnect grace to wait out).
    again = Fuzzer(live_class, await live_class.token("mallory"))
    await again.connect()
    assert await again.exchange(json.dumps({"type": "leave"})) == [
        {"type": "socket_closed", "code": 1000}]
    await again.close()
