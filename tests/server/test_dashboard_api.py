"""The operations dashboard's endpoints and live feed, over real HTTP against the app with the
suite's redis-server (and real aiortc participants where someone joins)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import jwt

from client import ClientOptions
from events import Event, EventType
from server.context import CONTEXT
from server.dashboard import DASHBOARD
from server.dashboard_feed import EventFeed
from dashboards.flags import HIGH_PACKET_LOSS, LIST_LIMIT, FlagState
from tests.conftest import AulaServer, RedisServer, iso, loopback_settings, running_aula
from tests.media.test_forwarding import join
from workflows.records import StudentRecords
from workflows.worker import DEAD_LETTER


async def ops_token(server: AulaServer, identity: str = "olga", name: str = "Olga Ops") -> str:
    async with server.http.post(f"{server.base_url}/api/tokens", headers=server.headers,
                                json={"identity": identity, "name": name, "role": "ops"}) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_json(server: AulaServer, token: str, path: str) -> Any:
    async with server.http.get(f"{server.base_url}{path}", headers=bearer(token)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def publish(server: AulaServer, event_type: EventType, session_id: str, data: dict[str, Any],
                  participant: str | None = None) -> Event:
    event = Event(event_type, session_id, data, participant)
    await server.app[CONTEXT].bus.publish(event)
    return event


async def wait_until(read: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never true; last: {value}")
        await asyncio.sleep(0.1)


async def sse_messages(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, str]]:
    """Each SSE message as its fields (comments skipped)."""
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


@contextlib.asynccontextmanager
async def feed(server: AulaServer, token: str, query: str = "", headers: dict[str, str] | None = None):
    """An open feed, past its `ready` message: (messages, ready)."""
    url = f"{server.base_url}/api/dashboard/events?token={token}{query}"
    async with server.http.get(url, headers=headers or {}) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        messages = sse_messages(response)
        ready = await asyncio.wait_for(anext(messages), 10)
        assert ready["event"] == "ready"
        yield messages, ready


async def next_of_type(messages: AsyncIterator[dict[str, str]], event_type: str) -> dict[str, str]:
    async def find() -> dict[str, str]:
        async for message in messages:
            if json.loads(message["data"]).get("type") == event_type:
                return message
        raise AssertionError("the feed ended")

    return await asyncio.wait_for(find(), 10)


async def test_only_an_ops_token_opens_the_page_the_api_and_the_feed(aula_server: AulaServer) -> None:
    server = aula_server
    session = await server.create_session(title="Secret Algebra", roster=[{"identity": "sam", "name": "Sam"}])
    ops = await ops_token(server)
    student = (await server.token(session["id"], "sam"))["token"]
    instructor = (await server.token(session["id"], "ms-lee", role="instructor"))["token"]
    forged = jwt.encode({"iss": "aula", "sub": "mallory", "role": "ops", "iat": int(time.time()),
                         "exp": int(time.time()) + 600}, "not-the-server-secret-but-long-enough", algorithm="HS256")
    endpoints = ["/api/dashboard/sessions", f"/api/dashboard/sessions/{session['id']}", "/api/dashboard/flags",
                 "/api/dashboard/students/sam", "/api/dashboard/events"]

    async with server.http.get(f"{server.base_url}/dashboard?token={ops}") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert 'id="dashboard"' in await response.text()
    for path in endpoints[:-1]:
        await get_json(server, ops, path)
    for path in endpoints:  # ?token= serves as well as the header (EventSource cannot set headers)
        async with server.http.get(f"{server.base_url}{path}?token={ops}") as response:
            assert response.status == 200, path

    for token, page_code, api_status in ((student, "forbidden", 403), (instructor, "forbidden", 403),
                                         (forged, "token_invalid", 401), ("garbage", "token_invalid", 401)):
        async with server.http.get(f"{server.base_url}/dashboard?token={token}") as response:
            page = await response.text()
            assert response.status == 403 and response.content_type == "text/html"
            assert f'data-code="{page_code}"' in page and "No access to the operations dashboard" in page
            assert "Secret Algebra" not in page and "sam" not in page
        for path in endpoints:
            for url, headers in ((f"{server.base_url}{path}", bearer(token)),
                                 (f"{server.base_url}{path}?token={token}", {})):
                async with server.http.get(url, headers=headers) as response:
                    assert response.status == api_status, (path, await response.text())
                    body = await response.json()
                    assert body["error"]["code"] == page_code and "Secret Algebra" not in json.dumps(body)
    # Neither the API key nor nothing at all opens the dashboard's API.
    for headers in (server.headers, {}):
        async with server.http.get(f"{server.base_url}/api/dashboard/sessions", headers=headers) as response:
            assert response.status == 401
    async with server.http.get(f"{server.base_url}/dashboard") as response:
        assert response.status == 403 and 'data-code="unauthorized"' in await response.text()


async def test_the_overview_counts_who_is_in_the_room_as_people_join_and_leave(aula_server: AulaServer) -> None:
    server = aula_server
    ops = await ops_token(server)
    roster = [{"identity": "sam", "name": "Sam"}, {"identity": "ann", "name": "Ann"}]
    session = await server.create_session(title="Chemistry", roster=roster, scheduled_start=iso(60),
                                          scheduled_end=iso(3600))
    later = await server.create_session(title="History", scheduled_start=iso(7200), scheduled_end=iso(9000))

    def row(overview: dict[str, Any], session_id: str) -> dict[str, Any]:
        return next(r for r in overview["sessions"] if r["id"] == session_id)

    overview = await get_json(server, ops, "/api/dashboard/sessions")
    assert row(overview, later["id"])["status"] == "upcoming"
    before = row(overview, session["id"])
    assert (before["status"], before["in_room"], before["present"], before["expected"]) == ("upcoming", 0, 0, 2)

    sam = await join(server, session["id"], "sam", options=ClientOptions(decode=False))
    teacher = await join(server, session["id"], "ms-lee", role="instructor", options=ClientOptions(decode=False))
    try:
        live = await wait_until(lambda: get_json(server, ops, "/api/dashboard/sessions"),
                                lambda o: row(o, session["id"])["in_room"] == 2)
        now = row(live, session["id"])
        assert now["status"] == "live" and now["present"] == 1 and now["joined"] == 1 and now["expected"] == 2
        assert now["in_room_identities"] == ["ms-lee", "sam"]
    finally:
        await sam.close()
    after = await wait_until(lambda: get_json(server, ops, "/api/dashboard/sessions"),
                             lambda o: row(o, session["id"])["in_room"] == 1)
    assert row(after, session["id"])["present"] == 0 and row(after, session["id"])["joined"] == 1
    await teacher.close()

    await server.end_session(session["id"])
    ended = await get_json(server, ops, "/api/dashboard/sessions")
    assert row(ended, session["id"])["status"] == "ended"


async def test_the_feed_delivers_a_participant_joined_published_on_the_bus_and_resumes(
        aula_server: AulaServer) -> None:
    server = aula_server
    ops = await ops_token(server)
    session = await server.create_session(title="Physics")
    async with feed(server, ops) as (messages, ready):
        joined = await publish(server, EventType.PARTICIPANT_JOINED, session["id"], {
            "name": "Sam", "role": "student", "participant_sid": "PA_test", "rejoin": False}, "sam")
        message = await next_of_type(messages, "participant.joined")
        assert json.loads(message["data"]) == joined.envelope()
        assert message["id"] != ready["id"]

    # A reconnect with Last-Event-ID gets what came after it, and nothing before.
    left = await publish(server, EventType.PARTICIPANT_LEFT, session["id"], {
        "participant_sid": "PA_test", "reason": "left", "duration_s": 1.0}, "sam")
    async with feed(server, ops, headers={"Last-Event-ID": message["id"]}) as (resumed, again):
        assert again["id"] == message["id"]
        first = await asyncio.wait_for(anext(resumed), 10)
        assert json.loads(first["data"])["id"] == left.id

    # Filtered by session and by type.
    other = await server.create_session(title="Other")
    async with feed(server, ops, f"&session={session['id']}&types=flag.raised") as (filtered, _):
        await publish(server, EventType.FLAG_RAISED, other["id"], {
            "kind": "no_show", "reason": "elsewhere", "severity": "warning", "cause_event_id": left.id}, "ann")
        await publish(server, EventType.PARTICIPANT_JOINED, session["id"], {
            "name": "Sam", "role": "student", "participant_sid": "PA_2", "rejoin": True}, "sam")
        flag = await publish(server, EventType.FLAG_RAISED, session["id"], {
            "kind": "no_show", "reason": "Sam missed Physics", "severity": "warning", "cause_event_id": left.id},
            "sam")
        only = await asyncio.wait_for(anext(filtered), 10)
        assert json.loads(only["data"])["id"] == flag.id

    for query, code in (("&types=no.such", 400), ("&session=ses_nope", 404)):
        async with server.http.get(f"{server.base_url}/api/dashboard/events?token={ops}{query}") as response:
            assert response.status == code
    async with server.http.get(f"{server.base_url}/api/dashboard/events?token={ops}",
                               headers={"Last-Event-ID": "yesterday"}) as response:
        assert response.status == 400 and "Last-Event-ID" in (await response.json())["error"]["message"]


async def test_a_server_shutting_down_ends_its_feeds(redis_server: RedisServer, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        async with running_aula(loopback_settings(redis_server.url, tmp_path / "data")) as server:
            ops = await ops_token(server)
            response = await http.get(f"{server.base_url}/api/dashboard/events?token={ops}")
            messages = sse_messages(response)
            assert (await asyncio.wait_for(anext(messages), 10))["event"] == "ready"
        # The app has stopped: the stream ended (no error, no hang).
        rest = [m async for m in messages]
        assert rest == [] and response.content.at_eof()
        response.release()


async def test_a_quiet_feed_sends_heartbeats(aula_server: AulaServer) -> None:
    server = aula_server
    dashboard = server.app[DASHBOARD]
    dashboard.feed = EventFeed(server.app[CONTEXT].redis, heartbeat_s=0.2)
    ops = await ops_token(server)
    async with server.http.get(f"{server.base_url}/api/dashboard/events?token={ops}&types=flag.raised") as response:
        lines = [(await asyncio.wait_for(response.content.readline(), 10)).decode() for _ in range(12)]
    assert lines[:2] == ["retry: 2000\n", "event: ready\n"]
    assert lines.count(": heartbeat\n") >= 2


async def test_the_feed_and_the_flags_carry_on_through_a_redis_restart(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=True)
    (tmp_path / "redis").mkdir()
    redis.start()
    try:
        async with running_aula(loopback_settings(redis.url, tmp_path / "data")) as server:
            ops = await ops_token(server)
            session = await server.create_session(title="Music", roster=[{"identity": "ida", "name": "Ida"}])
            async with feed(server, ops, "&types=flag.raised") as (messages, _):
                redis.kill()
                async with server.http.get(f"{server.base_url}/api/dashboard/events?token={ops}") as refused:
                    assert refused.status == 503 and (await refused.json())["error"]["code"] == "unavailable"
                # Raised while Redis is down: it waits in the bus's outbox.
                flag = await publish(server, EventType.FLAG_RAISED, session["id"], {
                    "kind": "at_risk", "reason": "Ida missed 3 of 10 classes (30%)", "severity": "warning",
                    "cause_event_id": "evt_000000000000000000000001"}, "ida")
                redis.start()
                delivered = await next_of_type(messages, "flag.raised")
                assert json.loads(delivered["data"])["id"] == flag.id
            listed = await wait_until(lambda: get_json(server, ops, f"/api/dashboard/flags?session={session['id']}"),
                                      lambda body: len(body["flags"]) == 1, timeout=15)
            assert listed["flags"][0]["id"] == flag.id and listed["flags"][0]["kind"] == "at_risk"
    finally:
        redis.kill()


async def test_flags_are_listed_then_acknowledged_and_resolved_by_a_named_ops_user(aula_server: AulaServer) -> None:
    server = aula_server
    ops = await ops_token(server, "olga", "Olga Ops")
    session = await server.create_session(title="Biology", roster=[{"identity": "cy", "name": "Cy"}])
    no_show = await publish(server, EventType.ATTENDANCE_NO_SHOW, session["id"], {
        "name": "Cy", "guardian": None, "title": "Biology", "scheduled_start": session["scheduled_start"],
        "no_show_after_s": 60}, "cy")
    flag = await publish(server, EventType.FLAG_RAISED, session["id"], {
        "kind": "no_show", "reason": "Cy missed Biology", "severity": "warning", "cause_event_id": no_show.id}, "cy")
    # A notice the worker gave up on: its dead letter, and the event that names session and student.
    await publish(server, EventType.WORKFLOW_NOTIFICATION_FAILED, session["id"], {
        "channel": "webhook", "template": "no_show", "to": "http://127.0.0.1:9/hook", "cause_event_id": no_show.id,
        "attempts": 5, "error": "HTTP 503"}, "cy")
    await server.app[CONTEXT].redis.xadd(DEAD_LETTER, {
        "event_id": no_show.id, "channel": "webhook", "to": "http://127.0.0.1:9/hook", "template": "no_show",
        "error": "HTTP 503", "at": time.time()})
    # A student on a lossy connection: two reports, one flag.
    for loss in (HIGH_PACKET_LOSS * 2, 0.3):
        await publish(server, EventType.ENGAGEMENT_SIGNAL, session["id"], {
            "signal": "connection_quality", "rtt_ms": 80.0, "packet_loss": loss, "jitter_ms": 12.0}, "cy")
    await publish(server, EventType.ENGAGEMENT_SIGNAL, session["id"], {
        "signal": "connection_quality", "rtt_ms": 20.0, "packet_loss": 0.0, "jitter_ms": 2.0}, "sam")

    path = f"/api/dashboard/flags?session={session['id']}"
    # The index reads the events as they come: wait until it has read them all.
    listed = await wait_until(lambda: get_json(server, ops, path), lambda body: len(body["flags"]) == 3 and any(
        f["kind"] == "technical" and f["details"]["reports"] == 2 for f in body["flags"]))
    by_kind = {f["kind"]: f for f in listed["flags"]}
    assert set(by_kind) == {"no_show", "notification_failed", "technical"}
    assert by_kind["no_show"]["id"] == flag.id and by_kind["no_show"]["participant"] == "cy"
    assert by_kind["no_show"]["state"] == "open" and by_kind["no_show"]["cause_event_id"] == no_show.id
    failed = by_kind["notification_failed"]
    assert (failed["session_id"], failed["participant"]) == (session["id"], "cy") and "HTTP 503" in failed["reason"]
    technical = by_kind["technical"]
    assert technical["details"]["reports"] == 2 and technical["details"]["worst_packet_loss"] == 0.3
    assert technical["severity"] == "critical" and "30%" in technical["reason"]

    async def act(flag_id: str, body: Any) -> aiohttp.ClientResponse:
        async with server.http.post(f"{server.base_url}/api/dashboard/flags/{flag_id}", json=body,
                                    headers=bearer(ops)) as response:
            await response.read()
            return response

    assert (await act(flag.id, {"action": "acknowledge"})).status == 200
    still_open = await get_json(server, ops, path)
    assert next(f for f in still_open["flags"] if f["id"] == flag.id)["resolution"]["state"] == "acknowledged"
    for flag_id in (flag.id, failed["id"]):
        assert (await act(flag_id, {"action": "resolve", "note": "called home"})).status == 200
    open_now = await get_json(server, ops, path)
    assert [f["kind"] for f in open_now["flags"]] == ["technical"]
    resolved = await get_json(server, ops, f"{path}&state=resolved")
    assert {f["id"] for f in resolved["flags"]} == {flag.id, failed["id"]}
    for item in resolved["flags"]:
        assert item["resolution"]["by"] == "olga" and item["resolution"]["name"] == "Olga Ops"
        assert item["resolution"]["note"] == "called home"
    assert (await act(flag.id, {"action": "reopen"})).status == 200
    assert len((await get_json(server, ops, path))["flags"]) == 2

    assert (await act(flag.id, {"action": "delete"})).status == 400
    assert (await act(flag.id, ["resolve"])).status == 400
    assert (await act(flag.id, {"action": "resolve", "note": "x" * 501})).status == 400
    assert (await act("evt_nope", {"action": "resolve"})).status == 404
    assert (await act("dead_letter:not-an-id", {"action": "resolve"})).status == 404
    async with server.http.get(f"{server.base_url}/api/dashboard/flags?state=maybe", headers=bearer(ops)) as r:
        assert r.status == 400


async def test_an_old_open_flag_stays_listed_behind_many_newer_resolved_ones(aula_server: AulaServer) -> None:
    server = aula_server
    ops = await ops_token(server)
    grant = server.app[CONTEXT].tokens.verify_ops(ops)
    index, board = server.app[DASHBOARD].index.flags, server.app[DASHBOARD].board
    session_id = "ses_" + secrets.token_hex(8)

    def raised(n: int, at: float) -> dict[str, Any]:
        return Event(EventType.FLAG_RAISED, session_id, {
            "kind": "at_risk", "reason": f"reason {n}", "severity": "warning",
            "cause_event_id": "evt_000000000000000000000001"}, f"student-{n}", at).envelope()

    old = raised(0, time.time() - 30 * 86400)
    await index.index(old)
    for n in range(1, LIST_LIMIT + 1):
        newer = raised(n, time.time())
        await index.index(newer)
        await board.set_state(newer["id"], FlagState.RESOLVED, grant)
    open_flags = await get_json(server, ops, f"/api/dashboard/flags?session={session_id}")
    assert [f["id"] for f in open_flags["flags"]] == [old["id"]]
    resolved = await get_json(server, ops, f"/api/dashboard/flags?session={session_id}&state=resolved")
    assert len(resolved["flags"]) == LIST_LIMIT


async def test_the_session_view_has_attendance_engagement_timelines_and_the_transcript(
        aula_server: AulaServer) -> None:
    server = aula_server
    ops = await ops_token(server)
    session = await server.create_session(title="Geography", roster=[{"identity": "sam", "name": "Sam"},
                                                                     {"identity": "ann", "name": "Ann"}])
    sam = await join(server, session["id"], "sam", options=ClientOptions(decode=False))
    try:
        await server.wait_for_event(session["id"], lambda e: e["type"] == "participant.joined")
        for score in (10, 40, 70):
            await publish(server, EventType.ENGAGEMENT_SNAPSHOT, session["id"], {
                "present_s": 30.0, "talk_time_s": 5.0, "speaking_turns": 1, "camera_on_s": 30.0, "visible_s": 30.0,
                "messages": 0, "hands": 0, "reactions": 0, "polls_answered": 0, "polls_correct": 0,
                "score": score, "score_parts": {"talk": score, "chat": 0, "hands": 0, "reactions": 0, "polls": 0}},
                "sam")
        await publish(server, EventType.TRANSCRIPT_FINAL, session["id"], {
            "name": "Sam", "utterance_id": "TR_1-1", "start": 1.0, "end": 2.0, "text": "Rivers run to the sea.",
            "words": [], "confidence": 0.9, "language": "en"}, "sam")
        view = await wait_until(lambda: get_json(server, ops, f"/api/dashboard/sessions/{session['id']}"),
                                lambda v: any(r["in_room"] for r in v["attendance"]["records"]))
        # The overview's live engagement: the index keeps each participant's latest snapshot.
        overview = await wait_until(lambda: get_json(server, ops, "/api/dashboard/sessions"), lambda o: any(
            r["id"] == session["id"] and (r["engagement"] or {}).get("average_score") == 70 for r in o["sessions"]))
    finally:
        await sam.close()
    rows = {r["identity"]: r for r in view["attendance"]["records"]}
    assert rows["sam"]["in_room"] and rows["sam"]["category"] == "present"
    assert not rows["ann"]["in_room"] and rows["ann"]["category"] == "unexcused_absence"
    assert [p["score"] for p in rows["sam"]["engagement"]] == [10, 40, 70] and rows["ann"]["engagement"] == []
    assert [line["text"] for line in view["transcript"]] == ["Rivers run to the sea."]
    assert view["session"]["title"] == "Geography" and view["session"]["status"] == "live"
    live = next(r for r in overview["sessions"] if r["id"] == session["id"])
    assert live["engagement"]["average_score"] == 70 and live["engagement"]["scored"] == 1
    async with server.http.get(f"{server.base_url}/api/dashboard/sessions/ses_nope", headers=bearer(ops)) as r:
        assert r.status == 404


async def test_the_student_view_is_the_students_record(aula_server: AulaServer) -> None:
    server = aula_server
    ops = await ops_token(server)
    await StudentRecords(server.app[CONTEXT].redis).merge("dana", "ses_0000000000000001", {
        "title": "Algebra 1", "scheduled_start": iso(-86400), "category": "unexcused_absence", "present_s": 0},
        flag="no_show")
    view = await get_json(server, ops, "/api/dashboard/students/dana")
    async with server.http.get(f"{server.base_url}/api/students/dana", headers=server.headers) as response:
        assert view == await response.json()
    assert view["sessions"][0]["flags"] == ["no_show"]
