"""Validate event envelopes against the JSON Schemas in events/schemas/ (docs/events.md).

`envelope.json` (id urn:aula:events:envelope) checks what every event has; `<type>.json`
(id urn:aula:events:<type>) checks one type: its `version`, whether it has a `participant`, and
its `data`. The schemas are draft 2020-12 and are loaded once, from the package.

A few rules JSON Schema cannot say (score parts adding up to the score, poll indexes within
the options, counts matching the answers) are checked here after the schema.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Iterable, Optional

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ENVELOPE_ID = "urn:aula:events:envelope"
SCORE_TOLERANCE = 0.5  # the parts and the score may each be rounded


class EventInvalid(ValueError):
    """An envelope that breaks its schema. `field` is a path such as `data.role`."""

    def __init__(self, event_type: str, field: str, message: str) -> None:
        super().__init__(f"{event_type}: {field}: {message}")
        self.event_type = event_type
        self.field = field
        self.reason = message


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    """Every schema in events/schemas/, by its $id."""
    folder = resources.files("events").joinpath("schemas")
    schemas: dict[str, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            schema = json.loads(entry.read_text(encoding="utf-8"))
            schemas[schema["$id"]] = schema
    return schemas


@cache
def _registry() -> Registry:
    return Registry().with_resources(
        (schema_id, Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema_id, schema in _schemas().items()
    )


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _by_type() -> dict[tuple[str, int], Draft202012Validator]:
    validators = {}
    for schema_id, schema in _schemas().items():
        if schema_id == ENVELOPE_ID:
            continue
        event_type = schema["properties"]["type"]["const"]
        version = schema["properties"]["version"]["const"]
        validators[(event_type, version)] = _validator(schema)
    return validators


@cache
def envelope_validator() -> Draft202012Validator:
    return _validator(_schemas()[ENVELOPE_ID])


def event_types() -> list[str]:
    """The types the schemas know, as in docs/events.md."""
    return sorted({event_type for event_type, _ in _by_type()})


def schemas() -> dict[str, dict[str, Any]]:
    """The schemas by $id (for serving them, or for other tools)."""
    return dict(_schemas())


def validator_for(event_type: str, version: int = 1) -> Draft202012Validator:
    """The jsonschema validator of one type's envelope (KeyError for a type or version there is none of)."""
    return _by_type()[(str(event_type), version)]


def validate(envelope: Any) -> None:
    """Raise EventInvalid, naming the field and the type, unless `envelope` is a valid event."""
    if not isinstance(envelope, dict):
        raise EventInvalid("(unknown type)", "(envelope)", "an event envelope must be a JSON object")
    event_type = envelope.get("type")
    label = event_type if isinstance(event_type, str) else "(unknown type)"
    version = envelope.get("version")
    validator = None
    if isinstance(event_type, str) and isinstance(version, int) and not isinstance(version, bool):
        validator = _by_type().get((event_type, version))
    if validator is None:
        # Unknown type or version, or no usable version: the envelope schema says which.
        _raise_first(label, envelope_validator().iter_errors(envelope))
        raise EventInvalid(label, "version", f"there is no schema for {label} version {version}")
    _raise_first(label, validator.iter_errors(envelope))
    assert isinstance(event_type, str)  # a validator was found for it
    problem = _semantic_problem(event_type, envelope["data"])
    if problem is not None:
        raise EventInvalid(label, *problem)


def is_valid(envelope: Any) -> bool:
    try:
        validate(envelope)
    except EventInvalid:
        return False
    return True


def _raise_first(event_type: str, errors: Iterable[ValidationError]) -> None:
    error = best_match(errors)
    if error is None:
        return
    message = error.message
    if error.validator == "not" and error.validator_value == {}:
        message = "is not allowed here"  # a property this type never has
    raise EventInvalid(event_type, _field(error), message)


def _field(error: ValidationError) -> str:
    """The path of the offending field, down to the property a `required` or an
    `additionalProperties` names."""
    path: list[Any] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        if missing:
            path.append(missing[0])
    elif error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(name for name in instance if name not in allowed)
        if extra:
            path.append(extra[0])
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(envelope)"


def _semantic_problem(event_type: str, data: dict[str, Any]) -> Optional[tuple[str, str]]:
    """(field, message) for a rule JSON Schema cannot express, or None."""
    if event_type == "engagement.snapshot":
        if data["polls_correct"] > data["polls_answered"]:
            return "data.polls_correct", "cannot exceed polls_answered"
        if data["score"] is not None:
            total = sum(data["score_parts"].values())
            if abs(total - data["score"]) > SCORE_TOLERANCE:
                return "data.score_parts", f"the parts add up to {total:g}, not to score {data['score']:g}"
    elif event_type in ("poll.started", "poll.ended"):
        options = len(data["options"])
        if data["correct"] is not None and data["correct"] >= options:
            return "data.correct", f"index {data['correct']} is out of range for {options} options"
        if event_type == "poll.ended":
            if len(data["counts"]) != options:
                return "data.counts", f"has {len(data['counts'])} counts for {options} options"
            tally = [0] * options
            for index, answer in enumerate(data["answers"]):
                if answer["option"] >= options:
                    return (f"data.answers[{index}].option",
                            f"index {answer['option']} is out of range for {options} options")
                tally[answer["option"]] += 1
            if tally != data["counts"]:
                return "data.counts", f"{data['counts']} does not match the answers ({tally})"
    elif event_type == "attendance.summary":
        seen: set[str] = set()
        for index, record in enumerate(data["records"]):
            if record["identity"] in seen:
                return f"data.records[{index}].identity", f"{record['identity']!r} has two records"
            seen.add(record["identity"])
    return None
