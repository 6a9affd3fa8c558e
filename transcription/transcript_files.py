"""A session's transcript on disk: transcript.json, transcript.vtt and transcript.srt.

Rewritten atomically (write, fsync, rename) after every final, so a crash loses at most the
utterance in flight and a reader never sees half a file. Segments are kept in start order
(finals of different speakers can settle out of order). An existing transcript.json is read
back on start, so a restarted node carries on the same transcript.
"""

from __future__ import annotations

import bisect
import html
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .speaker_stream import Transcript

FORMATS = {"json": "application/json", "vtt": "text/vtt", "srt": "application/x-subrip"}


@dataclass(frozen=True)
class TranscriptSegment:
    """One final utterance; times are seconds from the start of the session."""
    speaker: str
    name: str
    start: float
    end: float
    text: str
    confidence: float | None = None
    words: list[dict[str, Any]] = field(default_factory=list)
    event_id: str | None = None

    @classmethod
    def on_session_clock(cls, speaker: str, name: str, transcript: Transcript,
                         offset: float) -> "TranscriptSegment":
        """`transcript` (times on its stream's clock) moved `offset` seconds, to the session's."""
        return cls(speaker, name, round(offset + transcript.start, 3), round(offset + transcript.end, 3),
                   transcript.text, transcript.confidence,
                   [{"start": round(offset + w.start, 3), "end": round(offset + w.end, 3), "text": w.text,
                     "probability": w.probability} for w in transcript.words])


def clean_text(text: str) -> str:
    """One line of caption text: no control characters, no cue-timing arrow."""
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", text)).replace("-->", "->").strip()


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render_vtt(segments: list[TranscriptSegment]) -> str:
    # Cue text is markup in WebVTT: escape it; the voice span carries the speaker's name.
    cues = [f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n"
            f"<v {html.escape(clean_text(s.name))}>{html.escape(s.text, quote=False)}"
            for s in segments if s.text]
    return "WEBVTT\n\n" + "".join(cue + "\n\n" for cue in cues)


def render_srt(segments: list[TranscriptSegment]) -> str:
    cues = [s for s in segments if s.text]
    return "".join(f"{index}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n"
                   f"{clean_text(s.name)}: {s.text}\n\n" for index, s in enumerate(cues, 1))


class TranscriptFiles:
    def __init__(self, directory: Path, session_id: str) -> None:
        self.directory = directory
        self.session_id = session_id
        self._lock = threading.Lock()
        self.segments: list[TranscriptSegment] = self._read_back()

    def path(self, fmt: str) -> Path:
        return self.directory / f"transcript.{fmt}"

    def _read_back(self) -> list[TranscriptSegment]:
        try:
            document = json.loads(self.path("json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return [TranscriptSegment(**segment) for segment in document.get("segments", [])]

    def add(self, segment: TranscriptSegment) -> None:
        """Blocking file I/O: call it off the event loop."""
        segment = TranscriptSegment(**{**asdict(segment), "text": clean_text(segment.text)})
        with self._lock:
            starts = [s.start for s in self.segments]
            self.segments.insert(bisect.bisect_right(starts, segment.start), segment)
            self._write_all()

    def replace_all(self, segments: list[TranscriptSegment]) -> None:
        """A new transcript of the whole session (`aula transcribe`)."""
        with self._lock:
            self.segments = sorted(
                (TranscriptSegment(**{**asdict(s), "text": clean_text(s.text)}) for s in segments),
                key=lambda s: s.start)
            self._write_all()

    def _write_all(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        document = {"session_id": self.session_id,
                    "segments": [asdict(segment) for segment in self.segments]}
        _replace(self.path("json"), json.dumps(document, ensure_ascii=False, indent=1))
        _replace(self.path("vtt"), render_vtt(self.segments))
        _replace(self.path("srt"), render_srt(self.segments))


def _replace(path: Path, text: str) -> None:
    scratch = path.with_name(path.name + ".tmp")
    with open(scratch, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, path)
