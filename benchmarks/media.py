"""Pre-encoded benchmark media and a track that sends it without ever encoding.

`ensure_media()` encodes, once, a synthetic clip per profile with PyAV and caches it under
`benchmarks/media/` (git-ignored): VP8 1280x720 (instructor camera), VP8 640x360 (student
camera), Opus 48 kHz mono (microphone). The picture changes every frame (a drifting gradient,
moving blocks and fresh noise) and the sound is a gliding, modulated tone with noise, so the
encoders really spend their bit budget and every packet differs from its neighbours.

`EncodedTrack` yields the clip's `av.Packet`s paced in real time by their pts. aiortc's
`RTCRtpSender._next_encoded_frame` then calls `encoder.pack(packet)` (packetise only), so the
load generator spends no CPU on encoding. The clip loops by offsetting pts by the clip length
(`MediaPlayer(loop=True, decode=False)` restarts timestamps and does not pace).

    python -m benchmarks.media          # encode (or find) all clips and print their bitrates
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import av
import numpy as np
from aiortc import MediaStreamTrack

MEDIA_DIR = Path(__file__).resolve().parent / "media"
# Bump when the generator changes, so stale cached clips are not reused.
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class VideoProfile:
    name: str
    width: int
    height: int
    fps: int
    bitrate: int
    gop: int = 60  # a keyframe every 2 s: the clip cannot answer PLIs, late subscribers wait for one
    kind: str = "video"

    @property
    def filename(self) -> str:
        return (f"{self.name}-{self.width}x{self.height}-{self.fps}fps-{self.bitrate // 1000}k"
                f"-g{self.gop}-v{GENERATOR_VERSION}")


@dataclass(frozen=True)
class AudioProfile:
    name: str
    sample_rate: int
    bitrate: int
    ptime_ms: int = 20
    # "speech": a loud voice-like signal (an instructor talking); "quiet": room tone around
    # -65 dBov (a student with the microphone on, not speaking; below the speaking threshold).
    content: str = "speech"
    kind: str = "audio"

    @property
    def filename(self) -> str:
        return (f"{self.name}-{self.content}-{self.sample_rate}hz-mono-{self.bitrate // 1000}k"
                f"-{self.ptime_ms}ms-v{GENERATOR_VERSION}")


Profile = VideoProfile | AudioProfile

INSTRUCTOR_VIDEO = VideoProfile("vp8", 1280, 720, 30, 1_500_000)
STUDENT_VIDEO = VideoProfile("vp8", 640, 360, 30, 500_000)
AUDIO = AudioProfile("opus", 48_000, 32_000)
QUIET_AUDIO = AudioProfile("opus", 48_000, 32_000, content="quiet")
ALL_PROFILES: tuple[Profile, ...] = (INSTRUCTOR_VIDEO, STUDENT_VIDEO, AUDIO, QUIET_AUDIO)
DEFAULT_DURATION_S = 64.0


# -- encoding (once) -------------------------------------------------------------------------


def _video_frames(profile: VideoProfile, count: int, seed: int = 7):  # type: ignore[no-untyped-def]
    """yuv420p frames: drifting gradient + moving blocks + fresh noise every frame."""
    rng = np.random.default_rng(seed)
    w, h = profile.width, profile.height
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    # A pool of noise fields; each frame takes one at a random offset, so no two frames match.
    pool = rng.normal(0.0, 7.0, size=(8, h, w + 64)).astype(np.float32)
    cw, ch = w // 2, h // 2
    cxs = np.arange(cw, dtype=np.float32)[None, :]
    cys = np.arange(ch, dtype=np.float32)[:, None]
    block = max(16, w // 20)
    for i in range(count):
        t = i / profile.fps
        luma = (96 + 60 * np.sin((xs * 0.012 + ys * 0.007) + t * 1.3)
                + 30 * np.sin(ys * 0.03 - t * 2.1))
        offset = int(rng.integers(0, 64))
        luma = luma + pool[i % len(pool), :, offset:offset + w]
        for k in range(6):  # blocks on Lissajous paths
            bx = int((0.5 + 0.45 * math.sin(t * (0.7 + 0.21 * k) + k)) * (w - block))
            by = int((0.5 + 0.45 * math.cos(t * (0.5 + 0.17 * k) + 2 * k)) * (h - block))
            luma[by:by + block, bx:bx + block] = 30 + 35 * k
        u = 128 + 40 * np.sin(cxs * 0.02 + t * 0.9) + 0 * cys
        v = 128 + 40 * np.cos(cys * 0.025 - t * 0.6) + 0 * cxs
        planes = np.concatenate([
            np.clip(luma, 0, 255).astype(np.uint8),
            np.clip(u, 0, 255).astype(np.uint8).reshape(h // 4, w),
            np.clip(v, 0, 255).astype(np.uint8).reshape(h // 4, w),
        ])
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = i
        frame.time_base = fractions.Fraction(1, profile.fps)
        yield frame


def _encode_video(profile: VideoProfile, duration_s: float, path: Path) -> None:
    count = int(round(duration_s * profile.fps))
    with av.open(str(path), "w", format="ivf") as container:
        stream = container.add_stream("libvpx", rate=profile.fps)
        stream.width, stream.height, stream.pix_fmt = profile.width, profile.height, "yuv420p"
        stream.bit_rate = profile.bitrate
        stream.codec_context.gop_size = profile.gop
        stream.codec_context.time_base = fractions.Fraction(1, profile.fps)
        # Real-time, constant-bitrate, no alt-ref (every packet is one shown frame), like WebRTC.
        stream.codec_context.options = {
            "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
            "auto-alt-ref": "0", "minrate": str(profile.bitrate),
            "maxrate": str(profile.bitrate), "bufsize": str(profile.bitrate),
            "qmin": "4", "qmax": "56", "error-resilient": "1",
        }
        for frame in _video_frames(profile, count):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _encode_audio(profile: AudioProfile, duration_s: float, path: Path, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    rate = profile.sample_rate
    samples_per_frame = rate * profile.ptime_ms // 1000
    frames = int(duration_s * 1000 // profile.ptime_ms)
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.layout = "mono"
        stream.bit_rate = profile.bitrate
        stream.codec_context.options = {"frame_duration": str(profile.ptime_ms),
                                        "application": "voip", "vbr": "on"}
        phase = 0.0
        for i in range(frames):
            t0 = i * samples_per_frame
            t = (np.arange(samples_per_frame) + t0) / rate
            # A voice-like glide (110-260 Hz with harmonics), syllable envelope, breath noise.
            pitch = 180 + 70 * np.sin(2 * math.pi * 0.37 * t) + 20 * np.sin(2 * math.pi * 3.1 * t)
            phases = phase + 2 * math.pi * np.cumsum(pitch) / rate
            phase = float(phases[-1])
            envelope = 0.55 + 0.45 * np.sin(2 * math.pi * 4.0 * t) ** 2
            if profile.content == "quiet":
                # Room tone: faint noise and hum, ~-65 dBov.
                wave = rng.normal(0.0, 0.0005, samples_per_frame) + 0.0003 * np.sin(
                    2 * math.pi * 50 * t)
            else:
                wave = sum(np.sin(k * phases) / k for k in range(1, 6)) * envelope * 0.25
                wave = wave + rng.normal(0.0, 0.02, samples_per_frame)
            pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = t0
            frame.time_base = fractions.Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def media_path(profile: Profile, directory: Path = MEDIA_DIR,
               duration_s: float = DEFAULT_DURATION_S) -> Path:
    suffix = ".ivf" if isinstance(profile, VideoProfile) else ".ogg"
    return directory / f"{profile.filename}-{int(duration_s)}s{suffix}"


def ensure_media(profile: Profile, directory: Path = MEDIA_DIR,
                 duration_s: float = DEFAULT_DURATION_S) -> Path:
    """The cached clip for `profile`, encoding it first if it is not there yet."""
    path = media_path(profile, directory, duration_s)
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    started = time.monotonic()
    if isinstance(profile, VideoProfile):
        _encode_video(profile, duration_s, partial)
    else:
        _encode_audio(profile, duration_s, partial)
    partial.rename(path)
    clip = load_clip(path, profile.kind)
    meta = {**asdict(profile), "path": path.name, "encode_s": round(time.monotonic() - started, 1),
            **clip.summary()}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return path


# -- reading ---------------------------------------------------------------------------------


@dataclass
class EncodedClip:
    """All packets of one clip in memory, pts made relative to the first packet."""

    kind: str
    time_base: fractions.Fraction
    pts: list[int]
    data: list[bytes]
    keyframe: list[bool]
    length_pts: int  # clip duration in time_base units: the loop offset
    # Audio: each packet's level in dBov (<= 0, as aiortc's compute_audio_level_dbov returns).
    levels: Optional[list[int]] = None

    @property
    def duration_s(self) -> float:
        return float(self.length_pts * self.time_base)

    def bitrate(self) -> float:
        return sum(len(d) for d in self.data) * 8 / self.duration_s

    def keyframe_indices(self) -> list[int]:
        return [i for i, k in enumerate(self.keyframe) if k]

    def summary(self) -> dict[str, object]:
        return {"packets": len(self.data), "duration_s": round(self.duration_s, 2),
                "bitrate_kbps": round(self.bitrate() / 1000, 1),
                "keyframes": len(self.keyframe_indices()),
                "max_packet_bytes": max(len(d) for d in self.data)}


def load_clip(path: Path, kind: str) -> EncodedClip:
    pts: list[int] = []
    data: list[bytes] = []
    keyframe: list[bool] = []
    durations: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0] if kind == "audio" else container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            pts.append(packet.pts)
            data.append(bytes(packet))
            keyframe.append(bool(packet.is_keyframe))
            durations.append(packet.duration or 0)
    first = pts[0]
    pts = [p - first for p in pts]
    step = durations[-1] or (pts[-1] - pts[-2])
    levels = _audio_levels(path) if kind == "audio" else None
    if levels is not None and len(levels) != len(data):
        levels = None
    return EncodedClip(kind, time_base, pts, data, keyframe, pts[-1] + step, levels)


def _audio_levels(path: Path) -> list[int]:
    """dBov of each decoded packet, for the RFC 6464 level a browser would send with it."""
    levels: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            samples = [f.to_ndarray().astype(np.float64) for f in packet.decode()]
            if not samples:
                levels.append(-127)
                continue
            pcm = np.concatenate([s.reshape(-1) for s in samples])
            if pcm.dtype.kind == "f" and np.abs(pcm).max() <= 1.0 + 1e-6:
                rms = float(np.sqrt(np.mean(pcm ** 2)))
            else:
                rms = float(np.sqrt(np.mean((pcm / 32768.0) ** 2)))
            levels.append(max(-127, min(0, round(20 * math.log10(rms)))) if rms > 0 else -127)
    return levels


_CLIPS: dict[tuple[Path, str], EncodedClip] = {}


def clip_for(profile: Profile, directory: Path = MEDIA_DIR,
             duration_s: float = DEFAULT_DURATION_S) -> EncodedClip:
    """Load (once per process) the clip of `profile`; tracks share its packet bytes."""
    path = ensure_media(profile, directory, duration_s)
    key = (path, profile.kind)
    if key not in _CLIPS:
        _CLIPS[key] = load_clip(path, profile.kind)
    return _CLIPS[key]


# -- sending ---------------------------------------------------------------------------------

SendObserver = Callable[[float], None]


class EncodedTrack(MediaStreamTrack):
    """Yields a clip's packets in real time; aiortc packs them without encoding.

    `start_index` picks where the clip starts (a keyframe index for video, so subscribers can
    start at once). Lateness (how far behind its pts schedule each packet left) is recorded:
    a load generator that cannot keep its schedule is saturated and its numbers are invalid.
    """

    def __init__(self, clip: EncodedClip, start_index: int = 0) -> None:
        super().__init__()
        self.kind = clip.kind
        self._clip = clip
        self._index = start_index
        self._loops = 0
        self._base_pts = clip.pts[start_index]
        self._started_at: Optional[float] = None
        self.packets_yielded = 0
        self.bytes_yielded = 0
        self.loops_completed = 0
        self.lateness_s: list[float] = []
        # dBov of the packet last returned (audio), for the RFC 6464 level extension.
        self.last_level: Optional[int] = None
        self._max_lateness_samples = 200_000

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            from aiortc.mediastreams import MediaStreamError
            raise MediaStreamError
        clip = self._clip
        loop = asyncio.get_running_loop()
        if self._started_at is None:
            self._started_at = loop.time()
        # Position on the continuous timeline (pts units since this track's first packet).
        pts = clip.pts[self._index] + self._loops * clip.length_pts - self._base_pts
        due = self._started_at + float(pts * clip.time_base)
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = loop.time() - due
        if len(self.lateness_s) < self._max_lateness_samples:
            self.lateness_s.append(late)
        data = clip.data[self._index]
        if clip.levels is not None:
            self.last_level = clip.levels[self._index]
        packet = av.Packet(data)
        packet.pts = pts
        packet.dts = pts
        packet.time_base = clip.time_base
        self.packets_yielded += 1
        self.bytes_yielded += len(data)
        self._index += 1
        if self._index >= len(clip.data):
            self._index = 0
            self._loops += 1
            self.loops_completed += 1
        return packet


def send_audio_level(sender: "RTCRtpSender", track: EncodedTrack) -> None:  # noqa: F821
    """Make an aiortc sender write RFC 6464 audio levels for pre-encoded packets, as browsers do.

    aiortc computes the level only for frames it encodes itself; for packets it packs it writes
    none. `_next_encoded_frame` is wrapped to attach the level of the packet just taken.
    """
    original = sender._next_encoded_frame

    async def next_encoded_frame(codec):  # type: ignore[no-untyped-def]
        frame = await original(codec)
        if frame is not None and frame.audio_level is None and track.last_level is not None:
            frame.audio_level = track.last_level
        return frame

    sender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--dir", type=Path, default=MEDIA_DIR)
    args = parser.parse_args()
    for profile in ALL_PROFILES:
        path = ensure_media(profile, args.dir, args.duration)
        clip = load_clip(path, profile.kind)
        print(f"{path.name}: {json.dumps(clip.summary())}")


if __name__ == "__main__":
    main()
