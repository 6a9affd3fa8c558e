"""Student-data stewardship: one student's media deleted on request; a session's recordings
deleted when its retention period runs out; what went stays on record in recordings.json."""

from __future__ import annotations

import asyncio
import time

from client import ClientOptions
from recording.manifest import read_manifest
from server.context import CONTEXT
from classroom.timers import TIMERS_KEY
from tests.media.test_forwarding import join
from tests.synthetic import EncodedToneTrack


async def recorded_class(server, **settings):
    session = await server.create_session(settings={"recording": True, **settings})
    clients = [await join(server, session["id"], who, publish={"microphone": EncodedToneTrack(440)},
                          options=ClientOptions(decode=False)) for who in ("ann", "bob")]
    await asyncio.sleep(1.5)
    url = f"{server.base_url}/api/sessions/{session['id']}"
    async with server.http.delete(f"{url}/recordings/ann", headers=server.headers) as response:
        assert response.status == 409  # still being recorded
    for client in clients:
        await client.close()
    await server.end_session(session["id"])
    return session, server.data_dir / "sessions" / session["id"] / "recordings"


async def test_one_students_recordings_are_deleted_on_request(aula_server):
    session, folder = await recorded_class(aula_server)
    url = f"{aula_server.base_url}/api/sessions/{session['id']}/recordings/ann"
    async with aula_server.http.delete(url, headers=aula_server.headers) as response:
        body = await response.json()
    assert response.status == 200 and len(body["deleted"]) == 1
    tracks = {t.participant: t for t in read_manifest(folder)}
    assert tracks["ann"].status == "deleted" and tracks["ann"].deleted_at
    assert not (folder / tracks["ann"].file).exists()
    assert tracks["bob"].status == "complete" and (folder / tracks["bob"].file).exists()
    async with aula_server.http.delete(url, headers=aula_server.headers) as response:
        assert (await response.json())["deleted"] == []  # nothing more to delete


async def test_recordings_are_deleted_when_the_retention_period_ends(aula_server):
    session, folder = await recorded_class(aula_server, recording_retention_days=30)
    timers = aula_server.app[CONTEXT].live.timers
    redis = aula_server.app[CONTEXT].redis
    # Other tests' timers share this Redis: leave only this session's before moving the clock.
    for member in await redis.zrange(TIMERS_KEY, 0, -1):
        if session["id"].encode() not in member:
            await redis.zrem(TIMERS_KEY, member)
    await timers.fire_due(now=time.time() + 29 * 86400)  # (its no-show check fires here)
    assert all((folder / t.file).exists() for t in read_manifest(folder))
    assert await timers.fire_due(now=time.time() + 31 * 86400) == 1
    tracks = read_manifest(folder)
    assert len(tracks) == 2 and all(t.status == "deleted" and not (folder / t.file).exists() for t in tracks)


async def test_a_retention_period_must_be_whole_days(aula_server):
    for bad in (0, -3, 1.5, "30", True):
        async with aula_server.http.post(f"{aula_server.base_url}/api/sessions", headers=aula_server.headers,
                                         json={"title": "x", "scheduled_start": "2030-01-01T10:00:00Z",
                                               "scheduled_end": "2030-01-01T11:00:00Z", "roster": [],
                                               "instructors": [], "settings": {"recording_retention_days": bad}}
                                         ) as response:
            assert response.status == 400, bad
