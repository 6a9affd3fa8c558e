"""A restart takes over the classes of the process before it (tests/faults/test_server_kill.py: after kill -9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import json

import pytest
import redis.asyncio as aioredis

from client import ClientOptions, RtcClient, SignalingError
from engagement.attendance import AttendanceRecord
from events import Event, EventType
from events.bus import EventBus
from events.schema import validate
from recording.manifest import read_manifest
from engagement.attendance_store import AttendanceStore
from classroom.recovery import LiveClass, close_cut_intervals
from tests.conftest import RedisServer, loopback_settings, running_aula
from tests.media.test_forwarding import join
from tests.classroom.test_live_session import of_type, roster, seconds
from tests.synthetic import EncodedVideoTrack


async def test_a_class_goes_on_after_a_clean_restart(redis_server: RedisServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    recordings = data_dir / "sessions"
    async with running_aula(loopback_settings(redis_server.url, data_dir)) as first:
        session = await first.create_session(roster=roster("sam"), settings={"recording": True})
        sid = session["id"]
        sam = await join(first, sid, "sam", {"camera": EncodedVideoTrack()}, options=ClientOptions(decode=False))
        await first.wait_for_event(sid, lambda e: e["type"] == "track.published")
    await sam.close(leave=False)  # the shutdown closed its socket
    recordings = data_dir / "sessions" / sid / "recordings"
    (before,) = read_manifest(recordings)

    async with running_aula(loopback_settings(redis_server.url, data_dir)) as second:
        sam = await join(second, sid, "sam", {"camera": EncodedVideoTrack()}, options=ClientOptions(decode=False))
        try:
            await second.wait_for_event(sid, lambda e: e["type"] == "track.published" and e["ts"] > before.started_at)
        finally:
            await sam.close()
        ended = await second.end_session(sid)
        await second.wait_for_event(sid, lambda e: e["type"] == "session.ended")
        events: list[dict[str, Any]] = await second.session_events(sid)

    (started,) = of_type(events, "session.started")
    (finished,) = of_type(events, "session.ended")
    assert finished["data"]["duration_s"] == pytest.approx(ended["ended_at"] - seconds(started["data"]["started_at"]), abs=0.05)
    assert [e["data"]["reason"] for e in of_type(events, "participant.left")] == ["server_shutdown", "left"]
    assert len(of_type(events, "recording.started")) == 2  # on again after the restart
    tracks = read_manifest(recordings)
    assert [t.participant for t in tracks] == ["sam", "sam"] and tracks[0].file == before.file
    assert tracks[1].offset_s > tracks[0].offset_s


async def test_the_lock_removals_hands_and_poll_of_a_class_survive_a_restart(
        redis_server: RedisServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with running_aula(loopback_settings(redis_server.url, data_dir)) as first:
        sid = (await first.create_session(roster=roster("sam", "kim", "lee")))["id"]
        teacher = await join(first, sid, "rivera", role="instructor")
        sam = await join(first, sid, "sam")
        kim = await join(first, sid, "kim")
        await teacher.send({"type": "moderate", "action": "remove", "identity": "sam"})
        await sam.wait_for(lambda m: m["type"] == "removed")
        await teacher.send({"type": "moderate", "action": "lock"})
        await kim.wait_for(lambda m: m["type"] == "room_updated" and m["room"]["locked"])
        await kim.send({"type": "hand", "raised": True})
        await kim.send({"type": "chat", "text": "is it 4?"})
        await teacher.wait_for(lambda m: m["type"] == "chat")
        await teacher.send({"type": "poll_create", "question": "2 + 2?", "options": ["3", "4"], "correct": 1})
        poll = (await kim.wait_for(lambda m: m["type"] == "poll_started"))["poll"]
        await kim.send({"type": "poll_answer", "poll_id": poll["poll_id"], "option": 1})
        await teacher.wait_for(lambda m: m["type"] == "poll_results" and sum(m["counts"]) == 1)
        await teacher.wait_for(lambda m: m["type"] == "hands" and m["queue"])
    for client in (teacher, sam, kim):
        await client.close(leave=False)

    async with running_aula(loopback_settings(redis_server.url, data_dir)) as second:
        for identity, refusal in (("sam", "removed"), ("lee", "room_locked")):
            client = RtcClient(second.base_url, (await second.token(sid, identity))["token"])
            with pytest.raises(SignalingError) as refused:
                await client.connect()
            assert refused.value.code == refusal
            await client.close()
        kim = await join(second, sid, "kim")  # was in the room: may come back while it is locked
        joined = await kim.wait_for(lambda m: m["type"] == "joined")
        await kim.close()
        await second.end_session(sid)
        await second.wait_for_event(sid, lambda e: e["type"] == "session.ended")
        events = await second.session_events(sid)
    # The raised hand and the running poll (with kim's answer) are where the first process left them.
    assert [hand["identity"] for hand in joined["hands"]] == ["kim"]
    assert joined["poll"]["poll_id"] == poll["poll_id"] and joined["poll"]["your_answer"] == 1
    # What kim did before the restart still counts in the class's last engagement figures.
    last = [e["data"] for e in of_type(events, "engagement.snapshot") if e["participant"] == "kim"][-1]
    assert (last["messages"], last["hands"], last["polls_answered"], last["polls_correct"]) == (1, 1, 1, 1)


async def test_an_interval_opened_after_the_last_stamp_is_closed_under_its_joins_sid(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """Killed within a second of a join: live.json does not list the newcomer yet, its event log does."""
    redis = aioredis.Redis.from_url(redis_server.url)
    bus = EventBus(redis, tmp_path)
    store = AttendanceStore(redis, "ses_0123456789abcdef")
    try:
        for identity, sid, joined_at in (("sam", "PA_000000000001", 100.0), ("kim", "PA_000000000002", 104.5)):
            record = AttendanceRecord(identity, identity.title(), "student")
            record.join(joined_at)
            await store.save(record)
            await bus.publish(Event(EventType.PARTICIPANT_JOINED, "ses_0123456789abcdef", {
                "name": identity.title(), "role": "student", "participant_sid": sid, "rejoin": False},
                identity, joined_at))
        listed = LiveClass("ses_0123456789abcdef", opened_at=90.0, recording=False, recording_by=None,
                           participants={"sam": "PA_000000000001"})  # stamped at 104.2, before kim
        await close_cut_intervals(store, bus, listed, last_seen=104.2)
    finally:
        await redis.aclose()
    events = [json.loads(line) for line in bus.session_log("ses_0123456789abcdef").read_text().splitlines()]
    left = of_type(events, "participant.left")
    for event in left:
        validate(event)
    assert {(e["participant"], e["data"]["participant_sid"]) for e in left} == {
        ("sam", "PA_000000000001"), ("kim", "PA_000000000002")}
    kim_left = next(e for e in left if e["participant"] == "kim")
    assert seconds(kim_left["ts"]) == pytest.approx(104.5)  # a cut interval is never negative
