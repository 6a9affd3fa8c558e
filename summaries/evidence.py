"""What a class left on the bus, read back for its summary: who was there, what was said, what
each student did. Everything the summary states points back here (an event id, a transcript time).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import redis.asyncio as aioredis

from events.bus import session_stream
from events.event import parse_iso

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
QUESTION_START = re.compile(
    r"^(who|whom|whose|what|when|where|why|how|which|is|are|was|were|do|does|did|can|could|will|would|"
    r"should|shall|may|might|have|has|had|isn't|aren't|don't|doesn't|didn't|can't|won't)\b", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in SENTENCE_END.split(text) if sentence.strip()]


def is_question(text: str) -> bool:
    """Ends with "?", or, unpunctuated, opens like one ("how do we ...")."""
    text = text.strip()
    if text.endswith("?"):
        return True
    return not text.endswith((".", "!")) and bool(QUESTION_START.match(text)) and len(text.split()) >= 3


@dataclass(frozen=True)
class Evidence:
    """Where a statement comes from: an event, and for speech its time in the class (seconds
    since `session.started`)."""
    event_id: str
    type: str
    at_s: float
    end_s: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_id": self.event_id, "type": self.type, "at_s": round(self.at_s, 1)}
        if self.end_s is not None:
            out["end_s"] = round(self.end_s, 1)
        return out


@dataclass(frozen=True)
class Utterance:
    """One `transcript.final`: a speaker's sentence or few, with its times in the class."""
    event_id: str
    speaker: str
    name: str
    role: str
    start: float
    end: float
    text: str

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.event_id, "transcript.final", self.start, self.end)


@dataclass(frozen=True)
class ChatMessage:
    event_id: str
    sender: str
    at_s: float
    text: str
    to: Optional[str]

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.event_id, "engagement.signal", self.at_s)


@dataclass(frozen=True)
class PollResult:
    event_id: str
    at_s: float
    question: str
    options: list[str]
    correct: Optional[int]
    answers: dict[str, int]

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.event_id, "poll.ended", self.at_s)


@dataclass
class ClassRecord:
    """One session's events, sorted into what a summary needs."""
    session_id: str
    title: str = ""
    started_ts: Optional[float] = None
    duration_s: float = 0.0
    roles: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    utterances: list[Utterance] = field(default_factory=list)
    chat: list[ChatMessage] = field(default_factory=list)
    polls: list[PollResult] = field(default_factory=list)
    # identity → the latest engagement.snapshot envelope; the attendance.summary record and its event.
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    attendance: dict[str, dict[str, Any]] = field(default_factory=dict)
    attendance_event_id: Optional[str] = None
    # identity → the worst connection_quality seen: (packet loss, event).
    worst_connection: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def at_s(self, event: dict[str, Any]) -> float:
        """An event's time in the class (seconds since `session.started`)."""
        ts = parse_iso(event["ts"])
        return max(0.0, ts - self.started_ts) if self.started_ts is not None else 0.0

    def students(self) -> list[str]:
        """The roster's students and every other student who came, in roster order."""
        ordered = [identity for identity, record in self.attendance.items() if record.get("role") in (None, "student")]
        ordered += [identity for identity, role in self.roles.items() if role == "student" and identity not in ordered]
        return ordered

    def role(self, identity: str) -> str:
        return self.roles.get(identity) or self.attendance.get(identity, {}).get("role") or "student"

    def add(self, event: dict[str, Any]) -> None:
        kind, data, who = event["type"], event.get("data") or {}, event.get("participant")
        if kind == "session.started":
            self.started_ts = parse_iso(data.get("started_at") or event["ts"])
            self.title = data.get("title", self.title)
        elif kind == "session.ended":
            self.duration_s = float(data.get("duration_s") or 0.0)
        elif kind == "participant.joined" and who:
            self.roles[who] = data.get("role", "student")
            self.names.setdefault(who, data.get("name", who))
        elif kind == "transcript.final" and who and (data.get("text") or "").strip():
            self.utterances.append(Utterance(event["id"], who, self.names.get(who) or data.get("name") or who,
                                             self.role(who), float(data["start"]), float(data["end"]),
                                             data["text"].strip()))
        elif kind == "engagement.signal" and who:
            self._add_signal(event, who, data)
        elif kind == "engagement.snapshot" and who:
            self.snapshots[who] = event
        elif kind == "poll.ended":
            self.polls.append(PollResult(event["id"], self.at_s(event), data["question"], list(data["options"]),
                                         data.get("correct"),
                                         {a["identity"]: a["option"] for a in data.get("answers", [])}))
        elif kind == "attendance.summary":
            self.attendance = {record["identity"]: record for record in data.get("records", [])}
            self.attendance_event_id = event["id"]
            for record in data.get("records", []):
                self.names.setdefault(record["identity"], record.get("name") or record["identity"])

    def _add_signal(self, event: dict[str, Any], who: str, data: dict[str, Any]) -> None:
        signal = data.get("signal")
        if signal == "chat_message" and (data.get("text") or "").strip():
            self.chat.append(ChatMessage(event["id"], who, self.at_s(event), data["text"].strip(), data.get("to")))
        elif signal == "connection_quality" and data.get("packet_loss") is not None:
            loss = float(data["packet_loss"])
            if loss > self.worst_connection.get(who, (-1.0, {}))[0]:
                self.worst_connection[who] = (loss, event)


def class_record(session_id: str, events: Iterable[dict[str, Any]], title: str = "",
                 roster_names: Optional[dict[str, str]] = None) -> ClassRecord:
    """`roster_names`: the school's names for its students, over what their join tokens said."""
    record = ClassRecord(session_id, title, names=dict(roster_names or {}))
    ordered = sorted(events, key=lambda event: event["id"])  # ids sort in the order events were made
    for event in ordered:  # session.started first so every time is relative to it
        if event["type"] == "session.started":
            record.add(event)
    for event in ordered:
        if event["type"] != "session.started":
            record.add(event)
    record.utterances.sort(key=lambda utterance: utterance.start)
    return record


async def read_session_events(redis: aioredis.Redis, session_id: str, batch: int = 2000) -> list[dict[str, Any]]:
    """Every event of a session, from its own stream."""
    events: list[dict[str, Any]] = []
    start = "-"
    while True:
        entries = await redis.xrange(session_stream(session_id), min=start, count=batch)
        for _, fields in entries:
            raw = fields.get(b"event") or fields.get("event")
            if raw:
                events.append(json.loads(raw))
        if len(entries) < batch:
            return events
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else last)
