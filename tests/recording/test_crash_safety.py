"""kill -9 in the middle of a recorded class: every file written so far plays up to its last
seconds, and after a restart the manifest says which tracks were cut off and how much is kept."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import av

from client import ClientOptions, RtcClient
from recording.manifest import read_manifest
from tests.conftest import free_port
from tests.server.test_cli import wait_for_health
from tests.synthetic import EncodedToneTrack, EncodedVideoTrack

ROOT = Path(__file__).resolve().parents[2]
KEY = "crash-test-key"


def start_server(port: int, redis_url: str, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port), "--redis-url", redis_url,
         "--data-dir", str(data_dir), "--ice-addresses", "127.0.0.1", "--api-key", KEY,
         # No worker: it would work through the whole suite's events on the suite's Redis.
         "--secret", "crash-test-secret-long-enough-for-hs256", "--no-worker"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def test_recordings_survive_kill_9_and_are_marked_interrupted_on_restart(redis_server, tmp_path):
    from tests.conftest import iso

    port, data_dir = free_port(), tmp_path / "data"
    headers = {"Authorization": f"Bearer {KEY}"}
    base = f"http://127.0.0.1:{port}"
    server = start_server(port, redis_server.url, data_dir)
    try:
        await asyncio.to_thread(wait_for_health, port, server)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/sessions", headers=headers, json={
                    "title": "Crash", "scheduled_start": iso(), "scheduled_end": iso(3600),
                    "roster": [], "instructors": [], "settings": {"recording": True}}) as response:
                session = await response.json()
            async with http.post(f"{base}/api/sessions/{session['id']}/tokens", headers=headers,
                                 json={"identity": "sam", "name": "Sam", "role": "student"}) as response:
                token = (await response.json())["token"]
        student = RtcClient(base, token, {"microphone": EncodedToneTrack(440), "camera": EncodedVideoTrack()},
                            ClientOptions(decode=False))
        await student.connect()
        try:
            await student.wait_for(lambda m: m["type"] == "recording" or
                                   (m["type"] == "joined" and m["recording"]["active"]))
            await asyncio.sleep(4.0)
            server.send_signal(signal.SIGKILL)
            server.wait(10)
        finally:
            await student.close()

        folder = data_dir / "sessions" / session["id"] / "recordings"
        before = {t.source: t for t in read_manifest(folder)}
        assert set(before) == {"microphone", "camera"} and all(t.status == "recording" for t in before.values())
        for track in before.values():  # playable as the crash left them
            with av.open(str(folder / track.file)) as container:
                frames = sum(1 for _ in container.decode(container.streams[0]))
            assert frames > 0

        server = start_server(port, redis_server.url, data_dir)
        await asyncio.to_thread(wait_for_health, port, server)
        after = {t.source: t for t in read_manifest(folder)}
        assert all(t.status == "interrupted" for t in after.values())
        # Up to its last seconds: the audio holds nearly all of the ~4 s before the kill.
        assert 2.5 <= after["microphone"].duration_s <= 5.0, after["microphone"]
        assert after["camera"].duration_s >= 2.0 and after["camera"].frames > 50
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.wait(20)
