"""recordings.json: every recorded track of a session, kept current on disk.

Rewritten atomically when a track starts and when it ends, so after a crash the manifest lists
every file written so far; `repair` (run at start-up) marks what was cut off as interrupted and
measures how much of it there is.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import av

from .storage import RecordingStorage

logger = logging.getLogger(__name__)

MANIFEST = "recordings.json"


@dataclass(frozen=True)
class RecordedTrack:
    file: str  # relative to the recordings folder
    participant: str
    name: str
    track_sid: str
    kind: str  # audio | video
    source: str  # microphone | camera | screen
    codec: str  # mime type
    # Seconds from the start of the session (session.started) to the file's first frame.
    offset_s: float
    started_at: str
    status: str = "recording"  # recording | complete | interrupted | deleted
    ended_at: Optional[str] = None
    duration_s: Optional[float] = None
    frames: Optional[int] = None
    # When its file was deleted (a student's media removed on request, or retention ran out).
    deleted_at: Optional[str] = None
    # Where else the finished file is kept (an object store's URL), if anywhere.
    stored_at: Optional[str] = None


class Manifest:
    def __init__(self, directory: Path, session_id: str) -> None:
        self.directory = directory
        self.session_id = session_id
        self._lock = threading.Lock()
        self.tracks: dict[str, RecordedTrack] = {t.file: t for t in read_manifest(directory)}

    def put(self, *tracks: RecordedTrack) -> None:
        """Add or update tracks: one write however many."""
        with self._lock:
            for track in tracks:
                self.tracks[track.file] = track
            self._write()

    def _write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        document = {"session_id": self.session_id,
                    "tracks": [asdict(track) for track in self.tracks.values()]}
        scratch = self.directory / (MANIFEST + ".tmp")
        with open(scratch, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, self.directory / MANIFEST)


class StillRecording(Exception):
    pass


def delete_media(directory: Path, session_id: str, now: str, storage: RecordingStorage,
                 participant: Optional[str] = None) -> list[str]:
    """Delete the files of one participant (or, with None, of everyone: retention), keeping
    each manifest entry as a record that it existed and when it went. Returns the files."""
    manifest = Manifest(directory, session_id)
    chosen = [t for t in manifest.tracks.values()
              if t.status != "deleted" and (participant is None or t.participant == participant)]
    if any(t.status == "recording" for t in chosen):
        raise StillRecording("those tracks are being recorded now: stop the recording first")
    for track in chosen:
        (directory / track.file).unlink(missing_ok=True)
        if track.stored_at:
            storage.delete(session_id, track.file)
        manifest.put(replace(track, status="deleted", deleted_at=now, stored_at=None))
    return [t.file for t in chosen]


def read_manifest(directory: Path) -> list[RecordedTrack]:
    try:
        document = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [RecordedTrack(**track) for track in document.get("tracks", [])]


def media_duration(path: Path) -> tuple[float, int]:
    """(seconds from the first to the end of the last frame, frames) of a file, read to its
    end: a file cut off by a crash has no duration in its header."""
    first = last = None
    frames = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams[0]
            try:
                for packet in container.demux(stream):
                    if packet.pts is None or not packet.size:
                        continue
                    start = float(packet.pts * packet.time_base)
                    end = start + float((packet.duration or 0) * packet.time_base)
                    first = start if first is None else min(first, start)
                    last = end if last is None else max(last, end)
                    frames += 1
            except av.error.FFmpegError:
                pass  # a torn last page/cluster: everything before it counts
    except (av.error.FFmpegError, FileNotFoundError):
        return 0.0, 0
    return (round(last - first, 3) if first is not None and last is not None else 0.0), frames


def repair(sessions_dir: Path) -> list[RecordedTrack]:
    """Tracks a dead process left 'recording': measured and marked interrupted."""
    repaired = []
    for manifest_path in sessions_dir.glob(f"*/recordings/{MANIFEST}"):
        manifest = Manifest(manifest_path.parent, manifest_path.parent.parent.name)
        for track in list(manifest.tracks.values()):
            if track.status != "recording":
                continue
            duration, frames = media_duration(manifest.directory / track.file)
            fixed = replace(track, status="interrupted", duration_s=duration, frames=frames)
            manifest.put(fixed)
            repaired.append(fixed)
            logger.warning("recording %s/%s was cut off: %.1f s kept", manifest.session_id,
                           track.file, duration)
    return repaired
