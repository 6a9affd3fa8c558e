"""ClassContext: what every part of a live class shares — the session, its room, the activity
counted per participant, and the one ordered job queue through which its events leave.

Redis writes and event publishing run in that queue, so events leave in the order things
happened, whichever part of the class emitted them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Optional

from engagement.activity import ActivityTracker
from events import Event
from events.types import Payload, Signal
from events.bus import EventBus
from media import MediaError, Room
from sessions import Session

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class ClassContext:
    def __init__(self, session: Session, bus: EventBus) -> None:
        self.session = session
        self.bus = bus
        self.room: Optional[Room] = None
        # When the first participant came in (None: not started); a restart carries it over.
        self.opened_at: Optional[float] = None
        self.activity = ActivityTracker()
        self._jobs: asyncio.Queue[Optional[Job]] = asyncio.Queue()
        self._worker = asyncio.ensure_future(self._run_jobs())

    # -- events ---------------------------------------------------------------------------

    def emit(self, payload: Payload, participant: Optional[str] = None, at: Optional[float] = None) -> Event:
        event = Event.of(payload, self.session.id, participant, at or time.time())
        self.queue(lambda: self.bus.publish(event))
        return event

    def signal(self, identity: str, signal: Signal) -> None:
        self.emit(signal, identity)

    def queue(self, job: Job) -> None:
        """Run `job` after everything queued before it."""
        self._jobs.put_nowait(job)

    async def drain(self) -> None:
        """Returns once every job queued so far has run."""
        done = asyncio.get_running_loop().create_future()

        async def mark() -> None:
            done.set_result(None)

        self.queue(mark)
        await done

    async def close(self, timeout_s: float) -> None:
        """Run the jobs already queued (for at most `timeout_s`), then stop. Idempotent."""
        if self._worker.done():
            return
        self._jobs.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
        except asyncio.TimeoutError:
            logger.warning("session %s: jobs still pending at shutdown", self.session.id)
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _run_jobs(self) -> None:
        while (job := await self._jobs.get()) is not None:
            try:
                await job()
            except Exception:
                logger.exception("session %s: a job failed", self.session.id)

    # -- the room -------------------------------------------------------------------------

    def require_room(self) -> Room:
        if self.room is None:
            raise MediaError("the class is not live")
        return self.room

    def broadcast(self, message: dict[str, Any]) -> None:
        if self.room is not None and not self.room.closed:
            self.room.broadcast(message)

    def tell_moderators(self, message: dict[str, Any]) -> None:
        if self.room is not None:
            for participant in self.room.participants.values():
                if participant.permissions.moderate:
                    participant.signal(message)
