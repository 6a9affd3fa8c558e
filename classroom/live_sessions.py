"""LiveSessions: the classes this node runs, and the durable timers every session has from its
creation (no-show check, scheduled end, end of the recordings' retention), which fire whether
or not anyone opens the room. It owns the node's frame worker and face model, shared by every
camera, and closes them last."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Optional

import redis.asyncio as aioredis

from engagement.attention import FaceCounter
from events.bus import EventBus
from events.event import iso, parse_iso
from media import SFU, Room
from media.video_tap import FrameWorker
from recording.export import EXPORT_FILE
from recording.manifest import delete_media
from recording.storage import RecordingStorage
from sessions import Session, SessionStore

from .hosting import Hosting
from .live_session import LiveSession
from .no_show import NoShowCheck
from .timers import DurableTimers
from .transcription import SpeechServices

logger = logging.getLogger(__name__)


class LiveSessions:
    def __init__(self, sessions: SessionStore, bus: EventBus, redis: aioredis.Redis, sfu: SFU,
                 hosting: Hosting, speech: SpeechServices, storage: RecordingStorage, data_dir: Path, end_grace_s: float,
                 snapshot_interval_s: float, panel_interval_s: float,
                 video_sample_interval_s: float) -> None:
        self._sessions = sessions
        self._bus = bus
        self._redis = redis
        self._sfu = sfu
        self._hosting = hosting
        self.speech = speech
        self._storage = storage
        self._sessions_dir = data_dir / "sessions"
        self._end_grace_s = end_grace_s
        self._snapshot_interval_s = snapshot_interval_s
        self._panel_interval_s = panel_interval_s
        self._video_sample_interval_s = video_sample_interval_s
        # One thread and one face model for every camera on this node.
        self.frames = FrameWorker()
        self._faces = FaceCounter()
        self._live: dict[str, LiveSession] = {}
        self._ending: dict[str, asyncio.Future[Session]] = {}
        self.timers = DurableTimers(redis, {"no_show_check": NoShowCheck(sessions, bus, redis),
                                            "session_end": self._scheduled_end,
                                            "recordings_expire": self._recordings_expire})

    def start(self) -> None:
        self.timers.start()

    async def schedule(self, session: Session) -> None:
        start, end = parse_iso(session.scheduled_start), parse_iso(session.scheduled_end)
        await self.timers.schedule("no_show_check", start + session.settings.no_show_after_s,
                                   {"session_id": session.id})
        await self.timers.schedule("session_end", end + self._end_grace_s, {"session_id": session.id})

    def live(self, session: Session) -> LiveSession:
        live = self._live.get(session.id)
        if live is None:
            live = self._live[session.id] = LiveSession(
                session, self._bus, self._redis, self._snapshot_interval_s, self._panel_interval_s,
                self._video_sample_interval_s, self.frames, self._faces, self.speech, self._storage,
                self._sessions_dir / session.id)
        return live

    def get(self, session_id: str) -> Optional[LiveSession]:
        return self._live.get(session_id)

    def open_room(self, session: Session) -> tuple[LiveSession, Room]:
        live = self.live(session)
        return live, live.open_room(self._sfu)

    async def end(self, session_id: str, reason: str) -> Optional[Session]:
        """End a session once, whoever asks first (API, instructor, timer), on the node that
        hosts its room (this one, or the one it asks)."""
        host = await self._hosting.elsewhere(session_id)
        if host is not None:
            answer = await self._hosting.commands.send(host.name, {"end": session_id, "reason": reason})
            if "error" in answer:
                raise RuntimeError(f"node {host.name} could not end {session_id}: {answer['error']}")
            return await self._sessions.get(session_id)
        if session_id in self._ending:
            return await asyncio.shield(self._ending[session_id])
        session = await self._sessions.get(session_id)
        if session is None:
            return None
        if session.ended:
            return session
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._ending[session_id] = future
        try:
            session.ended_at = time.time()
            await self._sessions.save(session)
            await self.live(session).end(reason)
            self._live.pop(session_id, None)
            await self._hosting.release(session_id)
            await self.timers.cancel("session_end", {"session_id": session_id})
            if session.settings.recording_retention_days is not None:
                await self.timers.schedule(
                    "recordings_expire", session.ended_at + session.settings.recording_retention_days * 86400,
                    {"session_id": session_id})
            future.set_result(session)
            return session
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self._ending.pop(session_id, None)

    async def answer(self, command: dict[str, Any]) -> dict[str, Any]:
        """Another node's request about a class this node hosts (fleet.commands)."""
        if "end" in command:
            session = await self.end(str(command["end"]), str(command.get("reason", "api")))
            return {"ended": session is not None}
        if "recording" in command:
            live = self._live.get(str(command["recording"]))
            if live is None or live.room is None or live.room.closed:
                return {"not_live": True}
            changed = await live.set_recording(None, bool(command["on"]))
            return {**live.recording.state(), "changed": changed}
        return {"error": f"unknown command {sorted(command)}"}

    async def _recordings_expire(self, payload: dict[str, Any]) -> None:
        """The session's retention period is over: its recordings and export go."""
        session_id = payload["session_id"]
        deleted = await asyncio.to_thread(delete_media, self._sessions_dir / session_id / "recordings",
                                          session_id, iso(time.time()), self._storage)
        (self._sessions_dir / session_id / EXPORT_FILE).unlink(missing_ok=True)
        await asyncio.to_thread(self._storage.delete, session_id, EXPORT_FILE)
        logger.info("session %s: retention over, %d recordings deleted", session_id, len(deleted))

    async def _scheduled_end(self, payload: dict[str, Any]) -> None:
        await self.end(payload["session_id"], "scheduled_end")

    async def close(self) -> None:
        """Timers first (none may open a class while the rest close), then every class, then
        the frame worker they shared."""
        await self.timers.close()
        await asyncio.gather(*(live.close() for live in self._live.values()))
        self._live.clear()
        self.frames.close()
