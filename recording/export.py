"""`aula export SESSION`: one playable file of the whole class, offline.

Every recorded microphone mixed into one track, every camera and screen in a grid (one cell
per participant and source, black while it has no picture), on the session's clock from each
file's `offset_s`. H.264 + AAC in MP4 (`+faststart`: it plays while it downloads). This is the
one place Aula decodes and encodes video, after class, never during it.
"""

from __future__ import annotations

import fractions
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import av
import numpy as np

from .manifest import RecordedTrack, read_manifest
from .media_files import decoded_frames

EXPORT_FILE = "export.mp4"
WIDTH, HEIGHT = 1280, 720
FPS = 15
AUDIO_RATE = 48000
AUDIO_FRAME = 1024  # AAC's frame size


class NothingToExport(Exception):
    pass


Progress = Callable[[float, float], None]  # (seconds done, seconds in all)


@dataclass
class _Cell:
    x: int
    y: int
    width: int
    height: int


def export_session(session_dir: Path, output: Path, progress: Optional[Progress] = None) -> float:
    """Writes `output` (MP4); returns its duration in seconds."""
    recordings = session_dir / "recordings"
    tracks = [t for t in read_manifest(recordings) if t.duration_s]
    if not tracks:
        raise NothingToExport(f"no recordings in {recordings}")
    duration = max(t.offset_s + (t.duration_s or 0.0) for t in tracks)
    audio_tracks = [t for t in tracks if t.kind == "audio"]
    video_tracks = [t for t in tracks if t.kind == "video"]
    with tempfile.TemporaryDirectory() as scratch:
        mix = _mix_audio(recordings, audio_tracks, duration, Path(scratch) / "mix.f32")
        _encode(recordings, video_tracks, mix, duration, output, progress)
    return duration


def _mix_audio(folder: Path, tracks: list[RecordedTrack], duration: float, scratch: Path) -> np.ndarray:
    """Every microphone added into one 48 kHz buffer on disk (an hour is 690 MB: not in memory)."""
    total = int(math.ceil(duration * AUDIO_RATE)) + AUDIO_FRAME
    mix = np.memmap(scratch, dtype=np.float32, mode="w+", shape=(total,))
    for track in tracks:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        at = int(round(track.offset_s * AUDIO_RATE))
        for frame, _ in decoded_frames(folder / track.file, "audio"):
            for resampled in resampler.resample(frame):
                samples = resampled.to_ndarray().reshape(-1)
                end = min(at + len(samples), total)
                if end > at:
                    mix[at:end] += samples[:end - at]
                at += len(samples)
    np.clip(mix, -1.0, 1.0, out=mix)
    return mix


def _grid(keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Cell]:
    columns = max(1, math.ceil(math.sqrt(len(keys))))
    rows = max(1, math.ceil(len(keys) / columns))
    width, height = WIDTH // columns // 2 * 2, HEIGHT // rows // 2 * 2
    return {key: _Cell((i % columns) * width, (i // columns) * height, width, height)
            for i, key in enumerate(keys)}


def _frames(folder: Path, track: RecordedTrack, cell: _Cell) -> Iterator[tuple[float, np.ndarray]]:
    """(session time, RGB picture scaled to the cell) of each frame of one video file."""
    for frame, at in decoded_frames(folder / track.file, "video"):
        picture = frame.reformat(width=cell.width, height=cell.height, format="rgb24")
        yield track.offset_s + at, picture.to_ndarray()


class _VideoSource:
    """One video file, read forward as the export's clock advances."""

    def __init__(self, folder: Path, track: RecordedTrack, cell: _Cell) -> None:
        self.track, self.cell = track, cell
        self._frames = _frames(folder, track, cell)
        self._next = next(self._frames, None)
        self.picture: Optional[np.ndarray] = None

    def at(self, t: float) -> Optional[np.ndarray]:
        while self._next is not None and self._next[0] <= t:
            self.picture = self._next[1]
            self._next = next(self._frames, None)
        ended = t > self.track.offset_s + (self.track.duration_s or 0.0) + 0.5
        return None if ended or t < self.track.offset_s else self.picture


def _encode(folder: Path, video_tracks: list[RecordedTrack], mix: np.ndarray, duration: float,
            output: Path, progress: Optional[Progress]) -> None:
    keys = sorted({(t.participant, t.source) for t in video_tracks})
    cells = _grid(keys)
    sources = [_VideoSource(folder, t, cells[(t.participant, t.source)]) for t in video_tracks]
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.with_name(output.name + ".part")
    with av.open(str(scratch), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "28"}
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        audio.bit_rate = 96_000
        frames = int(math.ceil(duration * FPS))
        audio_at = 0
        for index in range(frames):
            t = index / FPS
            canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            for source in sources:
                picture = source.at(t)
                if picture is not None:
                    c = source.cell
                    canvas[c.y:c.y + c.height, c.x:c.x + c.width] = picture
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            frame.pts = index
            frame.time_base = fractions.Fraction(1, FPS)
            container.mux(video.encode(frame))
            # The audio that belongs before the next picture.
            until = int((index + 1) / FPS * AUDIO_RATE)
            while audio_at + AUDIO_FRAME <= until:
                container.mux(audio.encode(_audio_frame(mix, audio_at)))
                audio_at += AUDIO_FRAME
            if progress is not None:
                progress(min(t + 1 / FPS, duration), duration)
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    scratch.replace(output)


def _audio_frame(mix: np.ndarray, at: int) -> av.AudioFrame:
    samples = np.asarray(mix[at:at + AUDIO_FRAME], dtype=np.float32)
    if len(samples) < AUDIO_FRAME:
        samples = np.pad(samples, (0, AUDIO_FRAME - len(samples)))
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = at
    frame.time_base = fractions.Fraction(1, AUDIO_RATE)
    return frame
