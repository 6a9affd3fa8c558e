"""At-risk students: the signs, in words, and a flag for operations when a student crosses into
at_risk as their classes end (a real worker on the suite's Redis, reading the classes' own events)."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp

from events import Event, EventType
from server.context import CONTEXT
from tests.conftest import fresh_group, iso
from workflows.config import WorkflowConfig
from workflows.risk import assess
from workflows.worker import GROUP, WorkflowWorker


def entry(category: str = "present", score: float | None = 60.0, talk: float = 30.0, messages: int = 1,
          answered: int = 0, correct: int = 0) -> dict[str, Any]:
    return {"category": category, "engagement": None if category.endswith("absence") else {
        "score": score, "talk_time_s": talk, "messages": messages, "polls_answered": answered,
        "polls_correct": correct}}


def test_a_student_with_no_signs_is_not_at_risk():
    assert assess([entry() for _ in range(8)]).level == "none"
    assert assess([entry("unexcused_absence")] + [entry() for _ in range(2)]).level == "none"  # one absence


def test_chronic_absence_is_at_risk_on_its_own():
    risk = assess([entry("unexcused_absence"), entry("excused_absence")] + [entry() for _ in range(8)])
    assert risk.level == "at_risk" and risk.reasons == ["chronic absence: missed 2 of 10 classes (20%)"]
    # Two of 21 is under 10%: not chronic.
    assert assess([entry("unexcused_absence"), entry("unexcused_absence")] + [entry()] * 19).level == "none"


def test_one_sign_is_watch_two_are_at_risk():
    late = [entry("tardy") for _ in range(3)] + [entry() for _ in range(7)]
    assert assess(late).level == "watch" and assess(late).reasons == ["late to 3 of the last 10 classes"]
    falling = [entry(score=70), entry(score=80), entry(score=20, talk=0, messages=0),
               entry(score=15, talk=0, messages=0), entry(score=10, talk=0, messages=0)]
    risk = assess(falling)
    assert risk.level == "at_risk"
    assert risk.reasons == ["engagement fell from 75 to 15 over the last 3 classes",
                            "said nothing, aloud or in the chat, in the last 3 classes"]
    polls = [entry(answered=2, correct=0) for _ in range(3)]
    assert assess(polls).reasons == ["answered 0 of 6 poll questions right in recent classes"]


async def test_the_worker_flags_a_student_once_when_they_cross_into_at_risk(aula_server):
    server = aula_server
    context = server.app[CONTEXT]
    await fresh_group(server, GROUP)
    kim = f"kim-{secrets.token_hex(3)}"  # the suite's Redis keeps other tests' students
    flags = []
    async with aiohttp.ClientSession() as http:
        worker = WorkflowWorker(context.redis, context.bus, WorkflowConfig(), "w1", http)
        for n, score in enumerate((70, 80, 20, 15, 10, 12)):
            session = await server.create_session(title=f"Lesson {n + 1}", scheduled_start=iso(60 * n),
                                                  roster=[{"identity": kim, "name": "Kim", "guardian": None}])
            sid = session["id"]
            quiet = n >= 2
            await context.bus.publish(Event(EventType.ENGAGEMENT_SNAPSHOT, sid, {
                "present_s": 1800, "talk_time_s": 0.0 if quiet else 40.0, "speaking_turns": 0 if quiet else 4,
                "camera_on_s": 1800, "visible_s": 1800, "messages": 0 if quiet else 2, "hands": 0, "reactions": 0,
                "polls_answered": 0, "polls_correct": 0, "score": float(score), "score_parts": None}, kim))
            summary = Event(EventType.ATTENDANCE_SUMMARY, sid, {"records": [{
                "identity": kim, "name": "Kim", "role": "student", "category": "present", "first_join": iso(),
                "last_leave": iso(1800), "present_s": 1800.0, "late_by_s": 0, "left_early": False, "intervals": []}],
                "expected": 1, "present": 1, "absent": 0})
            await context.bus.publish(summary)
            await worker.handle(summary.envelope())
            flags += [e for e in await server.session_events(sid) if e["type"] == "flag.raised"]
    # At the fifth class the fall and the silence are both there: one flag, with the reasons in words.
    [flag] = flags
    assert flag["participant"] == kim and flag["data"]["kind"] == "at_risk"
    assert "engagement fell from 75 to 15" in flag["data"]["reason"] and "said nothing" in flag["data"]["reason"]
    async with server.http.get(f"{server.base_url}/api/students/{kim}", headers=server.headers) as response:
        record = await response.json()
    assert record["risk"]["level"] == "at_risk" and len(record["risk"]["reasons"]) == 2
    assert [s["title"] for s in record["sessions"]] == [f"Lesson {n + 1}" for n in range(6)]
    assert record["sessions"][-1]["engagement"]["score"] == 12.0
