"""SummaryWorker: on `session.ended`, a draft summary of the class for its instructors to review.

A consumer group of its own (`summaries`) on `aula:events`, so drafting never delays a no-show
notice. The summariser is loaded at the first class that needs it, and runs on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional

import redis.asyncio as aioredis

from events import Event, EventType
from events.types import SummaryCounts, SummaryDraft
from events.bus import EventBus
from events.consumer import EventConsumer
from sessions import SessionStore

from .draft import draft_summary
from .evidence import class_record, read_session_events
from .registry import SummariserOptions, create_summariser
from .store import SummaryStore
from .summariser import Summariser

logger = logging.getLogger(__name__)

GROUP = "summaries"


def load_summariser(model_path: Optional[Path] = None, name: Optional[str] = None) -> Summariser:
    """The summariser `name` names (summaries/registry.py); without one, the embedded extractive
    default, or abstractive on top of it when a transformers model is given."""
    return create_summariser(name, SummariserOptions(model_path))


class SummaryWorker:
    def __init__(self, redis: aioredis.Redis, bus: EventBus, sessions_dir: Optional[Path], name: str,
                 make_summariser: Callable[[], Summariser], claim_idle_ms: int = 120_000) -> None:
        self._redis = redis
        self._bus = bus
        self._make_summariser = make_summariser
        self._summariser: Optional[Summariser] = None
        self.store = SummaryStore(redis, sessions_dir)
        self._sessions = SessionStore(redis)
        # A long class takes a while to draft: claim only what a dead worker left.
        self.consumer = EventConsumer(redis, GROUP, name, claim_idle_ms=claim_idle_ms)

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.run(self.handle, stop)

    def close(self) -> None:
        """Release the summariser (its model), if one was loaded; idempotent. For the owner of
        what `make_summariser` makes (`run_worker`): it may hand out a shared one."""
        summariser, self._summariser = self._summariser, None
        close = getattr(summariser, "close", None)
        if callable(close):
            close()

    async def handle(self, event: dict[str, Any]) -> None:
        if event["type"] != EventType.SESSION_ENDED.value:
            return
        session_id = event["session_id"]
        if await self.store.get(session_id) is not None:
            return  # redelivered: the draft (maybe already edited) stands
        session = await self._sessions.get(session_id)
        record = class_record(session_id, await read_session_events(self._redis, session_id),
                              session.title if session else "",
                              {entry.identity: entry.name for entry in session.roster} if session else None)
        if self._summariser is None:
            self._summariser = await asyncio.to_thread(self._make_summariser)
        summary = await asyncio.to_thread(draft_summary, record, self._summariser, time.time())
        if not await self.store.create_draft(summary):
            return
        await self._bus.publish(Event.of(SummaryDraft(
            summariser=summary["summariser"], overview=summary["overview"],
            counts=SummaryCounts(topics=len(summary["topics"]), key_points=len(summary["key_points"]),
                                 questions=len(summary["questions"]), action_items=len(summary["action_items"]),
                                 students=len(summary["students"]))), session_id))
        logger.info("session %s: draft summary ready for review", session_id)
