"""The parts of a live class on their own, without HTTP or WebRTC: a real event bus on a real
redis-server, and participants that only record what they are sent."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import pytest
import redis.asyncio as aioredis

from classroom.chat import Chat
from classroom.context import ClassContext
from classroom.hands import Hands
from classroom.polls import Polls
from classroom.reactions import Reactions
from engagement.no_show import no_show_data, no_shows
from events.bus import EventBus
from media import MediaError, PermissionDenied, Role
from media.exceptions import NotFound
from media.permissions import Permissions
from sessions import Session, parse_new_session
from tests.conftest import RedisServer, iso


@dataclass
class Person:
    identity: str
    role: Role = Role.STUDENT
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.identity.title()

    @property
    def permissions(self) -> Permissions:
        return Permissions.for_role(self.role)

    def signal(self, message: dict[str, Any]) -> None:
        self.received.append(message)

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == message_type]


@dataclass
class Classroom:
    participants: dict[str, Person] = field(default_factory=dict)
    closed: bool = False

    def broadcast(self, message: dict[str, Any]) -> None:
        for person in self.participants.values():
            person.signal(message)


def new_session() -> Session:
    return parse_new_session({
        "title": "Fractions", "scheduled_start": iso(-60), "scheduled_end": iso(3600),
        "roster": [{"identity": i, "name": i.title(),
                    "guardian": {"name": f"Parent of {i}", "email": f"{i}.parent@example.org"}}
                   for i in ("sam", "kim", "ada")]})


@pytest.fixture
async def context(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[ClassContext]:
    redis = aioredis.from_url(redis_server.url)
    context = ClassContext(new_session(), EventBus(redis, tmp_path))
    yield context
    await context.close(5.0)
    await redis.aclose()


def seat(context: ClassContext, *people: Person) -> Classroom:
    room = Classroom({person.identity: person for person in people})
    context.room = room  # type: ignore[assignment]  # the parts use only what Classroom has
    for person in people:
        context.activity.activity(person.identity, person.name, person.role.value)
    return room


def logged(context: ClassContext, tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "sessions" / context.session.id / "events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def signals(events: list[dict[str, Any]]) -> list[tuple[Optional[str], str]]:
    return [(e["participant"], e["data"]["signal"]) for e in events if e["type"] == "engagement.signal"]


async def test_every_part_emits_through_one_queue_in_the_order_things_happened(context, tmp_path):
    rivera, sam = Person("rivera", Role.INSTRUCTOR), Person("sam")
    seat(context, rivera, sam)
    hands, chat, polls, reactions = Hands(context), Chat(context), Polls(context), Reactions(context)
    hands.set(sam, True)
    chat.send(sam, "  is it a half?  ", None)
    poll = polls.create(rivera, "Which is bigger?", ["1/2", "1/3"], 0)
    polls.answer(sam, poll.id, 0)
    reactions.send(sam, "👍")
    polls.end(rivera, poll.id)
    await context.drain()
    events = logged(context, tmp_path)
    assert [e["type"] for e in events] == ["engagement.signal", "engagement.signal", "poll.started",
                                           "engagement.signal", "engagement.signal", "poll.ended"]
    assert signals(events) == [("sam", "hand_raised"), ("sam", "chat_message"),
                               ("sam", "poll_answered"), ("sam", "reaction")]
    assert events[1]["data"]["text"] == "is it a half?"
    assert events[-1]["data"]["answers"] == [{"identity": "sam", "option": 0, "correct": True}]
    activity = context.activity.activity("sam")
    assert (activity.hands, activity.messages, activity.reactions) == (1, 1, 1)


async def test_hands_queue_in_order_stay_up_through_a_reload_and_go_with_a_leave(context):
    rivera, sam, kim = Person("rivera", Role.INSTRUCTOR), Person("sam"), Person("kim")
    seat(context, rivera, sam, kim)
    hands = Hands(context)
    hands.set(kim, True)
    hands.set(sam, True)
    hands.set(kim, True)  # already up: no second place in the queue
    assert [h["identity"] for h in rivera.of_type("hands")[-1]["queue"]] == ["kim", "sam"]
    hands.left("kim", "replaced")
    assert hands.queue.is_raised("kim")
    hands.left("kim", "left")
    assert not hands.queue.is_raised("kim")
    with pytest.raises(PermissionDenied):
        hands.lower_for(kim, "sam")
    hands.lower_for(rivera, "sam")
    assert rivera.of_type("hands")[-1]["queue"] == []
    with pytest.raises(NotFound):
        hands.lower_for(rivera, "sam")


async def test_a_poll_shows_counts_and_the_answer_to_moderators_only(context):
    rivera, sam, kim = Person("rivera", Role.INSTRUCTOR), Person("sam"), Person("kim")
    seat(context, rivera, sam, kim)
    polls = Polls(context)
    with pytest.raises(PermissionDenied):
        polls.create(sam, "Ready?", ["yes", "no"], None)
    poll = polls.create(rivera, "Which is bigger?", ["1/2", "1/3"], 0)
    assert "correct" not in sam.of_type("poll_started")[0]["poll"]
    assert rivera.of_type("poll_started")[0]["poll"]["correct"] == 0
    with pytest.raises(MediaError):
        polls.create(rivera, "Another?", ["a", "b"], None)
    polls.answer(sam, poll.id, 1)
    polls.answer(sam, poll.id, 0)  # a changed mind counts once
    assert rivera.of_type("poll_results")[-1] | {"type": None} == {
        "type": None, "poll_id": poll.id, "counts": [1, 0], "answered": 1, "eligible": 2}
    assert sam.of_type("poll_results") == []
    assert polls.view("sam", moderator=False)["your_answer"] == 0
    with pytest.raises(NotFound):
        polls.answer(kim, "poll_unknown", 0)
    polls.end_running()
    assert polls.running is None and polls.view("sam", False) is None
    assert [m["your_answer"] for m in (sam.of_type("poll_ended") + kim.of_type("poll_ended"))] == [0, None]


async def test_private_chat_goes_to_or_from_a_moderator_and_reaches_only_the_two(context):
    rivera, sam, kim = Person("rivera", Role.INSTRUCTOR), Person("sam"), Person("kim")
    seat(context, rivera, sam, kim)
    chat = Chat(context)
    chat.send(sam, "I can't hear", "rivera")
    assert [len(p.of_type("chat")) for p in (rivera, sam, kim)] == [1, 1, 0]
    with pytest.raises(PermissionDenied):
        chat.send(sam, "psst", "kim")
    with pytest.raises(NotFound):
        chat.send(sam, "hello?", "nobody")
    for text in ("   ", "x" * 2001):
        with pytest.raises(MediaError):
            chat.send(sam, text, None)
    assert len(kim.of_type("chat")) == 0


async def test_a_class_that_is_not_live_refuses_what_needs_its_room(context):
    with pytest.raises(MediaError, match="not live"):
        Reactions(context).send(Person("sam"), "👍")
    with pytest.raises(MediaError, match="reactions are"):
        seat(context, Person("sam"))
        Reactions(context).send(Person("sam"), "🍕")


def test_no_shows_are_the_roster_less_who_came_and_who_is_excused() -> None:
    session = new_session()
    missing = no_shows(session.roster, joined={"sam"}, excused={"kim"})
    assert [entry.identity for entry in missing] == ["ada"]
    data = no_show_data(session, missing[0])
    assert data["guardian"] == {"name": "Parent of ada", "email": "ada.parent@example.org", "phone": None}
    assert (data["title"], data["no_show_after_s"]) == ("Fractions", session.settings.no_show_after_s)


async def test_closing_the_context_runs_what_was_queued_once_and_leaves_no_task(redis_server, tmp_path):
    redis = aioredis.from_url(redis_server.url)
    before = asyncio.all_tasks()
    context = ClassContext(new_session(), EventBus(redis, tmp_path))
    ran = []

    async def job() -> None:
        ran.append(1)

    context.queue(job)
    await context.close(5.0)
    await context.close(5.0)
    assert ran == [1]
    assert asyncio.all_tasks() - before == set()
    await redis.aclose()
