"""Engagement as the class runs: an `engagement.snapshot` per participant every
`snapshot_interval_s`, and the instructor's live panel (`engagement` message) every
`panel_interval_s`, both from the activity counted so far."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from .attendance import Attendance
from .camera import Camera
from .context import ClassContext
from .hands import Hands
from .talk import TalkTime

logger = logging.getLogger(__name__)


class Snapshots:
    def __init__(self, context: ClassContext, attendance: Attendance, talk: TalkTime, camera: Camera,
                 hands: Hands, snapshot_interval_s: float, panel_interval_s: float) -> None:
        self._context = context
        self._attendance = attendance
        self._talk = talk
        self._camera = camera
        self._hands = hands
        self._tickers = [asyncio.ensure_future(self._every(snapshot_interval_s, self.snapshot_present)),
                         asyncio.ensure_future(self._every(panel_interval_s, self.send_panel))]

    async def snapshot_present(self) -> None:
        room = self._context.room
        if room is not None:
            await self.snapshot([p.identity for p in room.participants.values()])

    async def snapshot(self, identities: list[str]) -> None:
        now = time.time()
        activity = self._context.activity
        talk, turns = self._talk.totals()
        records = await self._attendance.store.all()
        for identity in identities:
            if identity not in activity.participants:
                continue
            record = records.get(identity)
            self._context.emit(activity.snapshot_payload(
                identity, record.present_s(now) if record else 0.0, talk,
                turns.get(identity, 0), now), identity, now)

    async def send_panel(self) -> None:
        room = self._context.room
        if room is None:
            return
        activity = self._context.activity
        talk, _ = self._talk.totals()
        speaking = self._talk.speaking()
        rows = []
        for participant in room.participants.values():
            counted = activity.activity(participant.identity)
            score, parts = activity.score(participant.identity, talk)
            rows.append({
                "identity": participant.identity, "name": participant.name,
                "role": participant.role.value, "speaking": participant.identity in speaking,
                "talk_time_s": round(talk.get(participant.identity, 0.0), 1),
                "camera_on": counted.camera.on, "visible": counted.visible.on,
                "hand_raised": self._hands.queue.is_raised(participant.identity),
                "face_in_frame": self._camera.face_in_frame(participant.identity),
                "score": score, "score_parts": parts})
        self._context.tell_moderators({"type": "engagement", "participants": rows})

    async def close(self) -> None:
        """Stop the tickers and wait for them. Idempotent."""
        for ticker in self._tickers:
            ticker.cancel()
        await asyncio.gather(*self._tickers, return_exceptions=True)

    async def _every(self, interval_s: float, action: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():  # see DurableTimers._run: a cancellation may come back as an error
            await asyncio.sleep(interval_s)
            try:
                await action()
            except Exception:
                logger.exception("session %s: periodic %s failed", self._context.session.id, action.__name__)
