"""`kill -9` of the server in the middle of a recorded class, and a restart on the same port,
data dir and Redis: the class goes on where it was.

The student is a real Chromium page that joined with `&autojoin=1` and reconnects by itself;
the instructor is an aiortc client, which (as a test stand-in) joins again as a new client.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from client import ClientOptions, RtcClient
from events.bus import session_stream
from recording.manifest import read_manifest
from tests.conftest import free_port, iso
from tests.recording.test_crash_safety import KEY, start_server
from tests.server.test_cli import wait_for_health
from tests.classroom.test_live_session import of_type, roster, seconds
from tests.synthetic import EncodedToneTrack, EncodedVideoTrack

pytestmark = pytest.mark.browser

HEADERS = {"Authorization": f"Bearer {KEY}"}
# From the session's creation to its scheduled end: the class, the kill, the restart and the
# checks after it, with room to spare on a busy machine; the automatic end then falls due in
# the second process.
CLASS_S = 35.0


class Server:
    """`python -m server` on a fixed port, data dir and Redis, that can be killed and started again."""

    def __init__(self, redis_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._redis_url = redis_url
        self._data_dir = data_dir
        self._process: subprocess.Popen | None = None

    async def start(self) -> None:
        self._process = start_server(self.port, self._redis_url, self._data_dir)
        await asyncio.to_thread(wait_for_health, self.port, self._process)

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait(20)


async def session_events(redis: aioredis.Redis, session_id: str) -> list[dict[str, Any]]:
    return [json.loads(fields[b"event"]) for _, fields in await redis.xrange(session_stream(session_id))]


async def wait_for_event(redis: aioredis.Redis, session_id: str, event_type: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = of_type(await session_events(redis, session_id), event_type)
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {event_type} within {timeout} s"
        await asyncio.sleep(0.2)


async def instructor(base_url: str, token: str) -> RtcClient:
    client = RtcClient(base_url, token, {"camera": EncodedVideoTrack(), "microphone": EncodedToneTrack(440)},
                       ClientOptions(decode=False))
    await client.connect()
    return client


async def packets_flow(client: RtcClient, identity: str) -> None:
    """`identity`'s audio and video reach `client` and keep coming."""
    tracks = [t for t in await client.wait_for_tracks(2) if t.identity == identity]
    assert len(tracks) == 2, [(t.identity, t.source) for t in client.remote_tracks.values()]
    before = [t.packets for t in tracks]
    await asyncio.sleep(0.5)
    assert all(t.packets > count for t, count in zip(tracks, before))


async def test_a_class_survives_kill_9_of_the_server(redis_server: Any, tmp_path: Path, open_page: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AULA_END_GRACE", "0")  # the automatic end at scheduled_end itself
    data_dir = tmp_path / "data"
    server = Server(redis_server.url, data_dir)
    redis = aioredis.from_url(redis_server.url)
    teacher: RtcClient | None = None
    try:
        await server.start()
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            async with http.post(f"{server.base_url}/api/sessions", json={
                    "title": "Geometry", "scheduled_start": iso(), "scheduled_end": iso(CLASS_S),
                    "roster": roster("sam"), "instructors": ["rivera"],
                    "settings": {"recording": True}}) as response:
                assert response.status == 201, await response.text()
                session = await response.json()
            sid = session["id"]
            tokens = {}
            for identity, role in (("rivera", "instructor"), ("sam", "student")):
                async with http.post(f"{server.base_url}/api/sessions/{sid}/tokens",
                                     json={"identity": identity, "name": identity.title(), "role": role}) as response:
                    tokens[identity] = await response.json()

            teacher = await instructor(server.base_url, tokens["rivera"]["token"])
            sam = await open_page("sam", tokens["sam"]["join_url"] + "&autojoin=1")
            await sam.wait_for_phase("joined", timeout=40)  # a first Chromium join on a busy 2-core machine
            first_video = (await sam.wait_playing("rivera"))["videoTrackId"]
            await packets_flow(teacher, "sam")
            recordings = data_dir / "sessions" / sid / "recordings"
            await asyncio.sleep(2.0)  # a few seconds of every track on disk
            cut = {t.file for t in read_manifest(recordings)}
            assert len(cut) == 4  # both participants' microphone and camera

            killed_at = time.time()
            server.kill()
            await teacher.close(leave=False)
            await server.start()

            # The page rejoins by itself; the instructor's client joins again; media flows both ways.
            teacher = await instructor(server.base_url, tokens["rivera"]["token"])
            await sam.wait_for_phase("joined", timeout=20)
            again = await sam.wait_playing("rivera", not_track=first_video)
            assert again["mean"] > 20
            assert (await sam.state())["reconnects"] >= 1  # the same page, not a reload
            await sam.page.wait_for_selector("#recording-indicator", state="visible", timeout=5000)  # as `joined` said
            await packets_flow(teacher, "sam")

            # The same session, still open, live with both participants.
            async with http.get(f"{server.base_url}/api/sessions/{sid}") as response:
                assert response.status == 200
                live = await response.json()
            assert live["id"] == sid and live["ended_at"] is None
            assert sorted(p["identity"] for p in live["room"]["participants"]) == ["rivera", "sam"]

            # The cut tracks are interrupted; recording resumed in new files for the rejoined tracks.
            tracks = {t.file: t for t in read_manifest(recordings)}
            assert all(tracks[file].status == "interrupted" and tracks[file].duration_s > 1.0 for file in cut)
            resumed = [t for file, t in tracks.items() if file not in cut and t.status == "recording"]
            assert sorted((t.participant, t.source) for t in resumed) == [
                ("rivera", "camera"), ("rivera", "microphone"), ("sam", "camera"), ("sam", "microphone")]

            # The automatic end, scheduled by the first process, fires in the second.
            ended = await wait_for_event(redis, sid, "session.ended", timeout=CLASS_S)
            assert ended["data"]["reason"] == "scheduled_end"
        events = await session_events(redis, sid)

        # One class, not two: the second process carries on from the first start.
        (started,) = of_type(events, "session.started")
        class_start = seconds(started["data"]["started_at"])
        assert ended["data"]["duration_s"] == pytest.approx(seconds(ended["data"]["ended_at"]) - class_start, abs=0.01)
        # One person with two intervals: the one the kill cut ends at the crash, not at the rejoin.
        (summary,) = of_type(events, "attendance.summary")
        (record,) = [r for r in summary["data"]["records"] if r["identity"] == "sam"]
        assert record["category"] == "present" and len(record["intervals"]) == 2, record
        first, second = record["intervals"]
        assert killed_at - 2.0 <= seconds(first["left_at"]) <= killed_at, (first, killed_at)
        assert seconds(second["joined_at"]) >= killed_at
        assert [e["data"]["rejoin"] for e in of_type(events, "participant.joined") if e["participant"] == "sam"] == [False, True]
        cut_off, at_the_end = [e for e in of_type(events, "participant.left") if e["participant"] == "sam"]
        assert cut_off["data"]["reason"] == "disconnected" and cut_off["ts"] == first["left_at"]
        assert at_the_end["data"]["reason"] == "session_ended"

        # Recording.finished at the end lists the resumed files (placed on the class's own
        # timeline); recordings.json lists both sets.
        finished = of_type(events, "recording.finished")[-1]
        assert {f["file"] for f in finished["data"]["files"]} == {t.file for t in resumed}
        assert all(f["offset_s"] >= killed_at - class_start for f in finished["data"]["files"])
        final = {t.file: t.status for t in read_manifest(recordings)}
        assert final == {**{file: "interrupted" for file in cut}, **{t.file: "complete" for t in resumed}}
    finally:
        if teacher is not None:
            await teacher.close()
        server.stop()
        await redis.aclose()
