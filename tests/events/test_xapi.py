"""events.xapi: a session's events as xAPI statements (Virtual Classroom profile)."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from events import xapi
from events.event import EventType
from events.schema import EventInvalid
from tests.events.test_schemas import SESSION, at, envelope, signal

E = EventType
HOME = "https://aula.school.example"
SESSION_IRI = f"{HOME}/sessions/{SESSION}"
POLL = {"poll_id": "poll_1", "question": "Capital of France?", "options": ["Paris", "Lyon"], "correct": 0}

# A minimal xAPI 1.0.3 statement schema: the parts an LRS insists on, and the shapes used here.
UUID = {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"}
IRI = {"type": "string", "pattern": "^https?://[^\\s]+$"}
LANGUAGE_MAP = {"type": "object", "minProperties": 1,
                "propertyNames": {"pattern": "^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"},
                "additionalProperties": {"type": "string"}}
AGENT = {"type": "object", "required": ["objectType", "account"], "additionalProperties": False,
         "properties": {"objectType": {"const": "Agent"}, "name": {"type": "string"},
                        "account": {"type": "object", "required": ["homePage", "name"], "additionalProperties": False,
                                    "properties": {"homePage": IRI, "name": {"type": "string", "minLength": 1}}}}}
ACTIVITY = {"type": "object", "required": ["objectType", "id", "definition"], "additionalProperties": False,
            "properties": {"objectType": {"const": "Activity"}, "id": IRI,
                           "definition": {"type": "object", "required": ["type"], "additionalProperties": False,
                                          "properties": {"type": IRI, "name": LANGUAGE_MAP,
                                                         "description": LANGUAGE_MAP,
                                                         "interactionType": {"const": "choice"},
                                                         "correctResponsesPattern": {"type": "array", "items": {"type": "string"}},
                                                         "choices": {"type": "array", "items": {
                                                             "type": "object", "required": ["id", "description"],
                                                             "properties": {"id": {"type": "string"}, "description": LANGUAGE_MAP}}}}}}}
STATEMENT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "actor", "verb", "object", "context", "timestamp"],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "actor": AGENT,
        "verb": {"type": "object", "required": ["id", "display"], "additionalProperties": False,
                 "properties": {"id": IRI, "display": LANGUAGE_MAP}},
        "object": ACTIVITY,
        "result": {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": {
            "response": {"type": "string"}, "success": {"type": "boolean"},
            "duration": {"type": "string", "pattern": "^PT([0-9]+H)?([0-9]+M)?([0-9]+(\\.[0-9]{1,2})?S)?$"},
            "extensions": {"type": "object", "propertyNames": IRI}}},
        "context": {"type": "object", "required": ["registration", "contextActivities", "extensions"],
                    "additionalProperties": False, "properties": {
                        "registration": UUID, "platform": {"type": "string"}, "instructor": AGENT,
                        "contextActivities": {"type": "object", "required": ["category"], "additionalProperties": False,
                                              "properties": {"category": {"type": "array", "items": ACTIVITY},
                                                             "parent": {"type": "array", "items": ACTIVITY}}},
                        "extensions": {"type": "object", "propertyNames": IRI,
                                       "required": ["https://w3id.org/xapi/cmi5/context/extensions/sessionid"],
                                       "properties": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": UUID}}}},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}


def joined(identity: str, name: str, role: str, offset: float, sid: str = "PA_0123456789ab") -> dict[str, Any]:
    return envelope(E.PARTICIPANT_JOINED, {"name": name, "role": role, "participant_sid": sid, "rejoin": False},
                    identity, offset)


def left(identity: str, offset: float, duration: float, reason: str = "left") -> dict[str, Any]:
    return envelope(E.PARTICIPANT_LEFT, {"participant_sid": "PA_0123456789ab", "reason": reason,
                                         "duration_s": duration}, identity, offset)


def track(event_type: EventType, identity: str, source: str, offset: float) -> dict[str, Any]:
    return envelope(event_type, {"track_sid": "TR_a1b2c3d4e5f6", "kind": "audio" if source == "microphone" else "video",
                                 "source": source}, identity, offset)


def a_class() -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """A 60-minute class, and the (verb, actor, object id) each exported statement must have, in order."""
    vc = xapi.VERBS
    events = [
        envelope(E.SESSION_STARTED, {"title": "Algebra 1", "scheduled_start": at(0), "scheduled_end": at(3600),
                                     "started_at": at(-120)}, offset_s=-120),
        joined("ms-lee", "Ms Lee", "instructor", -120),
        track(E.TRACK_PUBLISHED, "ms-lee", "microphone", -119),
        track(E.TRACK_PUBLISHED, "ms-lee", "camera", -119),
        joined("sam", "Sam", "student", 420, "PA_0123456789ac"),
        envelope(E.ATTENDANCE_LATE, {"name": "Sam", "joined_at": at(420), "late_by_s": 420, "late_after_s": 300},
                 "sam", 420),
        joined("ali", "Ali", "student", 30, "PA_0123456789ad"),
        signal("hand_raised", "sam", 600),
        signal("hand_lowered", "sam", 640, by="ms-lee"),
        signal("mic_muted", "ali", 700, by="ms-lee"),
        signal("mic_unmuted", "ali", 760),
        signal("speaking_started", "sam", 800),
        signal("speaking_stopped", "sam", 805, duration_s=5),
        signal("reaction", "ali", 806, emoji="👍"),
        signal("tab_hidden", "ali", 807),
        signal("connection_quality", "ali", 808, rtt_ms=40, packet_loss=0, jitter_ms=2),
        signal("camera_off", "ali", 809),
        envelope(E.POLL_STARTED, POLL, "ms-lee", 900),
        signal("poll_answered", "sam", 910, poll_id="poll_1", option=0, correct=True),
        signal("poll_answered", "ali", 915, poll_id="poll_1", option=1, correct=False),
        envelope(E.POLL_ENDED, {**POLL, "counts": [1, 1], "answers": [
            {"identity": "sam", "option": 0, "correct": True}, {"identity": "ali", "option": 1, "correct": False}]},
            "ms-lee", 960),
        envelope(E.POLL_STARTED, {"poll_id": "poll_2", "question": "Pace?", "options": ["ok", "fast"],
                                  "correct": None}, "ms-lee", 1000),
        signal("poll_answered", "sam", 1010, poll_id="poll_2", option=1, correct=None),
        signal("chat_message", "sam", 1100, message_id="msg_1", text="Is x = 3?", to=None),
        signal("chat_message", "sam", 1101, message_id="msg_2", text="can I go to the toilet", to="ms-lee"),
        track(E.TRACK_PUBLISHED, "ms-lee", "screen", 1200),
        envelope(E.ENGAGEMENT_SNAPSHOT, {
            "present_s": 780, "talk_time_s": 5, "speaking_turns": 1, "camera_on_s": 0, "visible_s": 780,
            "messages": 2, "hands": 1, "reactions": 0, "polls_answered": 2, "polls_correct": 1, "score": 100,
            "score_parts": {"talk": 20, "chat": 20, "hands": 20, "reactions": 20, "polls": 20}}, "sam", 1200),
        track(E.TRACK_UNPUBLISHED, "ms-lee", "screen", 1500),
        left("ali", 3000, 2970),
        envelope(E.SESSION_ENDED, {"ended_at": at(3600), "reason": "instructor", "duration_s": 3720}, offset_s=3600),
        left("ms-lee", 3600.001, 3720.001, "session_ended"),
        left("sam", 3600.002, 3180.002, "session_ended"),
        track(E.TRACK_UNPUBLISHED, "ms-lee", "camera", 3600.003),
        envelope(E.ATTENDANCE_SUMMARY, {"records": [], "expected": 2, "present": 2, "absent": 0}, offset_s=3601),
    ]
    people = f"{SESSION_IRI}/participants"
    expected = [
        (vc["initialized"][0], "ms-lee", SESSION_IRI),
        (vc["joined"][0], "ms-lee", SESSION_IRI),
        (vc["started-camera"][0], "ms-lee", f"{people}/ms-lee/camera"),
        (vc["joined"][0], "ali", SESSION_IRI),
        (vc["joined"][0], "sam", SESSION_IRI),
        (vc["raised-hand"][0], "sam", SESSION_IRI),
        (vc["lowered-hand"][0], "sam", SESSION_IRI),
        (vc["muted"][0], "ali", f"{people}/ali/microphone"),
        (vc["unmuted"][0], "ali", f"{people}/ali/microphone"),
        (vc["asked"][0], "ms-lee", f"{SESSION_IRI}/polls/poll_1"),
        (vc["answered"][0], "sam", f"{SESSION_IRI}/polls/poll_1"),
        (vc["answered"][0], "ali", f"{SESSION_IRI}/polls/poll_1"),
        (vc["asked"][0], "ms-lee", f"{SESSION_IRI}/polls/poll_2"),
        (vc["answered"][0], "sam", f"{SESSION_IRI}/polls/poll_2"),
        (vc["posted"][0], "sam", f"{SESSION_IRI}/messages/msg_1"),
        (vc["shared-screen"][0], "ms-lee", f"{people}/ms-lee/screen"),
        (vc["unshared-screen"][0], "ms-lee", f"{people}/ms-lee/screen"),
        (vc["left"][0], "ali", SESSION_IRI),
        (vc["terminated"][0], "aula", SESSION_IRI),
        (vc["left"][0], "ms-lee", SESSION_IRI),
        (vc["left"][0], "sam", SESSION_IRI),
        (vc["stopped-camera"][0], "ms-lee", f"{people}/ms-lee/camera"),
    ]
    return events, expected


def exported(**options: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events, _ = a_class()
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    return events, xapi.statements(shuffled, homepage=HOME, **options)


def test_verbs_actors_objects_and_timestamps_follow_the_events():
    _, expected = a_class()
    events, statements = exported()
    assert [(s["verb"]["id"], s["actor"]["account"]["name"], s["object"]["id"]) for s in statements] == expected
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, HOME)
    event_of = {str(uuid.uuid5(namespace, f"statement:{e['id']}")): e for e in events}
    for statement in statements:
        assert statement["timestamp"] == event_of[statement["id"]]["ts"]
    assert [s["timestamp"] for s in statements] == sorted(s["timestamp"] for s in statements)
    for statement in statements:
        assert statement["actor"] == {"objectType": "Agent",
                                      "account": {"homePage": HOME, "name": statement["actor"]["account"]["name"]}}
        assert statement["verb"]["display"]["en-US"]


def test_the_verb_iris_are_the_profiles():
    assert xapi.VERBS["initialized"][0] == "http://adlnet.gov/expapi/verbs/initialized"
    assert xapi.VERBS["terminated"][0] == "http://adlnet.gov/expapi/verbs/terminated"
    assert xapi.VERBS["joined"][0] == "http://activitystrea.ms/join"
    assert xapi.VERBS["left"][0] == "http://activitystrea.ms/leave"
    assert xapi.VERBS["raised-hand"][0] == "https://w3id.org/xapi/virtual-classroom/verbs/reacted"
    assert xapi.VERBS["lowered-hand"][0] == "https://w3id.org/xapi/virtual-classroom/verbs/unreacted"
    assert xapi.VERBS["muted"][0] == xapi.VERBS["stopped-camera"][0] == "https://w3id.org/xapi/virtual-classroom/verbs/stopped"
    assert xapi.VERBS["unmuted"][0] == xapi.VERBS["started-camera"][0] == "http://activitystrea.ms/start"
    assert xapi.VERBS["shared-screen"][0] == "http://activitystrea.ms/share"
    assert xapi.VERBS["unshared-screen"][0] == "http://activitystrea.ms/unshare"
    assert xapi.VERBS["asked"][0] == "http://adlnet.gov/expapi/verbs/asked"
    assert xapi.VERBS["answered"][0] == "http://adlnet.gov/expapi/verbs/answered"
    assert xapi.VERBS["posted"][0] == "https://w3id.org/xapi/acrossx/verbs/posted"


def test_statements_have_the_xapi_structure():
    _, statements = exported()
    validator = Draft202012Validator(STATEMENT, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for statement in statements:
        errors = sorted(validator.iter_errors(statement), key=str)
        assert not errors, (statement["verb"]["id"], [e.message for e in errors])
    json.dumps(statements)  # plain JSON


def test_profile_context_on_every_statement():
    _, statements = exported()
    registration = str(uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, HOME), f"registration:{SESSION}"))
    sessionids = {s["context"]["extensions"][xapi.SESSIONID] for s in statements}
    assert len(sessionids) == 1  # one room opening
    for statement in statements:
        context = statement["context"]
        assert context["registration"] == registration
        assert context["contextActivities"]["category"] == [
            {"objectType": "Activity", "id": "https://w3id.org/xapi/virtual-classroom",
             "definition": {"type": "http://adlnet.gov/expapi/activities/profile"}}]
        session_level = statement["object"]["id"] == SESSION_IRI
        assert ("parent" in context["contextActivities"]) is not session_level
        if not session_level:
            assert [p["id"] for p in context["contextActivities"]["parent"]] == [SESSION_IRI]
        if session_level:
            assert statement["object"]["definition"] == {"type": xapi.VIRTUAL_CLASSROOM, "name": {"und": "Algebra 1"}}


def test_results_durations_and_extensions():
    _, statements = exported()
    by_verb: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        by_verb.setdefault(statement["verb"]["id"], []).append(statement)
    verb = {name: iri for name, (iri, _) in xapi.VERBS.items()}

    initialized, = by_verb[verb["initialized"]]
    assert initialized["context"]["extensions"][xapi.PLANNED_DURATION] == "PT1H"
    terminated, = by_verb[verb["terminated"]]
    assert terminated["result"] == {"duration": "PT1H2M"}
    assert terminated["context"]["extensions"][xapi.PLANNED_DURATION] == "PT1H"
    assert [s["result"]["duration"] for s in by_verb[verb["left"]]] == ["PT49M30S", "PT1H2M", "PT53M"]

    raised, lowered = by_verb[verb["raised-hand"]] + by_verb[verb["lowered-hand"]]
    assert raised["result"] == lowered["result"] == {"extensions": {xapi.EMOJI: "U+1F590"}}
    assert "instructor" not in raised["context"]
    assert lowered["context"]["instructor"]["account"]["name"] == "ms-lee"
    muted = [s for s in by_verb[verb["muted"]] if s["object"]["definition"]["type"] == xapi.MICROPHONE]
    assert muted[0]["context"]["instructor"]["account"]["name"] == "ms-lee"

    asked = by_verb[verb["asked"]]
    assert asked[0]["object"]["definition"] == {
        "type": xapi.CMI_INTERACTION, "interactionType": "choice", "description": {"und": "Capital of France?"},
        "choices": [{"id": "0", "description": {"und": "Paris"}}, {"id": "1", "description": {"und": "Lyon"}}],
        "correctResponsesPattern": ["0"]}
    assert "correctResponsesPattern" not in asked[1]["object"]["definition"]
    answers = by_verb[verb["answered"]]
    assert [s["result"] for s in answers] == [{"response": "0", "success": True}, {"response": "1", "success": False},
                                              {"response": "1"}]
    assert answers[0]["object"] == asked[0]["object"]

    posted, = by_verb[verb["posted"]]
    assert posted["object"]["definition"]["type"] == xapi.MESSAGE
    assert "result" not in posted  # the text stays out unless asked for


def test_chat_text_only_when_asked_for():
    _, statements = exported(chat_text=True)
    posted, = [s for s in statements if s["verb"]["id"] == xapi.VERBS["posted"][0]]
    assert posted["result"] == {"response": "Is x = 3?"}


def test_types_without_a_statement_are_skipped():
    events, expected = a_class()
    _, statements = exported()
    assert len(statements) == len(expected)
    skipped = {"attendance.late", "attendance.no_show", "attendance.summary", "engagement.snapshot", "poll.ended"}
    skipped_signals = {"speaking_started", "speaking_stopped", "reaction", "tab_hidden", "camera_off",
                       "connection_quality"}
    only_skipped = [e for e in events if e["type"] in skipped
                    or e["type"] == "engagement.signal" and e["data"]["signal"] in skipped_signals
                    or e["type"].startswith("track.") and e["data"]["source"] == "microphone"
                    or e["type"] == "engagement.signal" and e["data"].get("to") is not None]
    assert len(only_skipped) == len(events) - len(expected)
    assert xapi.statements(only_skipped, homepage=HOME) == []


def test_ids_are_deterministic_and_re_exports_identical():
    events, _ = a_class()
    first = xapi.statements(events, homepage=HOME)
    again = xapi.statements(list(reversed(events)), homepage=HOME + "/")
    assert first == again
    assert len({s["id"] for s in first}) == len(first)
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, HOME)
    exported_ids = {s["id"] for s in first}
    assert str(uuid.uuid5(namespace, f"statement:{events[1]['id']}")) in exported_ids
    elsewhere = xapi.statements(events, homepage="https://other.example")
    assert not exported_ids & {s["id"] for s in elsewhere}


def test_duplicates_from_an_outbox_replay_are_dropped():
    events, expected = a_class()
    statements = xapi.statements(events + events[4:9], homepage=HOME)
    assert len(statements) == len(expected)


def test_a_reopened_room_is_a_new_technical_session():
    events, _ = a_class()
    reopened = [
        envelope(E.SESSION_STARTED, {"title": "Algebra 1", "scheduled_start": at(0), "scheduled_end": at(3600),
                                     "started_at": at(5000)}, offset_s=5000),
        joined("sam", "Sam", "student", 5000.5),
    ]
    statements = xapi.statements(events + reopened, homepage=HOME)
    first, second = statements[:-2], statements[-2:]
    assert [s["verb"]["id"] for s in second] == [xapi.VERBS["initialized"][0], xapi.VERBS["joined"][0]]
    assert second[0]["actor"]["account"]["name"] == "sam"  # whose join opened the room
    assert {s["context"]["extensions"][xapi.SESSIONID] for s in second} \
        .isdisjoint({s["context"]["extensions"][xapi.SESSIONID] for s in first})
    assert len({s["context"]["extensions"][xapi.SESSIONID] for s in second}) == 1
    assert {s["context"]["registration"] for s in statements} == {first[0]["context"]["registration"]}


def test_invalid_events_raise_or_are_skipped():
    events, expected = a_class()
    broken = dict(events[1], data={**events[1]["data"], "role": "teacher"})
    with pytest.raises(EventInvalid, match="data.role"):
        xapi.statements(events + [dict(broken, id="evt_ffffffffffffffffffffffff")], homepage=HOME)
    statements = xapi.statements([broken] + events[2:], homepage=HOME, skip_invalid=True)
    assert xapi.VERBS["initialized"][0] not in [s["verb"]["id"] for s in statements]  # events[0] left out too
    assert len(statements) == len(expected) - 2


def test_a_session_started_with_no_join_is_initialized_by_the_system():
    events, _ = a_class()
    statements = xapi.statements(events[:1], homepage=HOME, system_identity="aula-server")
    assert statements[0]["actor"]["account"]["name"] == "aula-server"


@pytest.mark.parametrize("homepage", ["aula.school.example", "", "ftp://aula.example", "https://"])
def test_homepage_must_be_an_http_url(homepage):
    with pytest.raises(ValueError):
        xapi.statements([], homepage=homepage)


def test_identities_are_escaped_in_activity_ids():
    events = [track(E.TRACK_PUBLISHED, "jo smith/2", "camera", 0)]
    statement, = xapi.statements(events, homepage=HOME)
    assert statement["object"]["id"] == f"{SESSION_IRI}/participants/jo%20smith%2F2/camera"
    assert statement["actor"]["account"]["name"] == "jo smith/2"


@pytest.mark.parametrize("seconds, text", [(0, "PT0S"), (0.004, "PT0S"), (5, "PT5S"), (61.25, "PT1M1.25S"),
                                           (3600, "PT1H"), (3723.456, "PT1H2M3.46S"), (90061, "PT25H1M1S")])
def test_durations(seconds, text):
    assert xapi._duration(seconds) == text
