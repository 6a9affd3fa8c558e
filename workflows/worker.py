"""WorkflowWorker: events in (a consumer group on `aula:events`), notices, flags and records out.

Run several for scale: the group shares the events, and a worker's unacknowledged entries are
claimed by another after `claim_idle_ms`. Every action is idempotent by (event id, action): a
Redis key is claimed ("sending") before the action and marked "done" after it, so a redelivered
event never sends a second notice; an entry whose action another worker still holds stays
pending and comes back later. A notice that keeps failing is retried with exponential backoff,
then dead-lettered (`aula:workflows:dead_letter`) and reported (`workflow.notification_failed`);
one the receiver refuses for good (an APIError that is not retryable, e.g. a webhook's HTTP 400)
is dead-lettered at once. Notices go through the notifiers named at start (workflows/registry.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Literal, Optional, Sequence, cast

import aiohttp
import redis.asyncio as aioredis

from events import Event, EventType
from events.types import FlagRaised, NotificationFailed, NotificationSent, Payload
from events.types.workflow import Channel
from events.event import iso
from events.bus import EventBus
from events.consumer import EventConsumer
from events.plugin import APIError

from sessions import SessionStore
from summaries.evidence import read_session_events
from summaries.store import SummaryStore
from summaries.summariser import Summariser
from summaries.worker import SummaryWorker

from .config import Rule, WorkflowConfig
from .notify import Notice, Notifier
from .records import StudentRecords
from .registry import DEFAULT_NOTIFIERS, create_notifiers
from .risk import assess

logger = logging.getLogger(__name__)

GROUP = "workflows"
DEAD_LETTER = "aula:workflows:dead_letter"
# A claim outlives the longest attempt sequence (then a worker that died holding it is presumed
# dead and another may act); "done" is kept as long as a redelivery could come.
CLAIM_MARGIN_S = 5.0
DONE_TTL_S = 90 * 86400


class ActionInProgress(Exception):
    """Another worker holds this action: leave the event pending, it will come back."""


class WorkflowWorker:
    def __init__(self, redis: aioredis.Redis, bus: EventBus, config: WorkflowConfig, name: str,
                 http: aiohttp.ClientSession, claim_idle_ms: int = 30_000,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 notifiers: Sequence[str] = DEFAULT_NOTIFIERS) -> None:
        """`notifiers`: the names of the notifiers to send through (those `config` sets up)."""
        self._redis = redis
        self._bus = bus
        self.config = config
        self.name = name
        self._http = http
        self._sleep = sleep
        self.records = StudentRecords(redis)
        self.summaries = SummaryStore(redis, None)
        self.sessions = SessionStore(redis)
        self.consumer = EventConsumer(redis, GROUP, name, claim_idle_ms=claim_idle_ms)
        self.notifiers: list[Notifier] = create_notifiers(notifiers, config, http)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.consumer.run(self.handle, stop)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for notifier in self.notifiers:
            await notifier.aclose()

    def metrics(self) -> dict[str, object]:
        return {"notifiers": [notifier.metrics() for notifier in self.notifiers]}

    def _channel(self, channel: str) -> list[Notifier]:
        return [notifier for notifier in self.notifiers if notifier.channel == channel]

    async def handle(self, event: dict[str, Any]) -> None:
        rules = self.config.rules_for(event["type"])
        results = await asyncio.gather(*(self._act(rule, action, event)
                                         for rule in rules for action in rule.actions),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # stays pending: retried by this or another worker

    async def _act(self, rule: Rule, action: str, event: dict[str, Any]) -> None:
        await self._once(f"{event['id']}:{action}", lambda: ACTIONS[action](self, rule, event))

    async def _once(self, what: str, act: Callable[[], Awaitable[None]]) -> None:
        """Run `act` unless it was done before for this key (by any worker)."""
        key = f"aula:workflow:{what}"
        claim_s = int(self.config.longest_send_s + CLAIM_MARGIN_S) + 1
        if not await self._redis.set(key, f"sending:{self.name}", nx=True, ex=claim_s):
            if await self._redis.get(key) == b"done":
                return
            raise ActionInProgress(f"{what} is held by another worker")
        try:
            await act()
        except BaseException:
            await self._redis.delete(key)
            raise
        await self._redis.set(key, "done", ex=DONE_TTL_S)

    # -- actions ----------------------------------------------------------------------------

    async def _email_guardian(self, rule: Rule, event: dict[str, Any]) -> None:
        guardian = event["data"].get("guardian")
        mailers = self._channel("email")
        if not mailers or not guardian or not guardian.get("email") or rule.template is None:
            return
        template = self.config.templates[rule.template]
        fields = _fields(event)
        notice = Notice(template.subject.format_map(fields), template.body.format_map(fields), event["id"],
                        to=guardian["email"])
        for mailer in mailers:
            await self._notify(mailer, rule.template, notice, event)

    async def _email_summary(self, rule: Rule, event: dict[str, Any]) -> None:
        """Each student's guardian gets the approved class summary and that student's part; one
        send per student, so a retry after a failure sends only what was not sent."""
        mailers = self._channel("email")
        if not mailers or rule.template is None:
            return
        summary = await self.summaries.get(event["session_id"])
        session = await self.sessions.get(event["session_id"])
        if summary is None or session is None:
            return
        template_name = rule.template
        template = self.config.templates[template_name]
        guardians = {entry.identity: entry.guardian for entry in session.roster if entry.guardian}
        for student in summary["students"]:
            guardian = guardians.get(student["identity"])
            if guardian is None or not guardian.email:
                continue
            fields = summary_fields(summary, student, guardian.name)
            cause = {**event, "participant": student["identity"]}
            notice = Notice(template.subject.format_map(fields), template.body.format_map(fields),
                            f"{event['id']}-{student['identity']}", to=guardian.email)
            await self._once(f"{event['id']}:{template_name}:{student['identity']}",
                             lambda: self._notify_all(mailers, template_name, notice, cause))

    async def _webhook(self, rule: Rule, event: dict[str, Any]) -> None:
        template = rule.template or rule.on
        notice = Notice(template, "", event["id"],
                        payload={"rule": rule.on, "template": rule.template, "event": event})
        await self._notify_all(self._channel("webhook"), template, notice, event)

    async def _flag(self, rule: Rule, event: dict[str, Any]) -> None:
        if event.get("participant") is None:
            return
        fields = _fields(event)
        kind: Literal["no_show", "at_risk"] = "no_show" if event["type"] == "attendance.no_show" else "at_risk"
        reason = (f"{fields['student']} missed {fields['title']}" if kind == "no_show"
                  else f"{event['type']} for {fields['student']}")
        await self._publish(FlagRaised(kind=kind, reason=reason, severity="warning", cause_event_id=event["id"]),
                            event)

    async def _record(self, rule: Rule, event: dict[str, Any]) -> None:
        data = event["data"]
        session = await self.sessions.get(event["session_id"])
        when = {"title": session.title if session else data.get("title"),
                "scheduled_start": session.scheduled_start if session else data.get("scheduled_start")}
        if event["type"] == "attendance.no_show":
            await self.records.merge(event["participant"], event["session_id"], {
                **when, "category": "unexcused_absence", "present_s": 0}, flag="no_show")
            await self._assess(event["participant"], event)
        elif event["type"] == "attendance.summary":
            engagement = await _final_engagement(self._redis, event["session_id"])
            for record in data.get("records", []):
                if record.get("role") not in (None, "student"):
                    continue
                await self.records.merge(record["identity"], event["session_id"], {
                    **when, "category": record["category"], "present_s": record["present_s"],
                    "late_by_s": record.get("late_by_s"), "first_join": record.get("first_join"),
                    "left_early": record.get("left_early"), "engagement": engagement.get(record["identity"])})
                await self._assess(record["identity"], event)

    async def _assess(self, identity: str, cause: dict[str, Any]) -> None:
        """Recompute the student's risk; a flag for operations when it rises to at_risk."""
        risk = assess(await self.records.sessions(identity))
        previous = await self.records.set_risk(identity, {**risk.to_dict(), "updated_at": iso(time.time())})
        if risk.level == "at_risk" and (previous or {}).get("level") != "at_risk":
            await self._publish(FlagRaised(kind="at_risk", reason="; ".join(risk.reasons), severity="warning",
                                           cause_event_id=cause["id"]), {**cause, "participant": identity})

    # -- notices ----------------------------------------------------------------------------

    async def _notify_all(self, notifiers: list[Notifier], template: str, notice: Notice,
                          event: dict[str, Any]) -> None:
        for notifier in notifiers:
            await self._notify(notifier, template, notice, event)

    async def _notify(self, notifier: Notifier, template: str, notice: Notice, event: dict[str, Any]) -> None:
        """Send, retrying what may succeed later with backoff; what fails for good (or too often)
        goes to the dead letter and is reported."""
        to = notifier.destination(notice)
        channel = cast(Channel, notifier.channel)
        error, attempt = "", 0
        while attempt < self.config.max_attempts:
            attempt += 1
            try:
                await notifier.send(notice)
                await self._publish(NotificationSent(channel=channel, template=template, to=to,
                                                     cause_event_id=event["id"], attempts=attempt), event)
                return
            except APIError as exc:
                error = exc.message
                logger.warning("%s %s to %s failed (attempt %d%s): %s", notifier.name, notifier.channel, to,
                               attempt, "" if exc.retryable else ", not retryable", error)
                if not exc.retryable:
                    break
                if attempt < self.config.max_attempts:
                    await self._sleep(self.config.retry_base_s * 2 ** (attempt - 1))
        await self._redis.xadd(DEAD_LETTER, {"event_id": event["id"], "channel": notifier.channel, "to": to,
                                             "template": template, "error": error, "attempts": attempt,
                                             "notifier": notifier.name, "at": time.time()})
        await self._publish(NotificationFailed(channel=channel, template=template, to=to, cause_event_id=event["id"],
                                               attempts=attempt, error=error), event)

    async def _publish(self, payload: Payload, cause: dict[str, Any]) -> None:
        await self._bus.publish(Event.of(payload, cause["session_id"], cause.get("participant")))


ACTIONS: dict[str, Callable[[WorkflowWorker, Rule, dict[str, Any]], Awaitable[None]]] = {
    "email_guardian": WorkflowWorker._email_guardian,
    "email_summary": WorkflowWorker._email_summary,
    "webhook": WorkflowWorker._webhook,
    "flag": WorkflowWorker._flag,
    "record": WorkflowWorker._record,
}


ENGAGEMENT_FIELDS = ("score", "talk_time_s", "speaking_turns", "messages", "hands", "polls_answered", "polls_correct")


async def _final_engagement(redis: aioredis.Redis, session_id: str) -> dict[str, dict[str, Any]]:
    """Each participant's last engagement.snapshot of the session (the final one, at its end)."""
    final: dict[str, dict[str, Any]] = {}
    for event in await read_session_events(redis, session_id):
        if event["type"] == EventType.ENGAGEMENT_SNAPSHOT.value and event.get("participant"):
            final[event["participant"]] = {name: event["data"].get(name) for name in ENGAGEMENT_FIELDS}
    return final


def summary_fields(summary: dict[str, Any], student: dict[str, Any], guardian: str) -> dict[str, Any]:
    def bullets(items: list[dict[str, Any]]) -> str:
        return "\n".join(f"- {item['text']}" for item in items) or "- (none)"
    note = summary.get("instructor_note") or ""
    return {"student": student["name"], "guardian": guardian, "title": summary["title"],
            "overview": summary["overview"], "key_points": bullets(summary["key_points"]),
            "action_items": bullets(summary["action_items"]), "student_summary": bullets(student["statements"]),
            "instructor_note": f"\nA note from the teacher: {note}\n" if note else "",
            "scheduled_start": "", "late_minutes": 0}


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    guardian = data.get("guardian") or {}
    return {"student": data.get("name") or event.get("participant"), "guardian": guardian.get("name", ""),
            "title": data.get("title", "the class"), "scheduled_start": data.get("scheduled_start", ""),
            "late_minutes": round((data.get("late_by_s") or 0) / 60)}


async def run_worker(redis_url: str, config: WorkflowConfig, name: str, data_dir: Path,
                     make_summariser: Optional[Callable[[], Summariser]], stop: asyncio.Event,
                     claim_idle_ms: int = 30_000, notifiers: Sequence[str] = DEFAULT_NOTIFIERS) -> None:
    """`aula worker`: the workflows and (unless `make_summariser` is None) the class summaries,
    each its own consumer group, until `stop` (SIGTERM/Ctrl-C in the CLI)."""
    redis = aioredis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    bus = EventBus(redis, data_dir)
    bus.start()
    try:
        async with aiohttp.ClientSession() as http:
            runs = [WorkflowWorker(redis, bus, config, name, http, claim_idle_ms, notifiers=notifiers).run(stop)]
            summaries = None
            if make_summariser is not None:
                # Drafting a long class takes a while: a summary is claimed later than a notice.
                summaries = SummaryWorker(redis, bus, data_dir / "sessions", name, make_summariser,
                                          max(claim_idle_ms, 120_000))
                runs.append(summaries.run(stop))
            try:
                await asyncio.gather(*runs)
            finally:
                if summaries is not None:
                    summaries.close()
    finally:
        await bus.close()
        await redis.aclose()
