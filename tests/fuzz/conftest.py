"""The fuzz suite's stage: a live class (an instructor publishing, a student receiving, real aiortc
peers) that must keep its media flowing while the fuzzers hit the same server.

Hypothesis and schemathesis run their (synchronous) examples on a worker thread; the server and
the peers stay on the test's event loop, reached through `LoopBridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings

from client import ClientOptions, RtcClient
from server.rate_limit import RateLimit
from tests.conftest import AulaServer, RedisServer, loopback_settings, running_aula
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack, ToneTrack

T = TypeVar("T")

# Reproducible in CI: the same examples on every run, no example database carried between runs.
FUZZ_SETTINGS = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                         suppress_health_check=list(HealthCheck),
                         phases=(Phase.explicit, Phase.generate, Phase.shrink))
# A live peer's track that gets no packet for this long has stopped: on loopback they come every
# 20-33 ms, so only a stuck event loop or a broken forwarding path makes a gap this long.
MEDIA_STALL_S = 3.0


@dataclass
class LoopBridge:
    """Runs the test loop's coroutines from the fuzzers' worker thread."""

    loop: asyncio.AbstractEventLoop

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def call() -> T:
            return await make()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)


@dataclass
class MediaWatch:
    """Every 0.1 s, how many packets the receiving peer has had per track of `sender`: the
    longest time any of them got none, from `start` on."""

    client: RtcClient
    sender: str
    longest_stall_s: float = 0.0
    _task: Optional[asyncio.Task[None]] = None
    _seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for mid, track in list(self.client.remote_tracks.items()):
                if track.identity != self.sender:
                    continue
                count, since = self._seen.get(mid, (-1, now))
                if track.packets != count:
                    self._seen[mid] = (track.packets, now)
                else:
                    self.longest_stall_s = max(self.longest_stall_s, now - since)
            await asyncio.sleep(0.1)

    def packets(self) -> dict[str, int]:
        return {t.source: t.packets for t in self.client.remote_tracks.values() if t.identity == self.sender}

    async def assert_still_flowing(self, seconds: float = 2.0) -> None:
        """Every track got packets over the next `seconds`, and none ever stalled."""
        before = self.packets()
        await asyncio.sleep(seconds)
        after = self.packets()
        assert set(after) == set(before) == {"microphone", "camera"}, (before, after)
        assert all(after[name] > before[name] + 10 for name in before), (before, after)
        assert self.longest_stall_s < MEDIA_STALL_S, (
            f"a live track got no packet for {self.longest_stall_s:.1f} s")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class LiveClass:
    server: AulaServer
    session_id: str
    instructor: RtcClient
    student: RtcClient
    media: MediaWatch

    async def token(self, identity: str, role: str = "student", **extra: Any) -> str:
        return (await self.server.token(self.session_id, identity, role=role, **extra))["token"]

    async def assert_a_newcomer_gets_the_media(self, identity: str) -> None:
        newcomer = await join(self.server, self.session_id, identity,
                              options=ClientOptions(decode=False))
        try:
            await newcomer.wait_for_tracks(2)
        finally:
            await newcomer.close()


@pytest.fixture
async def fuzz_server(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[AulaServer]:
    """Aula with the rate limits out of the way (fuzzers send and join as fast as the server
    answers; the limits have tests of their own)."""
    unlimited = RateLimit(per_s=100_000, burst=100_000)
    settings = loopback_settings(redis_server.url, tmp_path / "data", message_limit=unlimited,
                                 join_limit_address=unlimited, join_limit_identity=unlimited)
    async with running_aula(settings) as server:
        yield server


@pytest.fixture
async def live_class(fuzz_server: AulaServer) -> AsyncIterator[LiveClass]:
    session = await fuzz_server.create_session(
        roster=[{"identity": "student", "name": "Sam",
                 "guardian": {"name": "Pat", "email": "pat@example.org"}}])
    instructor = await join(fuzz_server, session["id"], "teacher", role="instructor",
                            publish={"microphone": ToneTrack(440), "camera": ColourTrack((220, 30, 30))},
                            options=ClientOptions(decode=False))
    student = await join(fuzz_server, session["id"], "student", options=ClientOptions(decode=False))
    media = MediaWatch(student, "teacher")
    try:
        await student.wait_for_tracks(2)
        media.start()
        yield LiveClass(fuzz_server, session["id"], instructor, student, media)
    finally:
        await media.close()
        await student.close()
        await instructor.close()


@pytest.fixture
async def bridge() -> LoopBridge:
    return LoopBridge(asyncio.get_running_loop())
