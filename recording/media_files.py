"""Reading recorded files back (export, offline transcription), whole or torn."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Literal, Union, overload

import av

logger = logging.getLogger(__name__)

Frame = Union[av.AudioFrame, av.VideoFrame]


@overload
def decoded_frames(path: Path, kind: Literal["audio"]) -> Iterator[tuple[av.AudioFrame, float]]: ...


@overload
def decoded_frames(path: Path, kind: Literal["video"]) -> Iterator[tuple[av.VideoFrame, float]]: ...


def decoded_frames(path: Path, kind: str) -> Iterator[tuple[Frame, float]]:
    """Every frame of a recording's `kind` ("audio" or "video") stream, with its time in seconds
    from the file's first frame. A file a crash cut off ends at the tear."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0] if kind == "audio" else container.streams.video[0]
            first = None
            for frame in container.decode(stream):
                if not isinstance(frame, (av.AudioFrame, av.VideoFrame)):
                    continue  # a subtitle: never in a recording
                at = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else 0.0
                first = at if first is None else first
                yield frame, at - first
    except av.error.FFmpegError as exc:
        logger.warning("%s: read up to a damaged or empty part (%s)", path.name, exc)
