"""The classes a node runs, handed to the process that starts after it (a restart, or kill -9).

Every second `LiveClassesFile` writes `<data-dir>/live.json`: each class this node runs, when it
started, whether it is recorded and by whom, who is in its room, who may enter it, its raised
hands, its running poll and the engagement counted so far, stamped with the time of writing. A
clean shutdown writes it once more and stops before it closes the rooms, so the file always says
how the classes ran. The next process reads it before it takes a connection (`resume`): a class
that has not ended goes on with its first start (no second session.started), recording again if
it was, and each attendance interval left open (a kill closes none) ends at the last stamp, with
the participant.left the dead process never sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import redis.asyncio as aioredis

from engagement.polls import Poll
from events import Event, EventType
from events.bus import EventBus
from events.types import ParticipantLeft
from media import SFU, Admission

from engagement.attendance_store import AttendanceStore
from .live_sessions import LiveSessions
from sessions import SessionStore

logger = logging.getLogger(__name__)

LIVE_FILE = "live.json"
WRITE_INTERVAL_S = 1.0


@dataclass
class LiveClass:
    session_id: str
    opened_at: float
    recording: bool
    recording_by: Optional[str]
    # identity → participant sid, for the participant.left of an interval a kill cut.
    participants: dict[str, str] = field(default_factory=dict)
    # The room's lock, and who was let in or removed: a removed student stays out.
    admission: Admission = field(default_factory=Admission)
    # Raised hands as (identity, name, raised_at), in queue order, and the running poll.
    hands: list[tuple[str, str, float]] = field(default_factory=list)
    poll: Optional[dict[str, Any]] = None
    # Engagement counted so far (talk time, camera, chat, hands, reactions, polls).
    engagement: Optional[dict[str, Any]] = None


@dataclass
class LiveClasses:
    written_at: float
    classes: list[LiveClass]

    @classmethod
    def read(cls, data_dir: Path) -> Optional["LiveClasses"]:
        try:
            document = json.loads((data_dir / LIVE_FILE).read_text(encoding="utf-8"))
            return cls(document["written_at"], [
                LiveClass(**{**c, "admission": Admission(**c.get("admission", {}))})
                for c in document["classes"]])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            logger.exception("%s is unreadable: the classes it listed start afresh", LIVE_FILE)
            return None


class LiveClassesFile:
    """Writes live.json every second, for the classes in `live` that have started."""

    def __init__(self, data_dir: Path, sfu: SFU, live: LiveSessions, resumed: list[str]) -> None:
        self._path = data_dir / LIVE_FILE
        self._sfu = sfu
        self._live = live
        # Classes taken over from the previous process: listed even before anyone is back in the room.
        self._resumed = set(resumed)
        self._task: Optional[asyncio.Task[None]] = None
        # Cancelling the writer task does not stop a write already in its thread: the last write
        # at close would race it on the same scratch file.
        self._writing = threading.Lock()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def current(self) -> LiveClasses:
        classes = []
        for session_id in sorted(self._resumed | set(self._sfu.rooms)):
            session = self._live.get(session_id)
            if session is None or session.opened_at is None:
                self._resumed.discard(session_id)  # ended (or never started)
                continue
            room = session.room
            if room is not None and not room.closed:
                participants = {p.identity: p.sid for p in room.participants.values()}
                admission = room.admission()
            else:
                participants, admission = {}, session.carried_admission or Admission()
            recording = session.recording.state()
            classes.append(LiveClass(session_id, session.opened_at, recording["active"],
                                     recording["started_by"], participants, admission,
                                     session.hands.queue.raised(),
                                     asdict(session.polls.running) if session.polls.running is not None else None,
                                     session.engagement_totals()))
        return LiveClasses(time.time(), classes)

    def _write(self, classes: LiveClasses) -> None:
        scratch = self._path.with_suffix(".tmp")
        with self._writing:
            scratch.write_text(json.dumps(asdict(classes)), encoding="utf-8")
            os.replace(scratch, self._path)  # a kill mid-write leaves the previous file whole

    async def _run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():
            try:
                await asyncio.to_thread(self._write, self.current())
            except OSError:
                logger.exception("could not write %s", self._path)
            await asyncio.sleep(WRITE_INTERVAL_S)

    async def close(self) -> None:
        """Stop, with the classes as they are now written down (a clean stop loses no second)."""
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await asyncio.to_thread(self._write, self.current())


async def resume(previous: LiveClasses, sessions: SessionStore, live: LiveSessions, bus: EventBus,
                 redis: aioredis.Redis) -> list[str]:
    """Take over the classes the previous process ran; returns the ids of those that go on."""
    resumed = []
    for listed in previous.classes:
        session = await sessions.get(listed.session_id)
        if session is None or session.ended:
            continue
        await close_cut_intervals(AttendanceStore(redis, session.id), bus, listed, previous.written_at)
        running = live.live(session)
        running.context.opened_at = listed.opened_at
        running.carried_admission = listed.admission
        for identity, name, raised_at in listed.hands:
            running.hands.queue.raise_hand(identity, name, raised_at)
        if listed.poll is not None:
            running.polls.running = Poll(**listed.poll)
        if listed.engagement is not None:
            running.talk.carry(listed.engagement)
        if listed.recording:
            running.recording.start(listed.recording_by, [])
        resumed.append(session.id)
        logger.warning("session %s: taken over from the previous process (last seen %.1f s ago)",
                       session.id, time.time() - previous.written_at)
    return resumed


async def close_cut_intervals(store: AttendanceStore, bus: EventBus, listed: LiveClass, last_seen: float) -> None:
    joined_sids: Optional[dict[str, str]] = None  # read from the event log once, if needed
    for record in (await store.all()).values():
        if not record.is_present:
            continue
        joined = record.intervals[-1][0] or last_seen
        duration = record.leave(max(joined, last_seen))
        await store.save(record)
        sid = listed.participants.get(record.identity)
        if sid is None:  # joined after the last stamp: its join event names it
            if joined_sids is None:
                joined_sids = await asyncio.to_thread(_last_joined_sids, bus.session_log(listed.session_id))
            sid = joined_sids.get(record.identity)
        if sid is None:  # killed between saving the interval and publishing its join
            continue
        await bus.publish(Event.of(ParticipantLeft(participant_sid=sid, reason="disconnected",
                                                   duration_s=round(duration, 3)),
                                   listed.session_id, record.identity, max(joined, last_seen)))


def _last_joined_sids(log: Path) -> dict[str, str]:
    """identity → the participant sid of its last participant.joined in a session's event log."""
    sids: dict[str, str] = {}
    try:
        with open(log, encoding="utf-8") as file:
            for line in file:
                if EventType.PARTICIPANT_JOINED.value not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the line a kill cut short
                if event.get("type") == EventType.PARTICIPANT_JOINED.value:
                    sids[event["participant"]] = event["data"]["participant_sid"]
    except FileNotFoundError:
        pass
    return sids
