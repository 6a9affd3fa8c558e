"""The event schemas (events/schemas/) and events.schema.validate against docs/events.md."""

from __future__ import annotations

import copy
import importlib.util
import json
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator

from events import schema as event_schema
from events.event import Event, EventType
from events.schema import EventInvalid, validate, validator_for

SESSION = "ses_1a2b3c4d5e6f7a8b"
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc).timestamp()
SIGNALS = ["speaking_started", "speaking_stopped", "camera_on", "camera_off", "mic_muted",
           "mic_unmuted", "chat_message", "hand_raised", "hand_lowered", "reaction",
           "poll_answered", "tab_hidden", "tab_visible", "connection_quality", "video_black",
           "video_frozen", "video_ok", "face_present", "face_absent"]


def at(offset_s: float) -> str:
    return datetime.fromtimestamp(T0 + offset_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_type: EventType, data: dict[str, Any], participant: str | None = None,
             offset_s: float = 0.0, session_id: str = SESSION) -> dict[str, Any]:
    """An envelope as the real Event class writes it."""
    return Event(event_type, session_id, data, participant=participant, ts=T0 + offset_s).envelope()


def signal(name: str, participant: str = "sam", offset_s: float = 0.0, **fields: Any) -> dict[str, Any]:
    return envelope(EventType.ENGAGEMENT_SIGNAL, {"signal": name, **fields}, participant, offset_s)


def valid_examples() -> list[dict[str, Any]]:
    """At least one valid envelope of every type and of every signal."""
    E = EventType
    options = ["Paris", "Lyon", "Marseille"]
    return [
        envelope(E.SESSION_STARTED, {"title": "Algebra 1", "scheduled_start": at(0),
                                     "scheduled_end": "2026-11-25T16:00:00+00:00", "started_at": at(-60)}),
        envelope(E.SESSION_ENDED, {"ended_at": at(3600), "reason": "instructor", "duration_s": 3660.5}),
        envelope(E.PARTICIPANT_JOINED, {"name": "Sam", "role": "student",
                                        "participant_sid": "PA_0123456789ab", "rejoin": False}, "sam"),
        envelope(E.PARTICIPANT_LEFT, {"participant_sid": "PA_0123456789ab", "reason": "disconnected",
                                      "duration_s": 61.25}, "sam"),
        envelope(E.TRACK_PUBLISHED, {"track_sid": "TR_a1b2c3d4e5f6", "kind": "audio",
                                     "source": "microphone"}, "sam"),
        envelope(E.TRACK_UNPUBLISHED, {"track_sid": "TR_a1b2c3d4e5f7", "kind": "video",
                                       "source": "screen"}, "ms-lee"),
        envelope(E.ATTENDANCE_LATE, {"name": "Sam", "joined_at": at(420), "late_by_s": 420,
                                     "late_after_s": 300}, "sam"),
        envelope(E.ATTENDANCE_NO_SHOW, {"name": "Ali", "title": "Algebra 1", "guardian": {"name": "Dana", "email": "dana@example.org",
                                                                    "phone": None},
                                        "scheduled_start": at(0), "no_show_after_s": 900}, "ali"),
        envelope(E.ATTENDANCE_NO_SHOW, {"name": "Bo", "guardian": None, "scheduled_start": at(0),
                                        "no_show_after_s": 900}, "bo"),
        envelope(E.ATTENDANCE_SUMMARY, {
            "records": [
                {"identity": "sam", "name": "Sam", "role": "student", "category": "tardy",
                 "first_join": at(420), "last_leave": at(3000), "present_s": 2520.0, "late_by_s": 420,
                 "left_early": True, "intervals": [
                     {"joined_at": at(420), "left_at": at(1000), "duration_s": 580},
                     {"joined_at": at(1060), "left_at": at(3000), "duration_s": 1940}]},
                {"identity": "ali", "name": "Ali", "role": "student", "category": "unexcused_absence",
                 "first_join": None, "last_leave": None, "present_s": 0, "late_by_s": None,
                 "left_early": None, "intervals": []},
                {"identity": "ms-lee", "name": "Ms Lee", "role": "instructor", "category": "present",
                 "first_join": at(-60), "last_leave": at(3600), "present_s": 3660, "late_by_s": 0,
                 "left_early": False, "intervals": [
                     {"joined_at": at(-60), "left_at": at(3600), "duration_s": 3660}]}],
            "expected": 2, "present": 1, "absent": 1}),
        signal("speaking_started"),
        signal("speaking_stopped", duration_s=4.2),
        signal("camera_on"),
        signal("camera_off"),
        signal("mic_muted"),
        signal("mic_muted", by="ms-lee"),
        signal("mic_unmuted"),
        signal("chat_message", message_id="msg_1", text="Is it 42?", to=None),
        signal("chat_message", message_id="msg_2", text="psst", to="ms-lee"),
        signal("hand_raised"),
        signal("hand_lowered"),
        signal("hand_lowered", by="ms-lee"),
        signal("reaction", emoji="👍"),
        signal("poll_answered", poll_id="poll_1", option=0, correct=True),
        signal("poll_answered", poll_id="poll_2", option=2, correct=None),
        signal("tab_hidden"),
        signal("tab_visible"),
        signal("connection_quality", rtt_ms=42.5, packet_loss=0.01, jitter_ms=3.1),
        signal("video_black", mean_luma=2.5),
        signal("video_frozen", change=0.12),
        signal("video_ok"),
        signal("face_present", faces=1),
        signal("face_absent", faces=0),
        envelope(E.ENGAGEMENT_SNAPSHOT, {
            "present_s": 600, "talk_time_s": 45.5, "speaking_turns": 3, "camera_on_s": 580,
            "visible_s": 590, "messages": 2, "hands": 1, "reactions": 4, "polls_answered": 1,
            "polls_correct": 1, "score": 73.3,
            "score_parts": {"talk": 15.2, "chat": 10, "hands": 20, "reactions": 8.1, "polls": 20}}, "sam"),
        envelope(E.ENGAGEMENT_SNAPSHOT, {
            "present_s": 600, "talk_time_s": 300, "speaking_turns": 20, "camera_on_s": 600,
            "visible_s": 600, "messages": 0, "hands": 0, "reactions": 0, "polls_answered": 0,
            "polls_correct": 0, "score": None, "score_parts": None}, "ms-lee"),
        envelope(E.POLL_STARTED, {"poll_id": "poll_1", "question": "Capital of France?",
                                  "options": options, "correct": 0}, "ms-lee"),
        envelope(E.POLL_ENDED, {"poll_id": "poll_1", "question": "Capital of France?", "options": options,
                                "correct": 0, "counts": [1, 1, 0],
                                "answers": [{"identity": "sam", "option": 0, "correct": True},
                                            {"identity": "ali", "option": 1, "correct": False}]}, "ms-lee"),
        envelope(E.POLL_ENDED, {"poll_id": "poll_2", "question": "How was today?", "options": ["good", "meh"],
                                "correct": None, "counts": [0, 0], "answers": []}, "ms-lee"),
        envelope(E.TRANSCRIPT_PARTIAL, {"name": "Sam", "utterance_id": "TR_a1b2c3d4e5f6-3", "start": 61.2,
                                        "end": 63.25, "text": "the mitochondria is the",
                                        "stable_text": "the mitochondria"}, "sam"),
        envelope(E.TRANSCRIPT_FINAL, {"name": "Sam", "utterance_id": "TR_a1b2c3d4e5f6-3", "start": 61.2,
                                      "end": 64.0, "text": "The mitochondria is the powerhouse.",
                                      "words": [{"start": 61.2, "end": 61.4, "text": "The", "probability": 0.98},
                                                {"start": 61.4, "end": 62.1, "text": "mitochondria",
                                                 "probability": 0.91}],
                                      "confidence": 0.87, "language": "en"}, "sam"),
        envelope(E.TRANSCRIPT_FINAL, {"name": "Sam", "utterance_id": "TR_a1b2c3d4e5f6-4", "start": 70.0,
                                      "end": 70.4, "text": "", "words": [], "confidence": None,
                                      "language": "en"}, "sam"),
        envelope(E.RECORDING_STARTED, {"by": "ms-lee"}, "ms-lee"),
        envelope(E.RECORDING_STARTED, {"by": None}),
        envelope(E.RECORDING_FINISHED, {"by": None, "reason": "session_ended", "duration_s": 3540.2, "files": [
            {"file": "sam-microphone-TR_a1b2c3d4e5f6.ogg", "participant": "sam", "kind": "audio",
             "source": "microphone", "offset_s": 12.5, "duration_s": 3527.7}]}),
        envelope(E.SUMMARY_DRAFT, {"summariser": "extractive:all-MiniLM-L6-v2",
                                   "overview": "Algebra 1 covered fractions.",
                                   "counts": {"topics": 2, "key_points": 3, "questions": 1, "action_items": 1,
                                              "students": 2}}),
        envelope(E.SUMMARY_APPROVED, {"by": "ms-lee", "students": ["sam", "ali"]}, "ms-lee"),
        envelope(E.SUMMARY_REJECTED, {"by": "ms-lee", "reason": "the transcript missed half the class"}, "ms-lee"),
        envelope(E.FLAG_RAISED, {"kind": "no_show", "reason": "Ali missed Algebra 1", "severity": "warning",
                                 "cause_event_id": "evt_0123456789ab0123456789ab"}, "ali"),
        envelope(E.WORKFLOW_NOTIFICATION_SENT, {"channel": "email", "template": "no_show", "to": "dana@example.org",
                                                "cause_event_id": "evt_0123456789ab0123456789ab", "attempts": 1}, "ali"),
        envelope(E.WORKFLOW_NOTIFICATION_FAILED, {"channel": "webhook", "template": "no_show",
                                                  "to": "https://sis.example.org/hooks/aula",
                                                  "cause_event_id": "evt_0123456789ab0123456789ab", "attempts": 5,
                                                  "error": "HTTP 503"}, "ali"),
    ]


def schema_files() -> dict[str, dict[str, Any]]:
    folder = resources.files("events").joinpath("schemas")
    return {entry.name: json.loads(entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir() if entry.name.endswith(".json")}


# -- the schemas themselves

def test_there_is_a_schema_per_type_plus_the_envelope():
    names = set(schema_files())
    assert names == {"envelope.json"} | {f"{t.value}.json" for t in EventType}
    assert event_schema.event_types() == sorted(t.value for t in EventType)


@pytest.mark.parametrize("name", sorted(schema_files()))
def test_every_schema_is_a_valid_draft_2020_12_schema(name):
    schema = schema_files()[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    if name != "envelope.json":
        event_type = name.removesuffix(".json")
        assert schema["$id"] == f"urn:aula:events:{event_type}"
        assert schema["properties"]["type"] == {"const": event_type}
        assert schema["properties"]["version"] == {"const": 1}


def test_the_envelope_lists_every_type():
    envelope_schema = schema_files()["envelope.json"]
    assert set(envelope_schema["properties"]["type"]["enum"]) == {t.value for t in EventType}
    assert envelope_schema["additionalProperties"] is False


def test_data_schemas_are_closed():
    """Every object in a type's data lists its fields (no silently accepted extras)."""
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node is not signal_data:
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    files = schema_files()
    signal_data = files["engagement.signal.json"]["properties"]["data"]
    for name, schema in files.items():
        if name != "envelope.json":
            walk(schema["properties"]["data"], name)
    # engagement.signal closes each signal's branch instead
    branches = signal_data["allOf"]
    assert [b["if"]["properties"]["signal"]["const"] for b in branches] == SIGNALS
    assert all(b["then"]["additionalProperties"] is False for b in branches)


def test_schemas_are_loaded_once():
    assert event_schema._schemas() is event_schema._schemas()
    assert validator_for("participant.joined") is validator_for(EventType.PARTICIPANT_JOINED.value)
    with pytest.raises(KeyError):
        validator_for("participant.joined", 2)


# -- valid events

def test_examples_cover_every_type_and_signal():
    examples = valid_examples()
    assert {e["type"] for e in examples} == {t.value for t in EventType}
    assert [s for s in SIGNALS if s in {e["data"]["signal"] for e in examples if e["type"] == "engagement.signal"}] == SIGNALS


@pytest.mark.parametrize("example", valid_examples(),
                         ids=lambda e: e["type"] + (f":{e['data']['signal']}" if "signal" in e["data"] else ""))
def test_valid_examples_pass(example):
    validate(example)
    validate(json.loads(Event(EventType(example["type"]), example["session_id"], example["data"],
                              participant=example.get("participant"), id=example["id"]).to_json()))
    assert event_schema.is_valid(example)


def test_event_ids_from_new_event_id_match_the_pattern():
    for offset in (0, 1e-3, 86400 * 365 * 20):
        example = envelope(EventType.SESSION_ENDED, {"ended_at": at(offset), "reason": "api",
                                                     "duration_s": 0}, offset_s=offset)
        validate(example)


# -- invalid events

def example_of(event_type: str, signal_name: str | None = None) -> dict[str, Any]:
    for example in valid_examples():
        if example["type"] == event_type and (signal_name is None or example["data"].get("signal") == signal_name):
            return copy.deepcopy(example)
    raise LookupError(event_type)


def set_in(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = event
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return mutate


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = event
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]
    return mutate


INVALID = [
    # (type, signal, mutation, the field the error must name)
    ("participant.joined", None, set_in("data.role", "teacher"), "data.role"),
    ("participant.joined", None, drop("data.rejoin"), "data.rejoin"),
    ("participant.joined", None, set_in("data.nickname", "Sammy"), "data.nickname"),
    ("participant.joined", None, set_in("data.participant_sid", "sam"), "data.participant_sid"),
    ("participant.joined", None, drop("participant"), "participant"),
    ("participant.joined", None, set_in("participant", ""), "participant"),
    ("participant.joined", None, set_in("id", "evt_123"), "id"),
    ("participant.joined", None, set_in("id", "evt_0192F3A4B5C6D7E8F9A0B1C2"), "id"),
    ("participant.joined", None, set_in("session_id", "ses_xyz"), "session_id"),
    ("participant.joined", None, set_in("ts", "2026-11-25T15:02:11Z"), "ts"),
    ("participant.joined", None, set_in("ts", "2026-11-25T16:02:11.431+01:00"), "ts"),
    ("participant.joined", None, set_in("ts", 1764082931.431), "ts"),
    ("participant.joined", None, set_in("version", 2), "version"),
    ("participant.joined", None, set_in("version", "1"), "version"),
    ("participant.joined", None, set_in("type", "participant.waved"), "type"),
    ("participant.joined", None, set_in("extra", True), "extra"),
    ("participant.joined", None, drop("data"), "data"),
    ("participant.left", None, set_in("data.reason", "vanished"), "data.reason"),
    ("participant.left", None, set_in("data.duration_s", -1), "data.duration_s"),
    ("session.started", None, set_in("participant", "sam"), "participant"),
    ("session.started", None, set_in("data.scheduled_start", "2026-11-25T16:00:00+01:00"), "data.scheduled_start"),
    ("session.started", None, set_in("data.started_at", "yesterday"), "data.started_at"),
    ("session.ended", None, set_in("data.reason", "everyone_left"), "data.reason"),
    ("track.published", None, set_in("data.kind", "video"), "data.kind"),
    ("track.published", None, set_in("data.source", "webcam"), "data.source"),
    ("track.unpublished", None, set_in("data.kind", "data"), "data.kind"),
    ("attendance.no_show", None, drop("data.guardian.email"), "data.guardian.email"),
    ("attendance.summary", None, set_in("data.records.0.category", "late"), "data.records[0].category"),
    ("attendance.summary", None, set_in("data.records.1.first_join", "2026-11-25T15:00:00Z"), "data.records[1].first_join"),
    ("attendance.summary", None, drop("data.records.0.intervals.1.left_at"), "data.records[0].intervals[1].left_at"),
    ("attendance.summary", None, set_in("data.records.2.identity", "sam"), "data.records[2].identity"),
    ("engagement.signal", "speaking_stopped", drop("data.duration_s"), "data.duration_s"),
    ("engagement.signal", "camera_on", set_in("data.duration_s", 3), "data.duration_s"),
    ("engagement.signal", "hand_raised", set_in("data.by", "ms-lee"), "data.by"),
    ("engagement.signal", "hand_raised", set_in("data.signal", "hand_waved"), "data.signal"),
    ("engagement.signal", "chat_message", drop("data.to"), "data.to"),
    ("engagement.signal", "reaction", set_in("data.emoji", ""), "data.emoji"),
    ("engagement.signal", "poll_answered", set_in("data.option", "Paris"), "data.option"),
    ("engagement.signal", "connection_quality", drop("data.jitter_ms"), "data.jitter_ms"),
    ("engagement.signal", "face_absent", set_in("data.faces", 2), "data.faces"),
    ("engagement.signal", "tab_hidden", drop("participant"), "participant"),
    ("engagement.snapshot", None, drop("data.score_parts.polls"), "data.score_parts.polls"),
    ("engagement.snapshot", None, set_in("data.score", 120), "data.score"),
    ("engagement.snapshot", None, set_in("data.score", 90), "data.score_parts"),
    ("engagement.snapshot", None, set_in("data.score_parts.talk", 25), "data.score_parts.talk"),
    ("engagement.snapshot", None, set_in("data.polls_correct", 2), "data.polls_correct"),
    ("engagement.snapshot", None, set_in("data.messages", 1.5), "data.messages"),
    ("poll.started", None, set_in("data.correct", 3), "data.correct"),
    ("poll.started", None, set_in("data.options", ["only one"]), "data.options"),
    ("poll.ended", None, set_in("data.counts", [2, 0, 0]), "data.counts"),
    ("poll.ended", None, set_in("data.counts", [1, 1]), "data.counts"),
    ("poll.ended", None, set_in("data.answers.0.option", 7), "data.answers[0].option"),
]


@pytest.mark.parametrize("event_type, signal_name, mutate, field", INVALID,
                         ids=[f"{t}:{f}" + (f"({s})" if s else "") for t, s, _, f in INVALID])
def test_invalid_events_fail_naming_the_field(event_type, signal_name, mutate, field):
    event = example_of(event_type, signal_name)
    mutate(event)
    with pytest.raises(EventInvalid) as raised:
        validate(event)
    assert raised.value.field == field, str(raised.value)
    assert str(raised.value).startswith(f"{event['type'] if isinstance(event.get('type'), str) else '(unknown type)'}: {field}: ")
    assert isinstance(raised.value, ValueError)
    assert not event_schema.is_valid(event)


@pytest.mark.parametrize("not_an_event", [None, [], "participant.joined", 42])
def test_an_envelope_must_be_an_object(not_an_event):
    with pytest.raises(EventInvalid) as raised:
        validate(not_an_event)
    assert raised.value.field == "(envelope)"


@pytest.mark.skipif(importlib.util.find_spec("rfc3339_validator") is None,
                    reason="jsonschema checks date-time formats only with rfc3339-validator")
def test_impossible_dates_fail_when_formats_are_checked():
    event = example_of("attendance.late")
    event["data"]["joined_at"] = "2026-02-30T15:00:00.000Z"
    with pytest.raises(EventInvalid, match="data.joined_at"):
        validate(event)


# -- what the producers build (pure parts only: no Redis, no room)

def test_attendance_summary_as_summarise_builds_it():
    from engagement.attendance import AttendancePolicy, AttendanceRecord, summarise

    policy = AttendancePolicy(T0, T0 + 3600, 300, 900)
    records = {
        "sam": AttendanceRecord("sam", "Sam", "student", [[T0 + 400, T0 + 1000], [T0 + 1100, None]]),
        "ms-lee": AttendanceRecord("ms-lee", "Ms Lee", "instructor", [[T0 - 60, T0 + 3600]]),
    }
    summary = summarise(records, [("sam", "Sam"), ("ali", "Ali")], policy, T0 + 3600)
    validate(envelope(EventType.ATTENDANCE_SUMMARY, summary, offset_s=3600))


def test_poll_events_as_poll_builds_them():
    from engagement.polls import Poll

    poll = Poll("Capital of France?", ["Paris", "Lyon", "Nice"], 0, "ms-lee")
    validate(envelope(EventType.POLL_STARTED, {"poll_id": poll.id, "question": poll.question,
                                               "options": poll.options, "correct": poll.correct}, "ms-lee"))
    for identity, option in (("sam", 0), ("ali", 2), ("sam", 1)):  # sam changes their answer
        correct = poll.answer(identity, option)
        validate(signal("poll_answered", identity, poll_id=poll.id, option=option, correct=correct))
    validate(envelope(EventType.POLL_ENDED, {
        "poll_id": poll.id, "question": poll.question, "options": poll.options, "correct": poll.correct,
        "counts": poll.counts(),
        "answers": [{"identity": i, "option": o, "correct": poll.is_correct(o)} for i, o in poll.answers.items()]},
        "ms-lee"))


def _tracker():
    from engagement.activity import ActivityTracker

    tracker = ActivityTracker()
    for identity, role in (("sam", "student"), ("ali", "student"), ("ms-lee", "instructor")):
        tracker.activity(identity, identity.title(), role)
    tracker.participants["sam"].messages, tracker.participants["ali"].messages = 3, 1
    tracker.polls_asked = 1
    tracker.participants["sam"].polls_answered.add("poll_1")
    return tracker, {"sam": 10.0, "ali": 3.3, "ms-lee": 100.0}


@pytest.mark.parametrize("identity", ["sam", "ali"])
def test_student_snapshots_as_activity_tracker_builds_them(identity):
    tracker, talk = _tracker()
    data = tracker.snapshot(identity, 100.0, talk, 2, T0)
    validate(envelope(EventType.ENGAGEMENT_SNAPSHOT, data, identity))


def test_instructor_snapshots_as_activity_tracker_builds_them():
    tracker, talk = _tracker()
    data = tracker.snapshot("ms-lee", 100.0, talk, 2, T0)
    validate(envelope(EventType.ENGAGEMENT_SNAPSHOT, data, "ms-lee"))
