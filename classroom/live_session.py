"""LiveSession: one class as it runs. It owns the class's room and hands each thing that
happens there to the part of the class it concerns — attendance, camera, talk time, chat, hands,
polls, reactions, presence, transcripts, recording, snapshots — each in its own module and each
emitting its events through the one ordered queue of the class's `ClassContext`.

It is the room's observer (media.RoomObserver); the signaling socket calls its parts directly
(`live.chat.send`, `live.polls.create`, ...). It owns them: `close()` closes each, once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional, cast

import redis.asyncio as aioredis

from engagement.attention import FaceCounter
from events.bus import EventBus
from events.event import iso
from events.types import MicMuted, MicUnmuted, SessionEnded, SessionStarted, TrackPublished, TrackUnpublished
from events.types.base import KindName
from events.types.session import EndReason
from media import SFU, Admission, Participant, Publication, Room, RoomObserver, Source
from media.video_tap import FrameWorker
from recording.storage import RecordingStorage
from sessions import Session

from .attendance import Attendance
from .camera import Camera
from .chat import Chat
from .context import ClassContext
from .hands import Hands
from .polls import Polls
from .presence import Presence
from .reactions import Reactions
from .recording import SessionRecording
from .snapshots import Snapshots
from .talk import TalkTime
from .transcription import SessionTranscripts, SpeechServices

# How long a shutdown waits for a session's queued events to be published (or outboxed).
CLOSE_TIMEOUT_S = 5.0


class LiveSession(RoomObserver):
    def __init__(self, session: Session, bus: EventBus, redis: aioredis.Redis,
                 snapshot_interval_s: float, panel_interval_s: float,
                 video_sample_interval_s: float, frames: FrameWorker, faces: FaceCounter,
                 speech: SpeechServices, storage: RecordingStorage, session_dir: Path) -> None:
        self.session = session
        self.context = context = ClassContext(session, bus)
        # Taken over from a process that died mid-class, for the room this one opens.
        self.carried_admission: Optional[Admission] = None
        self.attendance = Attendance(context, redis)
        self.camera = Camera(context, frames, faces, video_sample_interval_s)
        self.talk = TalkTime(context)
        self.chat = Chat(context)
        self.hands = Hands(context)
        self.polls = Polls(context)
        self.reactions = Reactions(context)
        self.presence = Presence(context)
        self.transcripts = SessionTranscripts(session.id, session_dir, speech, context.emit,
                                              context.queue, context.broadcast, lambda: context.opened_at)
        self.recording = SessionRecording(session.id, session_dir, storage, context.emit,
                                          context.broadcast, lambda: context.opened_at)
        self.snapshots = Snapshots(context, self.attendance, self.talk, self.camera, self.hands,
                                   snapshot_interval_s, panel_interval_s)
        self._closed = False

    @property
    def room(self) -> Optional[Room]:
        return self.context.room

    @property
    def opened_at(self) -> Optional[float]:
        return self.context.opened_at

    def open_room(self, sfu: SFU) -> Room:
        room = self.context.room
        if room is None or room.closed:
            room = self.context.room = sfu.room(self.session.id, self.session.title, observer=self)
            if self.carried_admission is not None:
                room.restore_admission(self.carried_admission)
                self.carried_admission = None
        return room

    def joined_extra(self, identity: str, moderator: bool) -> dict[str, Any]:
        """What a newcomer's `joined` message carries besides the room itself."""
        return {"hands": self.hands.queue.queue(), "poll": self.polls.view(identity, moderator),
                "transcription": self.transcripts.transcribing, "recording": self.recording.state()}

    def engagement_totals(self) -> dict[str, Any]:
        talk, turns = self.talk.totals()
        return self.context.activity.totals(time.time(), talk, turns)

    async def set_recording(self, moderator: Optional[Participant], on: bool) -> bool:
        return await self.recording.switch(moderator, on, self.context.require_room())

    # -- the room's observer --------------------------------------------------------------

    def participant_joined(self, participant: Participant, rejoin: bool) -> None:
        now = time.time()
        if self.context.opened_at is None:
            self.context.opened_at = now
            self.context.emit(SessionStarted(
                title=self.session.title, scheduled_start=self.session.scheduled_start,
                scheduled_end=self.session.scheduled_end, started_at=iso(now)), at=now)
            if self.session.settings.recording:
                self.recording.start(None, [])
        activity = self.context.activity.activity(participant.identity, participant.name,
                                                  participant.role.value)
        activity.visible.set(True, now)
        self.attendance.joined(participant, rejoin)

    def connection_restored(self, participant: Participant) -> None:
        self.attendance.restored(participant)

    def participant_left(self, participant: Participant, reason: str) -> None:
        self.context.activity.activity(participant.identity).visible.set(False, time.time())
        self.hands.left(participant.identity, reason)
        self.attendance.left(participant, reason)

    def connection_lost(self, participant: Participant) -> None:
        self.attendance.lost(participant)

    def track_published(self, participant: Participant, publication: Publication) -> None:
        self.context.emit(TrackPublished(
            track_sid=publication.sid, kind=cast(KindName, publication.kind),
            source=publication.source.value), participant.identity)
        if publication.source is Source.CAMERA:
            self.camera.published(participant.identity, publication)
        elif publication.source is Source.MICROPHONE:
            self.transcripts.attach(participant, publication)
        self.recording.attach(participant, publication)

    def track_unpublished(self, participant: Participant, publication: Publication) -> None:
        identity = participant.identity
        self.recording.detach(publication)
        self.context.emit(TrackUnpublished(
            track_sid=publication.sid, kind=cast(KindName, publication.kind),
            source=publication.source.value), identity)
        if publication.source is Source.MICROPHONE:
            self.transcripts.detach(publication)
            self.talk.microphone_closed(identity, publication)
        elif publication.source is Source.CAMERA:
            self.camera.switched(identity, False)

    def track_muted(self, participant: Participant, publication: Publication,
                    muted: bool, by: Optional[str]) -> None:
        if publication.source is Source.MICROPHONE:
            self.context.signal(participant.identity, MicMuted(by=by or None) if muted else MicUnmuted())
        elif publication.source is Source.CAMERA:
            self.camera.switched(participant.identity, not muted)

    def speaking_changed(self, identity: str, speaking: bool) -> None:
        self.talk.speaking_changed(identity, speaking)

    # -- the end --------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop this node's work on the session without ending the class (a shutdown: after a
        restart, or on another node, the class goes on). Jobs already queued still run.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.snapshots.close()
        await self.recording.close()
        await self.context.close(CLOSE_TIMEOUT_S)

    async def end(self, reason: str) -> None:
        """Close the room, then publish the final snapshots, the attendance summary and
        session.ended, in that order."""
        now = time.time()
        await self.snapshots.close()
        self.polls.end_running()
        attended = list(self.context.activity.participants)
        room = self.context.room
        if room is not None and not room.closed:
            await room.close("session_ended")
        await self.recording.stop(None, "session_ended")
        await self.transcripts.finish()
        await self.context.drain()
        await self.snapshots.snapshot(attended)
        self.context.emit(await self.attendance.summary(now), at=now)
        opened_at = self.context.opened_at
        self.context.emit(SessionEnded(
            ended_at=iso(now), reason=cast(EndReason, reason),
            duration_s=round(now - opened_at, 3) if opened_at else 0.0), at=now)
        await self.close()
