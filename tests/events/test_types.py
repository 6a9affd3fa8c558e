"""The typed payloads (events/types/): one per type, `to_data` as on the wire, `from_data` and
`parse_event` agreeing with the JSON Schemas, `Event.of` building the same envelopes."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from events import Event, EventType, parse_event
from events.event import VERSIONS
from events.schema import EventInvalid, validate
from events.types import (PAYLOADS, SIGNALS, AttendanceNoShow, CameraOn, ChatMessage, FaceAbsent, Guardian,
                          MicMuted, ParticipantJoined, Payload, PayloadInvalid, PollAnswer, PollEnded, Signal,
                          SessionStarted)
from tests.events.test_schemas import INVALID, SESSION, SIGNALS as SIGNAL_NAMES, T0, at, example_of, valid_examples

EXAMPLE_IDS = [e["type"] + (f":{e['data']['signal']}" if "signal" in e["data"] else "") for e in valid_examples()]

# Rules between fields: the JSON Schemas (and events.schema) check them, field types cannot.
CROSS_FIELD = {
    ("attendance.summary", "data.records[1].first_join"),  # an absent student has no first join
    ("attendance.summary", "data.records[2].identity"),  # one record per identity
    ("track.published", "data.kind"),  # a microphone is audio, a camera or screen video
    ("engagement.snapshot", "data.score_parts"),  # the parts add up to the score
    ("engagement.snapshot", "data.polls_correct"),  # no more correct than answered
    ("poll.started", "data.correct"),  # an index within the options
    ("poll.ended", "data.counts"),  # one count per option, matching the answers
    ("poll.ended", "data.answers[0].option"),
}


def test_one_payload_class_per_type_with_the_envelopes_version():
    assert list(PAYLOADS) == list(EventType)
    for event_type, cls in PAYLOADS.items():
        assert cls.TYPE is event_type
        assert cls.VERSION == VERSIONS[event_type]
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
        assert cls.description(), cls
    assert list(SIGNALS) == SIGNAL_NAMES
    assert all(issubclass(cls, Signal) and cls.TYPE is EventType.ENGAGEMENT_SIGNAL for cls in SIGNALS.values())


def test_payloads_are_frozen():
    payload = CameraOn()
    with pytest.raises(dataclasses.FrozenInstanceError):
        payload.SIGNAL = "camera_off"  # type: ignore[misc]
    joined = ParticipantJoined(name="Sam", role="student", participant_sid="PA_0123456789ab", rejoin=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        joined.rejoin = True  # type: ignore[misc]


@pytest.mark.parametrize("example", valid_examples(), ids=EXAMPLE_IDS)
def test_parse_and_rebuild_every_example(example):
    event, payload = parse_event(copy.deepcopy(example))
    assert isinstance(payload, PAYLOADS[EventType(example["type"])])
    data = payload.to_data()
    assert data == example["data"]
    assert type(payload).from_data(data) == payload
    assert event.envelope() == example
    rebuilt = Event.of(payload, example["session_id"], example.get("participant"), event.ts, example["id"])
    assert rebuilt.envelope() == example
    assert json.loads(rebuilt.to_json()) == example
    validate(rebuilt.envelope())


def test_to_data_leaves_out_omitted_fields():
    assert MicMuted().to_data() == {"signal": "mic_muted"}
    assert MicMuted(by="ms-lee").to_data() == {"signal": "mic_muted", "by": "ms-lee"}
    assert FaceAbsent().to_data() == {"signal": "face_absent", "faces": 0}
    no_show = AttendanceNoShow(name="Ali", guardian=Guardian(name="Dana", email="dana@example.org", phone=None),
                               scheduled_start=at(0), no_show_after_s=600)
    assert "title" not in no_show.to_data()
    assert no_show.to_data()["guardian"] == {"name": "Dana", "email": "dana@example.org", "phone": None}
    assert AttendanceNoShow.from_data(no_show.to_data()) == no_show


def test_event_of_builds_the_envelope():
    payload = SessionStarted(title="Algebra 1", scheduled_start=at(0), scheduled_end=at(3600), started_at=at(-60))
    event = Event.of(payload, SESSION, at=T0)
    assert event == Event(EventType.SESSION_STARTED, SESSION, payload.to_data(), None, T0, event.id)
    assert event.id.startswith("evt_") and event.version == 1
    validate(event.envelope())
    assert Event.of(payload, SESSION).ts > T0  # now
    assert Event.of(CameraOn(), SESSION, "sam", T0, event.id).envelope() == {
        "id": event.id, "type": "engagement.signal", "version": 1, "ts": "2026-11-25T15:00:00.000Z",
        "session_id": SESSION, "participant": "sam", "data": {"signal": "camera_on"}}


def test_nested_records_parse_to_dataclasses():
    example = example_of("poll.ended")
    payload = PollEnded.from_data(example["data"])
    assert all(isinstance(answer, PollAnswer) for answer in payload.answers)
    signal = Signal.from_data({"signal": "chat_message", "message_id": "m1", "text": "hi", "to": None})
    assert signal == ChatMessage(message_id="m1", text="hi", to=None)
    with pytest.raises(PayloadInvalid, match="'chat_message' is not a MicMuted"):
        MicMuted.from_data({"signal": "chat_message", "message_id": "m1", "text": "hi", "to": None})


@pytest.mark.parametrize("event_type, signal_name, mutate, field", INVALID,
                         ids=[f"{t}:{f}" + (f"({s})" if s else "") for t, s, _, f in INVALID])
def test_parse_event_names_the_field_the_schema_names(event_type, signal_name, mutate, field):
    event = example_of(event_type, signal_name)
    mutate(event)
    if (event_type, field) in CROSS_FIELD:
        parse_event(event)  # well-typed, but breaks a rule between fields:
        with pytest.raises(EventInvalid, match=field.replace("[", r"\[")):
            validate(event)
        return
    with pytest.raises(PayloadInvalid) as raised:
        parse_event(event)
    assert raised.value.field == field, str(raised.value)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, EventInvalid)
    assert str(raised.value).startswith(f"{event['type'] if isinstance(event.get('type'), str) else '(unknown type)'}: "
                                        f"{field}: ")


@pytest.mark.parametrize("cls, data, field, words", [
    (ParticipantJoined, {"name": "Sam", "role": "student", "participant_sid": "PA_0123456789ab", "rejoin": 1},
     "data.rejoin", "expected true or false"),
    (ParticipantJoined, {"name": None, "role": "student", "participant_sid": "PA_0123456789ab", "rejoin": False},
     "data.name", "may not be null"),
    (ParticipantJoined, ["Sam"], "data", "expected an object"),
    (Signal, {"duration_s": 3}, "data.signal", "is required"),
    (Signal, {"signal": "waved"}, "data.signal", "'waved' is not one of"),
    (Signal, {"signal": "speaking_stopped", "duration_s": "3"}, "data.duration_s", "expected a number"),
    (Signal, {"signal": "speaking_stopped", "duration_s": True}, "data.duration_s", "expected a number"),
    (Signal, {"signal": "face_absent", "faces": False}, "data.faces", "is not one of 0"),
    (PollEnded, {**example_of("poll.ended")["data"], "answers": [{"identity": "sam", "option": 0}]},
     "data.answers[0].correct", "is required"),
    (PollEnded, {**example_of("poll.ended")["data"], "options": ["Paris", ""]},
     "data.options", "item 1"),
])
def test_from_data_errors_name_the_field(cls: type[Payload], data: Any, field: str, words: str):
    with pytest.raises(PayloadInvalid) as raised:
        cls.from_data(data)
    assert raised.value.field == field
    assert words in str(raised.value)
    assert str(raised.value).startswith(f"{cls.TYPE.value}: {field}: ")


def test_parse_event_refuses_what_is_not_an_envelope():
    with pytest.raises(PayloadInvalid) as raised:
        parse_event("participant.joined")
    assert raised.value.field == "(envelope)"
    event = example_of("participant.joined")
    event["ts"] = "2026-02-30T15:00:00.000Z"
    with pytest.raises(PayloadInvalid, match="ts"):
        parse_event(event)
