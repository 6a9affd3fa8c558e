"""A live class as the school sees it downstream: events on Redis, attendance, no-shows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from client import ClientOptions, RtcClient
from events.schema import validate
from tests.conftest import RedisServer, iso, loopback_settings, running_aula
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack, ToneTrack

RED = (220, 30, 30)


def roster(*identities: str) -> list[dict]:
    return [{"identity": i, "name": i.title(),
             "guardian": {"name": f"Parent of {i}", "email": f"{i}.parent@example.org"}}
            for i in identities]


def of_type(events: list[dict], event_type: str) -> list[dict]:
    return [e for e in events if e["type"] == event_type]


def seconds(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_a_class_produces_valid_events_in_order(aula_server):
    session = await aula_server.create_session(roster=roster("sam", "kim"), instructors=["rivera"])
    teacher = await join(aula_server, session["id"], "rivera", role="instructor",
                         publish={"microphone": ToneTrack(440), "camera": ColourTrack(RED)},
                         options=ClientOptions(decode=False))
    sam = await join(aula_server, session["id"], "sam", options=ClientOptions(decode=False))
    await sam.wait_for_tracks(2)
    await sam.close()
    await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "participant.left")
    await aula_server.end_session(session["id"])
    await teacher.close()
    events = await aula_server.session_events(session["id"])
    for event in events:
        validate(event)
    types = [e["type"] for e in events]
    assert types[0] == "session.started" and types[-1] == "session.ended"
    assert types.index("attendance.summary") < types.index("session.ended")
    joined = of_type(events, "participant.joined")
    assert [(e["participant"], e["data"]["role"]) for e in joined] == [("rivera", "instructor"), ("sam", "student")]
    published = {(e["participant"], e["data"]["source"]) for e in of_type(events, "track.published")}
    assert published == {("rivera", "microphone"), ("rivera", "camera")}
    left = of_type(events, "participant.left")
    assert [(e["participant"], e["data"]["reason"]) for e in left] == [("sam", "left"), ("rivera", "session_ended")]
    assert len({e["id"] for e in events}) == len(events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    summary = of_type(events, "attendance.summary")[0]["data"]
    categories = {r["identity"]: r["category"] for r in summary["records"]}
    assert categories == {"sam": "present", "kim": "unexcused_absence", "rivera": "present"}
    assert (summary["expected"], summary["present"], summary["absent"]) == (2, 1, 1)
    # The same events, in the same order, in the session's events.jsonl.
    log = aula_server.data_dir / "sessions" / session["id"] / "events.jsonl"
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == [e["id"] for e in events]


async def test_a_roster_student_who_does_not_come_is_a_no_show_within_the_grace(aula_server):
    grace = 2
    session = await aula_server.create_session(
        roster=roster("ana", "ben", "cai"), scheduled_start=iso(0), settings={"no_show_after_s": grace})
    start = seconds(session["scheduled_start"])
    clients = [await join(aula_server, session["id"], name) for name in ("ana", "ben")]
    try:
        no_show = await aula_server.wait_for_event(
            session["id"], lambda e: e["type"] == "attendance.no_show", timeout=grace + 5)
        validate(no_show)
        assert no_show["participant"] == "cai"
        assert no_show["data"]["guardian"]["email"] == "cai.parent@example.org"
        assert seconds(no_show["ts"]) <= start + grace + 2
        await asyncio.sleep(1)
        assert len(of_type(await aula_server.session_events(session["id"]), "attendance.no_show")) == 1
    finally:
        for client in clients:
            await client.close()


async def test_no_shows_are_reported_even_if_nobody_ever_opens_the_room(aula_server):
    session = await aula_server.create_session(
        roster=roster("ana", "ben"), scheduled_start=iso(0), settings={"no_show_after_s": 1})
    await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "attendance.no_show")
    await asyncio.sleep(0.8)
    no_shows = of_type(await aula_server.session_events(session["id"]), "attendance.no_show")
    assert sorted(e["participant"] for e in no_shows) == ["ana", "ben"]
    assert aula_server.sfu.rooms == {}


async def test_no_show_timers_survive_a_server_restart(redis_server, tmp_path: Path):
    settings = loopback_settings(redis_server.url, tmp_path / "data")
    async with running_aula(settings) as first:
        session = await first.create_session(
            roster=roster("dee"), scheduled_start=iso(0), settings={"no_show_after_s": 3})
    # The server is down when the check falls due; a new process picks it up from Redis.
    await asyncio.sleep(3.5)
    async with running_aula(loopback_settings(redis_server.url, tmp_path / "data")) as second:
        no_show = await second.wait_for_event(session["id"], lambda e: e["type"] == "attendance.no_show")
        assert no_show["participant"] == "dee"


async def test_a_late_student_is_tardy_and_reconnects_are_one_person(aula_server):
    session = await aula_server.create_session(
        roster=roster("lou"), scheduled_start=iso(-120), settings={"late_after_s": 60})
    token = (await aula_server.token(session["id"], "lou"))["token"]
    for _ in range(2):  # joins, drops, comes back
        client = RtcClient(aula_server.base_url, token)
        await client.connect()
        await client.close()
        await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "participant.left")
    late = of_type(await aula_server.session_events(session["id"]), "attendance.late")
    assert len(late) == 1 and late[0]["data"]["late_by_s"] >= 120
    url = f"{aula_server.base_url}/api/sessions/{session['id']}/attendance"
    async with aula_server.http.get(url, headers=aula_server.headers) as response:
        body = await response.json()
    (record,) = body["records"]
    assert record["category"] == "tardy" and len(record["intervals"]) == 2
    async with aula_server.http.get(url + "?format=csv", headers=aula_server.headers) as response:
        assert response.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert rows[0]["identity"] == "lou" and rows[0]["category"] == "tardy"
    assert rows[0]["intervals"].count("/") == 2


async def test_every_event_of_a_class_survives_redis_being_killed_mid_class(tmp_path: Path):
    redis = RedisServer(tmp_path / "redis", persistent=True)
    (tmp_path / "redis").mkdir()
    redis.start()
    try:
        async with running_aula(loopback_settings(redis.url, tmp_path / "data")) as server:
            session = await server.create_session(roster=roster("sam"))
            teacher = await join(server, session["id"], "rivera", role="instructor",
                                 publish={"camera": ColourTrack(RED)}, options=ClientOptions(decode=False))
            sam = await join(server, session["id"], "sam", options=ClientOptions(decode=False))
            try:
                await sam.wait_for_tracks(1)
                redis.kill()
                for index in range(5):
                    await sam.send({"type": "chat", "text": f"while redis is down {index}"})
                await sam.send({"type": "hand", "raised": True})
                await asyncio.sleep(0.5)
                before = next(iter(sam.remote_tracks.values())).packets
                await asyncio.sleep(1)
                assert next(iter(sam.remote_tracks.values())).packets > before  # the class goes on
                redis.start()
                await sam.send({"type": "chat", "text": "redis is back"})
                await server.wait_for_event(
                    session["id"], lambda e: e["data"].get("text") == "redis is back", timeout=15)
            finally:
                for client in (teacher, sam):
                    await client.close()
            events = await server.session_events(session["id"])
            log = (server.data_dir / "sessions" / session["id"] / "events.jsonl").read_text()
            logged = [json.loads(line) for line in log.splitlines()]
            # Every event, in order, each once: the outbox replayed what Redis missed.
            assert [e["id"] for e in events] == [e["id"] for e in logged][:len(events)]
            assert len({e["id"] for e in events}) == len(events)
            texts = [e["data"]["text"] for e in events if e["data"].get("signal") == "chat_message"]
            assert texts == [f"while redis is down {i}" for i in range(5)] + ["redis is back"]
    finally:
        redis.kill()


async def test_signals_and_the_explained_score(aula_server):
    session = await aula_server.create_session(roster=roster("ana", "ben"))
    teacher = await join(aula_server, session["id"], "rivera", role="instructor")
    ana = await join(aula_server, session["id"], "ana")
    ben = await join(aula_server, session["id"], "ben")
    try:
        for text in ("I have a question", "is x = 3?"):
            await ana.send({"type": "chat", "text": text})
        await ben.send({"type": "chat", "text": "me too"})
        await ana.send({"type": "hand", "raised": True})
        await ana.send({"type": "reaction", "emoji": "👍"})
        await teacher.send({"type": "poll_create", "question": "2 + 2?", "options": ["3", "4"], "correct": 1})
        started = await ana.wait_for(lambda m: m["type"] == "poll_started")
        assert "correct" not in started["poll"]
        asked = await teacher.wait_for(lambda m: m["type"] == "poll_started")
        assert asked["poll"]["correct"] == 1  # moderators see the answer, students do not
        await ana.send({"type": "poll_answer", "poll_id": started["poll"]["poll_id"], "option": 1})
        results = await teacher.wait_for(lambda m: m["type"] == "poll_results" and m["answered"])
        assert results["counts"] == [0, 1] and results["eligible"] == 2
        reloaded = RtcClient(aula_server.base_url, (await aula_server.token(session["id"], "ana"))["token"])
        rejoined = await reloaded.connect()  # a reload mid-poll keeps the answer on screen
        assert rejoined["poll"]["your_answer"] == 1 and "correct" not in rejoined["poll"]
        await ana.close()
        ana = reloaded
        await ben.send({"type": "reaction", "emoji": "🦄"})
        error = await ben.wait_for(lambda m: m["type"] == "error")
        assert error["code"] == "bad_message"
        panel = await teacher.wait_for(lambda m: m["type"] == "engagement" and any(
            row["identity"] == "ana" and row["score"] == 80.0 for row in m["participants"]), timeout=12)
        rows = {row["identity"]: row for row in panel["participants"]}
        assert rows["ana"]["hand_raised"] is True  # kept through the reload
        assert rows["ana"]["score_parts"] == {"talk": 0.0, "chat": 20.0, "hands": 20.0,
                                              "reactions": 20.0, "polls": 20.0}
        assert rows["ana"]["score"] == 80.0
        assert rows["ben"]["score_parts"]["chat"] == 10.0 and rows["ben"]["score"] == 10.0
        assert rows["rivera"]["score"] is None and rows["rivera"]["score_parts"] is None
    finally:
        for client in (teacher, ana, ben):
            await client.close()
    events = await aula_server.session_events(session["id"])
    for event in events:
        validate(event)
    signals = [(e["participant"], e["data"]["signal"]) for e in of_type(events, "engagement.signal")]
    assert ("ana", "hand_raised") in signals and ("ana", "reaction") in signals
    answered = [e for e in of_type(events, "engagement.signal") if e["data"]["signal"] == "poll_answered"]
    assert answered[0]["data"]["correct"] is True


async def test_an_excused_student_gets_no_no_show_notice_and_counts_as_excused(aula_server):
    session = await aula_server.create_session(
        roster=roster("eve", "fay"), scheduled_start=iso(0), settings={"no_show_after_s": 1})
    url = f"{aula_server.base_url}/api/sessions/{session['id']}/attendance"
    async with aula_server.http.post(url + "/eve/excuse", headers=aula_server.headers) as response:
        assert response.status == 200
    async with aula_server.http.post(url + "/nobody/excuse", headers=aula_server.headers) as response:
        assert response.status == 404
    await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "attendance.no_show")
    await asyncio.sleep(0.8)
    no_shows = of_type(await aula_server.session_events(session["id"]), "attendance.no_show")
    assert [e["participant"] for e in no_shows] == ["fay"]
    async with aula_server.http.get(url, headers=aula_server.headers) as response:
        categories = {r["identity"]: r["category"] for r in (await response.json())["records"]}
    assert categories == {"eve": "excused_absence", "fay": "unexcused_absence"}


async def test_a_class_exports_as_xapi_statements(aula_server):
    session = await aula_server.create_session(roster=roster("sam"))
    teacher = await join(aula_server, session["id"], "rivera", role="instructor")
    sam = await join(aula_server, session["id"], "sam")
    await sam.send({"type": "hand", "raised": True})
    await aula_server.wait_for_event(session["id"], lambda e: e["data"].get("signal") == "hand_raised")
    for client in (sam, teacher):
        await client.close()
    async with aula_server.http.get(f"{aula_server.base_url}/api/sessions/{session['id']}/xapi",
                                    headers=aula_server.headers) as response:
        assert response.status == 200
        exported = await response.json()
    verbs = [(s["actor"]["account"]["name"], s["verb"]["id"]) for s in exported]
    assert ("sam", "http://activitystrea.ms/join") in verbs
    assert ("sam", "https://w3id.org/xapi/virtual-classroom/verbs/reacted") in verbs
    assert all(s["actor"]["account"]["homePage"] == aula_server.base_url for s in exported)
