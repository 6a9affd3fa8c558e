"""The shared definitions of the envelope schema (`urn:aula:events:envelope#/$defs/<name>`).

events/schema_gen.py writes them into events/schemas/envelope.json; a payload field that
`Ref`s one of them is written as a `$ref` to it, and `from_data` checks it against the same
definition (events/types/base.py).
"""

from __future__ import annotations

from typing import Any

ENVELOPE_ID = "urn:aula:events:envelope"

DEFS: dict[str, dict[str, Any]] = {
    "event_id": {
        "type": "string",
        "pattern": "^evt_[0-9a-f]{24}$",
        "description": "evt_ + 12 hex digits of Unix milliseconds + 12 random hex digits; sorts by time",
    },
    "session_id": {"type": "string", "pattern": "^ses_[0-9a-f]{16}$"},
    "timestamp": {
        "type": "string",
        "format": "date-time",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
        "description": "the envelope's ts: UTC, milliseconds, Z",
    },
    "date_time": {
        "type": "string",
        "format": "date-time",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|\\+00:00)$",
        "description": "a time inside data: ISO 8601 / RFC 3339, UTC (Z or +00:00)",
    },
    "duration_s": {"type": "number", "minimum": 0},
    "count": {"type": "integer", "minimum": 0},
    "identity": {"type": "string", "minLength": 1, "maxLength": 128},
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "role": {"enum": ["instructor", "student", "observer"]},
    "participant_sid": {"type": "string", "pattern": "^PA_[0-9a-f]{12}$"},
    "track_sid": {"type": "string", "pattern": "^TR_[0-9a-f]{12}$"},
    "kind": {"enum": ["audio", "video"]},
    "source": {"enum": ["microphone", "camera", "screen"]},
    "poll_id": {"type": "string", "minLength": 1},
    "option_index": {"type": "integer", "minimum": 0},
    "poll_options": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}},
    "correct_index": {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
        "description": "the index of the correct option, or null for a poll without one",
    },
    "utterance_id": {
        "type": "string",
        "pattern": "^TR_[0-9a-f]{12}-[0-9]+$",
        "description": "the microphone's track sid, then the utterance's number on that track",
    },
    "session_time_s": {
        "type": "number",
        "minimum": 0,
        "description": "seconds since the session started (session.started)",
    },
}


def ref(name: str) -> str:
    return f"{ENVELOPE_ID}#/$defs/{name}"


def nullable(name: str) -> bool:
    """Whether the definition itself allows null (then an Optional field refs it as it is)."""
    return {"type": "null"} in DEFS[name].get("anyOf", [])
