"""Recording a live class: the instructor (or the session's setting) turns it on, every
published track is written as it arrives (recording/recorder.py), and recordings.json lists them.

Everyone in the room is told while it runs (`recording` messages; the page shows it): the
participants are minors, and consent matters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional, cast

from events.event import iso
from events.types import RecordingFile, RecordingFinished, RecordingStarted
from events.types.base import KindName, SourceName
from events.types.recording import StopReason
from media import Participant, PermissionDenied, Publication, Room
from recording.recorder import RecordingWriter, TrackRecorder, file_extension, recordable
from recording.manifest import Manifest, RecordedTrack
from recording.storage import RecordingStorage

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0

Emit = Callable[..., Any]


class SessionRecording:
    def __init__(self, session_id: str, session_dir: Path, storage: RecordingStorage, emit: Emit,
                 broadcast: Callable[[dict[str, Any]], None],
                 session_start: Callable[[], Optional[float]]) -> None:
        self.session_id = session_id
        self.directory = session_dir / "recordings"
        self._storage = storage
        self.manifest = Manifest(self.directory, session_id)
        self._emit = emit
        self._broadcast = broadcast
        self._session_start = session_start
        self.active = False
        self.started_by: Optional[str] = None
        self._started_at = 0.0
        self._recorders: dict[str, tuple[TrackRecorder, RecordedTrack, Publication]] = {}
        # One muxing thread for the class's tracks, while it records.
        self._writer: Optional[RecordingWriter] = None
        # Tracks that ended while recording (their participant left...), for recording.finished.
        self._finishing: list[asyncio.Future[RecordedTrack]] = []

    def state(self) -> dict[str, Any]:
        return {"active": self.active, "started_by": self.started_by,
                "started_at": iso(self._started_at) if self.active else None}

    def start(self, by: Optional[str], tracks: list[tuple[Participant, Publication]]) -> bool:
        """Returns False if it was already recording."""
        if self.active:
            return False
        self.active, self.started_by, self._started_at = True, by, time.time()
        self._writer = RecordingWriter(self.session_id)
        self._emit(RecordingStarted(by=by), by)
        self._broadcast({"type": "recording", **self.state()})
        # The manifest (fsynced) is written once for the class, not once per track.
        started = [self._begin(participant, publication) for participant, publication in tracks]
        self.manifest.put(*(track for track in started if track is not None))
        return True

    async def switch(self, moderator: Optional[Participant], on: bool, room: Room) -> bool:
        """Start or stop recording (a moderator, or the API with `moderator` None). Returns
        whether that changed anything."""
        if moderator is not None and not moderator.permissions.moderate:
            raise PermissionDenied("starting or stopping the recording needs the moderate permission")
        by = moderator.identity if moderator is not None else None
        if not on:
            return await self.stop(by, "stopped")
        return self.start(by, [(participant, publication)
                               for participant in room.participants.values()
                               for publication in participant.publications.values()])

    def attach(self, participant: Participant, publication: Publication) -> None:
        """A track published while the class is recorded."""
        track = self._begin(participant, publication)
        if track is not None:
            self.manifest.put(track)

    def _begin(self, participant: Participant, publication: Publication) -> Optional[RecordedTrack]:
        if (not self.active or self._writer is None or not recordable(publication.codec)
                or publication.sid in self._recorders):
            return None
        now = time.time()
        number = sum(1 for t in self.manifest.tracks.values() if t.track_sid == publication.sid)
        file = (f"{participant.identity}-{publication.source.value}-{publication.sid}"
                f"{'-' + str(number) if number else ''}.{file_extension(publication.codec)}")
        track = RecordedTrack(
            file=file, participant=participant.identity, name=participant.name,
            track_sid=publication.sid, kind=publication.kind, source=publication.source.value,
            codec=publication.codec.mimeType.lower(),
            offset_s=round(now - (self._session_start() or now), 3), started_at=iso(now))
        self.directory.mkdir(parents=True, exist_ok=True)
        recorder = TrackRecorder(self.directory / file, publication.codec, self._writer,
                                 publication.is_keyframe_start, publication.request_keyframe)
        publication.record(recorder)
        self._recorders[publication.sid] = (recorder, track, publication)
        return track

    def detach(self, publication: Publication) -> None:
        entry = self._recorders.pop(publication.sid, None)
        if entry is not None:
            self._finishing.append(asyncio.ensure_future(self._finish(*entry)))

    async def _finish(self, recorder: TrackRecorder, track: RecordedTrack, publication: Publication) -> RecordedTrack:
        publication.record(None)
        recorder.close()
        if not await asyncio.to_thread(recorder.file.wait_closed, CLOSE_TIMEOUT_S):
            logger.warning("recording %s: still writing after %.0f s", track.file, CLOSE_TIMEOUT_S)
        first = recorder.first_frame_at
        offset = track.offset_s if first is None else round(first - (self._session_start() or first), 3)
        finished = replace(track, status="complete", ended_at=iso(time.time()), offset_s=offset,
                           duration_s=round(recorder.file.duration_s, 3), frames=recorder.file.frames_written)
        await asyncio.to_thread(self.manifest.put, finished)
        try:
            stored_at = await asyncio.to_thread(self._storage.store, self.session_id,
                                                self.directory / track.file)
        except Exception:
            logger.exception("recording %s: could not store it; it stays in the data dir", track.file)
            stored_at = None
        if stored_at is not None:
            finished = replace(finished, stored_at=stored_at)
            await asyncio.to_thread(self.manifest.put, finished)
        return finished

    async def close(self) -> None:
        """A shutdown: finish the files written so far, so none is left half-listed for the
        next process (which resumes the recording in new files)."""
        entries = list(self._recorders.values())
        self._recorders.clear()
        finishing, self._finishing = self._finishing, []
        await asyncio.gather(*finishing, *(self._finish(*entry) for entry in entries))
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def stop(self, by: Optional[str], reason: str) -> bool:
        """Returns False if it was not recording."""
        if not self.active:
            return False
        self.active = False
        entries = list(self._recorders.values())
        self._recorders.clear()
        finishing, self._finishing = self._finishing, []
        self._broadcast({"type": "recording", **self.state(), "stopped_by": by})
        finished = await asyncio.gather(*finishing, *(self._finish(*entry) for entry in entries))
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._emit(RecordingFinished(
            by=by, reason=cast(StopReason, reason), duration_s=round(time.time() - self._started_at, 3),
            files=[RecordingFile(file=t.file, participant=t.participant, kind=cast(KindName, t.kind),
                                 source=cast(SourceName, t.source), offset_s=t.offset_s, duration_s=t.duration_s)
                   for t in finished]), by)
        return True
