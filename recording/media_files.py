"""Reading recorded files back (export, offline transcription), whole or torn."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Union

import av

logger = logging.getLogger(__name__)

Frame = Union[av.AudioFrame, av.VideoFrame]


def decoded_frames(path: Path, kind: str) -> Iterator[tuple[Frame, float]]:
    """Every frame of a recording's `kind` ("audio" or "video") stream, with its time in seconds
    from the file's first frame. A file a crash cut off ends at the tear."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0] if kind == "audio" else container.streams.video[0]
            first = None
            for frame in container.decode(stream):
                at = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                first = at if first is None else first
                yield frame, at - first
    except av.error.FFmpegError as exc:
        logger.warning("%s: read up to a damaged or empty part (%s)", path.name, exc)
