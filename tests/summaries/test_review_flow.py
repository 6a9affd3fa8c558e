"""A class with speech (espeak), chat, a poll and an absent student ends; `aula worker` drafts its
summary; what it says about each student matches the class's events; the instructor edits and
approves it through the API; each guardian gets their child's part (a real SMTP server), once.
The transcript model has random weights, so the class part's words are not checked here
(test_extractive.py checks them on a real transcript)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import numpy as np

from client import ClientOptions
from events.schema import validate
from server.context import CONTEXT
from summaries.worker import GROUP as SUMMARY_GROUP
from summaries.worker import SummaryWorker
from tests.conftest import fresh_group
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, PcmTrack, espeak
from workflows.config import Smtp, WorkflowConfig
from workflows.worker import GROUP as WORKFLOW_GROUP
from workflows.worker import WorkflowWorker

SAID = ["Photosynthesis turns sunlight into sugar.", "Why are the leaves green?"]
GUARDIANS = {"sam@home.example", "ali@home.example", "bo@home.example"}


def speech() -> np.ndarray:
    silence = np.zeros(AUDIO_RATE, np.int16)
    return np.concatenate([silence, *(np.concatenate([espeak(text), silence]) for text in SAID)])


def guardian(who: str) -> dict[str, Any]:
    return {"identity": who, "name": who.capitalize(), "guardian": {"name": f"Parent of {who}", "email": f"{who}@home.example"}}


def last(events: list[dict[str, Any]], kind: str, who: str | None = None) -> dict[str, Any]:
    return [e for e in events if e["type"] == kind and (who is None or e.get("participant") == who)][-1]


async def test_a_class_summary_is_drafted_reviewed_approved_and_sent_to_each_guardian(
        transcribing_aula, mailbox, summariser):
    server = transcribing_aula
    box, smtp_port = mailbox
    context = server.app[CONTEXT]
    await fresh_group(server, SUMMARY_GROUP)
    await fresh_group(server, WORKFLOW_GROUP)
    session = await server.create_session(title="Plants", instructors=["ms-lee"],
                                          roster=[guardian("sam"), guardian("ali"), guardian("bo")])
    sid = session["id"]
    stop = asyncio.Event()

    def ours() -> list[Any]:
        """The mails to this session's guardians. The suite's Redis keeps other tests' sessions
        and their durable timers: a no-show one of theirs falling due now mails its guardian."""
        return [message for message in box.messages if message["To"] in GUARDIANS]

    config = WorkflowConfig(smtp=Smtp("127.0.0.1", smtp_port, "School <office@school.example>"))
    async with aiohttp.ClientSession() as http:
        workflows = WorkflowWorker(context.redis, context.bus, config, "w1", http, claim_idle_ms=500)
        summaries = SummaryWorker(context.redis, context.bus, server.data_dir / "sessions", "s1", lambda: summariser)
        workers = asyncio.gather(workflows.run(stop), summaries.run(stop))
        try:
            await run_class(server, sid)
            await server.end_session(sid)
            await server.wait_for_event(sid, lambda e: e["type"] == "summary.draft", timeout=60)
            summary = await get_summary(server, sid)
            events = await server.session_events(sid)
            check_facts_match_events(summary, events)
            on_disk = json.loads((server.data_dir / "sessions" / sid / "summary.json").read_text())
            assert on_disk == summary and summary["status"] == "draft"
            await review_and_approve(server, sid, summary)

            deadline = time.monotonic() + 15
            while len(ours()) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            # A redelivered approval (a worker died before acknowledging it) sends nothing twice.
            await workflows.handle(last(await server.session_events(sid), "summary.approved"))
        finally:
            stop.set()
            await workers
    mails = {message["To"]: message for message in ours()}
    assert len(ours()) == 3 and set(mails) == GUARDIANS, [m["To"] for m in box.messages]
    sam_mail = mails["sam@home.example"].get_payload(decode=True).decode()
    assert "Sam explained photosynthesis to the class." in sam_mail and "A good first lesson." in sam_mail
    assert "Sam attended for" in sam_mail and "Ali" not in sam_mail.split("About Sam:")[1]
    assert "Plants" in mails["sam@home.example"]["Subject"]
    assert "Bo did not attend." in mails["bo@home.example"].get_payload(decode=True).decode()
    assert 'Ali asked in the chat: "can we use a calculator?"' in mails["ali@home.example"].get_payload(decode=True).decode()
    for event in await server.session_events(sid):
        validate(event)
    sent = [e for e in await server.session_events(sid) if e["type"] == "workflow.notification_sent"]
    assert sorted(e["participant"] for e in sent) == ["ali", "bo", "sam"]


async def run_class(server, sid: str) -> None:
    teacher = await join(server, sid, "ms-lee", role="instructor", options=ClientOptions(decode=False))
    audio = speech()
    sam = await join(server, sid, "sam", publish={"microphone": PcmTrack(audio)}, options=ClientOptions(decode=False))
    ali = await join(server, sid, "ali", options=ClientOptions(decode=False))
    try:
        await ali.send({"type": "chat", "text": "can we use a calculator?"})
        await teacher.send({"type": "poll_create", "question": "Leaves are?", "options": ["green", "blue"],
                            "correct": 0})
        started = await sam.wait_for(lambda m: m["type"] == "poll_started")
        await sam.send({"type": "poll_answer", "poll_id": started["poll"]["poll_id"], "option": 0})
        await ali.wait_for(lambda m: m["type"] == "poll_started")
        await ali.send({"type": "poll_answer", "poll_id": started["poll"]["poll_id"], "option": 1})
        await teacher.wait_for(lambda m: m["type"] == "poll_results" and m["answered"] == 2)
        await teacher.send({"type": "poll_end", "poll_id": started["poll"]["poll_id"]})
        await asyncio.sleep(len(audio) / AUDIO_RATE + 1.0)
        await server.wait_for_event(sid, lambda e: e["type"] == "transcript.final" and e["participant"] == "sam")
    finally:
        for client in (teacher, sam, ali):
            await client.close()


async def get_summary(server, sid: str) -> dict[str, Any]:
    async with server.http.get(f"{server.base_url}/api/sessions/{sid}/summary", headers=server.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def check_facts_match_events(summary: dict[str, Any], events: list[dict[str, Any]]) -> None:
    ids = {event["id"] for event in events}
    attendance = {r["identity"]: r for r in last(events, "attendance.summary")["data"]["records"]}
    poll = last(events, "poll.ended")["data"]
    answers = {a["identity"]: a["option"] for a in poll["answers"]}
    students = {student["identity"]: student for student in summary["students"]}
    assert set(students) == {"sam", "ali", "bo"}
    for who, student in students.items():
        assert student["category"] == attendance[who]["category"]
        assert student["present_s"] == round(attendance[who]["present_s"], 1)
        for statement in student["statements"]:
            assert statement["evidence"] and all(item["event_id"] in ids for item in statement["evidence"])
    for who in ("sam", "ali"):
        snapshot = last(events, "engagement.snapshot", who)["data"]
        assert students[who]["talk_time_s"] == round(snapshot["talk_time_s"], 1)
        [answer] = students[who]["poll_answers"]
        assert answer["answer"] == poll["options"][answers[who]] and answer["correct"] == (answers[who] == 0)
    assert students["sam"]["talk_time_s"] > 2  # espeak's two sentences
    assert students["bo"]["category"] == "unexcused_absence" and students["bo"]["statements"][0]["text"] == "Bo did not attend."
    assert "can we use a calculator?" in students["ali"]["questions"]
    assert any(q["asked_by"] == "ali" for q in summary["questions"])


async def review_and_approve(server, sid: str, summary: dict[str, Any]) -> None:
    base = f"{server.base_url}/api/sessions/{sid}/summary"
    sam = next(s for s in summary["students"] if s["identity"] == "sam")
    participation = next(s for s in sam["statements"] if s["kind"] == "participation")
    edits = {"items": {participation["id"]: "Sam explained photosynthesis to the class."},
             "instructor_note": "A good first lesson."}
    async with server.http.patch(base, json={"by": "ms-lee", "edits": edits}, headers=server.headers) as r:
        assert r.status == 200, await r.text()
        edited = await r.json()
    assert edited["instructor_note"] == "A good first lesson." and edited["history"][-1]["action"] == "edited"
    async with server.http.patch(base, json={"by": "ms-lee", "edits": {"items": {"nope": "x"}}},
                                 headers=server.headers) as r:
        assert r.status == 400 and "nope" in (await r.json())["error"]["message"]
    async with server.http.post(base + "/approve", json={"by": "sam"}, headers=server.headers) as r:
        assert r.status == 400  # only an instructor of the class approves
    async with server.http.post(base + "/approve", json={"by": "ms-lee"}, headers=server.headers) as r:
        assert r.status == 200 and (await r.json())["status"] == "approved"
    async with server.http.post(base + "/approve", json={"by": "ms-lee"}, headers=server.headers) as r:
        assert r.status == 409
    async with server.http.patch(base, json={"by": "ms-lee", "edits": {"overview": "late"}}, headers=server.headers) as r:
        assert r.status == 409
    approved = await server.wait_for_event(sid, lambda e: e["type"] == "summary.approved")
    assert approved["participant"] == "ms-lee" and sorted(approved["data"]["students"]) == ["ali", "bo", "sam"]
