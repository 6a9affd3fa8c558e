"""What a summary says about each student is counted from the class's events, and each statement
points at the events it rests on."""

from __future__ import annotations

from typing import Any

from events.event import Event, EventType, iso
from summaries.evidence import class_record, is_question
from summaries.student_facts import student_reports

T0 = 1_790_000_000.0
SESSION = "ses_0123456789abcdef"


def event(kind: EventType, data: dict[str, Any], participant: str | None = None, at: float = 0.0) -> dict[str, Any]:
    return Event(kind, SESSION, data, participant, ts=T0 + at).envelope()


def snapshot(who: str, at: float, **fields: Any) -> dict[str, Any]:
    data = {"present_s": 1200, "talk_time_s": 0, "speaking_turns": 0, "camera_on_s": 1200, "visible_s": 1200,
            "messages": 0, "hands": 0, "reactions": 0, "polls_answered": 0, "polls_correct": 0, "score": 50.0,
            "score_parts": None}
    return event(EventType.ENGAGEMENT_SNAPSHOT, {**data, **fields}, who, at)


def attendance(who: str, category: str, present_s: float, **fields: Any) -> dict[str, Any]:
    return {"identity": who, "name": who.capitalize(), "role": "student", "category": category,
            "present_s": present_s, "late_by_s": fields.get("late_by_s"), "left_early": fields.get("left_early"),
            "first_join": None, "last_leave": None, "intervals": []}


def class_events() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    E = EventType
    named: dict[str, dict[str, Any]] = {}
    events = [
        event(E.SESSION_STARTED, {"title": "Fractions", "scheduled_start": iso(T0), "scheduled_end": iso(T0 + 3600),
                                  "started_at": iso(T0)}),
        event(E.PARTICIPANT_JOINED, {"name": "Ms Lee", "role": "instructor", "participant_sid": "PA_000000000001",
                                     "rejoin": False}, "ms-lee", 1),
        event(E.PARTICIPANT_JOINED, {"name": "Sam", "role": "student", "participant_sid": "PA_000000000002",
                                     "rejoin": False}, "sam", 2),
        event(E.PARTICIPANT_JOINED, {"name": "Ali", "role": "student", "participant_sid": "PA_000000000003",
                                     "rejoin": False}, "ali", 400),
    ]
    named["question"] = event(E.TRANSCRIPT_FINAL, {
        "name": "Sam", "utterance_id": "TR_000000000001-1", "start": 300.0, "end": 303.5,
        "text": "I see. Why do the denominators have to match?", "words": [], "confidence": 0.9, "language": "en"},
        "sam", 304)
    named["chat"] = event(E.ENGAGEMENT_SIGNAL, {"signal": "chat_message", "message_id": "msg_1",
                                                "text": "can we use a calculator", "to": None}, "ali", 500)
    named["private"] = event(E.ENGAGEMENT_SIGNAL, {"signal": "chat_message", "message_id": "msg_2",
                                                   "text": "is this on the test?", "to": "sam"}, "ali", 510)
    named["poll1"] = event(E.POLL_ENDED, {"poll_id": "poll_1", "question": "1/2 + 1/4?", "options": ["2/6", "3/4"],
                                          "correct": 1, "counts": [1, 1],
                                          "answers": [{"identity": "sam", "option": 1, "correct": True},
                                                      {"identity": "ali", "option": 0, "correct": False}]},
                           "ms-lee", 900)
    named["poll2"] = event(E.POLL_ENDED, {"poll_id": "poll_2", "question": "2/4 = ?", "options": ["1/2", "1/4"],
                                          "correct": 0, "counts": [0, 1],
                                          "answers": [{"identity": "ali", "option": 1, "correct": False}]},
                           "ms-lee", 1000)
    named["loss"] = event(E.ENGAGEMENT_SIGNAL, {"signal": "connection_quality", "rtt_ms": 80.0, "packet_loss": 0.12,
                                                "jitter_ms": 30.0}, "ali", 1100)
    named["sam_snapshot"] = snapshot("sam", 1500, talk_time_s=95.4, speaking_turns=6, messages=2, hands=1,
                                     polls_answered=1, polls_correct=1, score=80.0)
    named["ali_snapshot"] = snapshot("ali", 1500, present_s=1000, camera_on_s=100, messages=2, polls_answered=2,
                                     score=20.0)
    named["attendance"] = event(E.ATTENDANCE_SUMMARY, {
        "records": [attendance("sam", "present", 1498), attendance("ali", "tardy", 1000, late_by_s=398, left_early=True),
                    attendance("bo", "unexcused_absence", 0)],
        "expected": 3, "present": 2, "absent": 1}, None, 1501)
    events += list(named.values())
    events.append(event(E.SESSION_ENDED, {"ended_at": iso(T0 + 1501), "reason": "instructor", "duration_s": 1501.0},
                        None, 1501.5))
    return events, named


def by_kind(report, kind: str) -> list:
    return [s for s in report.statements if s.kind == kind]


def test_each_student_gets_what_the_events_say_with_the_events_as_evidence():
    events, named = class_events()
    reports = {r.identity: r for r in student_reports(class_record(SESSION, reversed(events)))}
    assert list(reports) == ["sam", "ali", "bo"]
    sam, ali, bo = reports["sam"], reports["ali"], reports["bo"]

    assert sam.category == "present" and sam.talk_time_s == 95.4 and sam.speaking_turns == 6
    [attended] = by_kind(sam, "attendance")
    assert attended.text == "Sam attended for 25 min." and attended.evidence[0].event_id == named["attendance"]["id"]
    [participation] = by_kind(sam, "participation")
    assert participation.text == "Sam spoke for 1 min 35 s in 6 turns, sent 2 chat messages and raised a hand."
    assert participation.evidence[0].event_id == named["sam_snapshot"]["id"]
    # The spoken question, at its time in the class; not the sentence before it.
    assert sam.questions == ["Why do the denominators have to match?"]
    [question] = by_kind(sam, "question")
    assert question.evidence[0].event_id == named["question"]["id"] and question.evidence[0].at_s == 300.0
    assert [p["correct"] for p in sam.poll_answers] == [True, None]
    assert by_kind(sam, "concern") == []

    assert by_kind(ali, "attendance")[0].text == "Ali attended for 17 min, joining 6 min 38 s late and left before the end."
    # An unpunctuated chat question counts; a private message does not.
    assert ali.questions == ["can we use a calculator"]
    assert by_kind(ali, "question")[0].evidence[0].event_id == named["chat"]["id"]
    polls = by_kind(ali, "poll")
    assert polls[0].text == 'Ali answered "2/6" to "1/2 + 1/4?" (the answer was "3/4").'
    assert {e.event_id for e in polls[1].evidence} == {named["poll2"]["id"]}
    concerns = {s.text: s for s in by_kind(ali, "concern")}
    assert set(concerns) == {
        "Ali answered 0 of 2 graded poll questions correctly.",
        "Ali's camera was off for most of the class.",
        "Ali's engagement score was 20 of 100, against a class median of 50.",
        "Ali had connection trouble (up to 12% packet loss).",
    }
    assert concerns["Ali had connection trouble (up to 12% packet loss)."].evidence[0].event_id == named["loss"]["id"]
    assert concerns["Ali had connection trouble (up to 12% packet loss)."].evidence[0].at_s == 1100

    assert [s.text for s in bo.statements] == ["Bo did not attend."]


def test_question_detection():
    assert is_question("Why is the sky blue?") and is_question("how do we add thirds and fifths")
    assert not is_question("Do your homework.") and not is_question("Have a good weekend!")
    assert not is_question("How nice.") and not is_question("Why")
