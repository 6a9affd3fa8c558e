"""Synthetic media for tests: a solid-colour camera and a pure-tone microphone."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import numpy as np
from aiortc import MediaStreamTrack
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_PTIME = 0.02


class ColourTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, rgb: tuple[int, int, int], width: int = 320, height: int = 240,
                 fps: int = 30) -> None:
        super().__init__()
        image = np.zeros((height, width, 3), dtype=np.uint8)
        image[:, :] = rgb
        self._image = image
        self._fps = fps
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self._fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts = int(self._count * VIDEO_CLOCK / self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class PacedAudioTrack(MediaStreamTrack):
    """20 ms frames of 48 kHz mono in real time; subclasses say what the samples are."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)
        self._start: float | None = None
        self._count = 0

    def samples(self, first: int, count: int) -> np.ndarray:
        raise NotImplementedError

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count * AUDIO_PTIME
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        first = self._count * self._samples
        chunk = self.samples(first, self._samples)
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = first
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._count += 1
        return frame


class ToneTrack(PacedAudioTrack):
    """A sine tone."""

    def __init__(self, frequency: float, amplitude: float = 0.3) -> None:
        super().__init__()
        self._frequency = frequency
        self._amplitude = amplitude

    def samples(self, first: int, count: int) -> np.ndarray:
        t = np.arange(first, first + count) / AUDIO_RATE
        return (self._amplitude * 32767 * np.sin(2 * math.pi * self._frequency * t)).astype(np.int16)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


class EncodedToneTrack(MediaStreamTrack):
    """A tone as pre-encoded Opus packets: aiortc sends them as they are (`encoder.pack`), with
    no RFC 6464 audio-level extension, as pre-recorded media and some clients do."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3) -> None:
        super().__init__()
        import av

        self._tone = ToneTrack(frequency, amplitude)
        self._encoder = av.CodecContext.create("libopus", "w")
        self._encoder.sample_rate = AUDIO_RATE
        self._encoder.layout = "mono"
        self._encoder.format = "s16"
        self._encoder.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pending: list = []
        # Every packet handed to aiortc, in order: what a recording must hold, byte for byte.
        self.sent: list[bytes] = []

    async def recv(self):  # type: ignore[no-untyped-def]
        while not self._pending:
            self._pending.extend(self._encoder.encode(await self._tone.recv()))
        packet = self._pending.pop(0)
        packet.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.sent.append(bytes(packet))
        return packet


class EncodedVideoTrack(MediaStreamTrack):
    """A moving picture as pre-encoded VP8 frames (libvpx), paced in real time; aiortc packs
    them as they are. Pre-encoded frames cannot answer a keyframe request, so a keyframe comes
    every 10 frames, about as soon as a browser would answer one. `sent` holds every frame
    handed to aiortc, in order."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        import av

        self._fps = fps
        self._encoder = av.CodecContext.create("libvpx", "w")
        self._encoder.width, self._encoder.height = width, height
        self._encoder.pix_fmt = "yuv420p"
        self._encoder.time_base = fractions.Fraction(1, fps)
        self._encoder.framerate = fractions.Fraction(fps, 1)
        self._encoder.bit_rate = 300_000
        self._encoder.gop_size = 10
        self._encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        self._size = (width, height)
        self._index = 0
        self._pending: list = []
        self._started: float | None = None
        self.sent: list[bytes] = []

    async def recv(self):  # type: ignore[no-untyped-def]
        import av

        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        while not self._pending:
            width, height = self._size
            shift = self._index * 4
            picture = np.zeros((height, width, 3), np.uint8)
            picture[:, :, 0] = (np.arange(width)[None, :] + shift) % 256
            picture[:, :, 1] = (np.arange(height)[:, None] * 2 + shift) % 256
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts = self._index
            self._index += 1
            self._pending.extend(self._encoder.encode(frame))
        packet = self._pending.pop(0)
        await asyncio.sleep(max(0.0, self._started + packet.pts / self._fps - loop.time()))
        packet.time_base = fractions.Fraction(1, self._fps)
        self.sent.append(bytes(packet))
        return packet


def espeak(text: str, rate: int = AUDIO_RATE) -> np.ndarray:
    """Speech synthesised by espeak-ng, as 16-bit mono PCM at `rate`, trimmed of the
    silence espeak puts before and after it."""
    import subprocess
    import tempfile
    import wave

    with tempfile.NamedTemporaryFile(suffix=".wav") as file:
        subprocess.run(["espeak-ng", "-w", file.name, text], check=True)
        with wave.open(file.name) as wav:
            source_rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    voiced = np.flatnonzero(np.abs(samples) > 300)
    samples = samples[voiced[0]:voiced[-1] + 1]
    positions = np.arange(0, len(samples), source_rate / rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.int16)


class PcmTrack(PacedAudioTrack):
    """Plays a PCM buffer in real time, then silence."""

    def __init__(self, pcm: np.ndarray) -> None:
        super().__init__()
        self._pcm = pcm

    def samples(self, first: int, count: int) -> np.ndarray:
        chunk = self._pcm[first:first + count]
        return np.pad(chunk, (0, count - len(chunk)))


class MovingTrack(ColourTrack):
    """A live-looking camera: a bright bar sweeping across a mid-grey picture."""

    def __init__(self, width: int = 640, height: int = 360, fps: int = 30) -> None:
        super().__init__((90, 90, 90), width, height, fps)
        self._width = width

    async def recv(self) -> VideoFrame:
        image = self._image.copy()
        x = (self._count * 12) % self._width
        image[:, x:x + 40] = (240, 240, 240)
        original, self._image = self._image, image
        try:
            return await super().recv()
        finally:
            self._image = original


class PictureTrack(ColourTrack):
    """A camera showing one still picture (RGB), centred on a dark 640x480 frame."""

    def __init__(self, picture: np.ndarray, fps: int = 30) -> None:
        super().__init__((20, 20, 20), 640, 480, fps)
        height, width = picture.shape[:2]
        top, left = (480 - height) // 2, (640 - width) // 2
        self._image[top:top + height, left:left + width] = picture[:480, :640]


def face_photo() -> np.ndarray:
    """A photograph of a person (Eileen Collins, from scikit-image's bundled data)."""
    from skimage import data

    return data.astronaut()[:480]
