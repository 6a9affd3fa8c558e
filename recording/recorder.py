"""TrackRecorder: one published track written to disk as it arrives, never decoded.

On the event loop, packets are put back in sequence order (a short reorder window: a NACKed
packet's retransmission usually arrives within it), depayloaded and assembled into frames: one
Opus packet is one frame; a video frame is every packet of one RTP timestamp, complete when the
marker bit comes with no gap. A video file starts on a keyframe; after a loss it skips to the
next keyframe (asking the publisher for one). Frames go to the class's writer thread, which muxes
them with PyAV:
Opus → Ogg, VP8 → WebM (live mode: clusters as they come), H.264 → MPEG-TS. All three stay
playable up to their last written frames if the process dies.
"""

from __future__ import annotations

import fractions
import logging
import queue
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import av
from aiortc.codecs import depayload
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

logger = logging.getLogger(__name__)

# mime type → (container format, file extension, PyAV codec name)
CONTAINERS = {
    "audio/opus": ("ogg", "ogg", "libopus"),
    "video/vp8": ("webm", "webm", "vp8"),
    "video/h264": ("mpegts", "ts", "h264"),
}
CONTAINER_OPTIONS = {"webm": {"live": "1"}, "ogg": {"page_duration": "200000"}}
REORDER_WINDOW = 16
# A video frame larger than this many packets is abandoned (corrupt or lost marker).
MAX_FRAME_PACKETS = 1000
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


def recordable(codec: RTCRtpCodecParameters) -> bool:
    return codec.mimeType.lower() in CONTAINERS


def file_extension(codec: RTCRtpCodecParameters) -> str:
    return CONTAINERS[codec.mimeType.lower()][1]


@dataclass(frozen=True)
class Frame:
    data: bytes
    # RTP timestamp ticks since the track's first recorded frame.
    pts: int
    keyframe: bool


class PacketOrder:
    """Hands packets on in sequence order; waits up to REORDER_WINDOW packets for a missing one."""

    def __init__(self) -> None:
        self._expected: Optional[int] = None
        self._held: dict[int, RtpPacket] = {}

    def push(self, packet: RtpPacket) -> list[tuple[RtpPacket, bool]]:
        """Packets now in order, each with whether a gap came before it."""
        seq = packet.sequence_number
        if self._expected is None:
            self._expected = seq
        if (seq - self._expected) % SEQ_MOD >= SEQ_MOD // 2:
            return []  # older than what was handed on: a late duplicate or retransmission
        self._held[seq] = packet
        ready: list[tuple[RtpPacket, bool]] = []
        gap = False
        while True:
            if self._expected in self._held:
                ready.append((self._held.pop(self._expected), gap))
                gap = False
                self._expected = (self._expected + 1) % SEQ_MOD
            elif len(self._held) > REORDER_WINDOW:
                gap = True
                self._expected = (self._expected + 1) % SEQ_MOD
            else:
                return ready


def opus_head(channels: int = 2, rate: int = 48000) -> bytes:
    """RFC 7845's identification header; WebRTC's Opus is 48 kHz, signalled stereo."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 312, rate, 0, 0)


class RecordingWriter:
    """The muxing thread of one recorded class, for all its tracks: a thread per track cost a
    third of a core at 1 + 30 in GIL hand-offs alone; one thread drains every track's frames."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Optional[tuple["TrackFile", Optional[Frame]]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"record-{name}", daemon=True)
        self._thread.start()

    def submit(self, file: "TrackFile", frame: Optional[Frame]) -> None:
        """`frame` None: close that file once what was queued before is written."""
        self._jobs.put((file, frame))

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            file, frame = job
            if frame is None:
                file.finish()
            else:
                file.mux(frame)

    def close(self) -> None:
        """Stops the thread after the jobs already queued; does not block."""
        self._jobs.put(None)


class TrackFile:
    """One growing file; its frames are muxed on the class's RecordingWriter thread."""

    def __init__(self, path: Path, codec: RTCRtpCodecParameters, writer: RecordingWriter) -> None:
        self.path = path
        self.codec = codec
        self.frames_written = 0
        self.last_pts = 0
        self._writer = writer
        self._time_base = fractions.Fraction(1, codec.clockRate)
        self._container: Optional[av.container.OutputContainer] = None
        self._stream: Optional[av.stream.Stream] = None
        self._failed = False
        self._done = threading.Event()

    def write(self, frame: Frame) -> None:
        self._writer.submit(self, frame)

    def _open(self, first: Frame) -> None:
        container_format, _, codec_name = CONTAINERS[self.codec.mimeType.lower()]
        # Every packet reaches the file at once (not a 32 KiB buffer later), and Ogg pages close
        # every 200 ms (not every second): a crash loses at most that.
        options = {"flush_packets": "1", **CONTAINER_OPTIONS.get(container_format, {})}
        container = av.open(str(self.path), mode="w", format=container_format, options=options)
        stream: av.stream.Stream
        if self.codec.mimeType.lower() == "audio/opus":
            audio = container.add_stream(codec_name, rate=self.codec.clockRate)
            assert isinstance(audio, av.audio.stream.AudioStream)
            audio.codec_context.layout = "stereo"
            audio.codec_context.extradata = opus_head()
            stream = audio
        else:
            video = container.add_stream(codec_name, rate=30)
            assert isinstance(video, av.video.stream.VideoStream)
            video.width, video.height = _dimensions(self.codec, first.data)
            video.pix_fmt = "yuv420p"
            stream = video
        stream.time_base = self._time_base
        self._container, self._stream = container, stream

    def mux(self, frame: Frame) -> None:
        """On the writer's thread."""
        if self._failed:
            return
        try:
            if self._container is None:
                self._open(frame)
            assert self._container is not None and self._stream is not None
            packet = av.Packet(frame.data)
            packet.stream = self._stream
            packet.pts = packet.dts = frame.pts
            # RTP clock ticks; the muxer rescales to its own time base (WebM's is 1 ms).
            packet.time_base = self._time_base
            packet.is_keyframe = frame.keyframe
            self._container.mux(packet)
            self.frames_written += 1
            self.last_pts = frame.pts
        except Exception:
            logger.exception("recording %s failed; the file keeps what was written", self.path.name)
            self._failed = True

    def finish(self) -> None:
        """On the writer's thread."""
        try:
            if self._container is not None:
                self._container.close()
        except Exception:
            logger.exception("recording %s: could not close the file", self.path.name)
        finally:
            self._done.set()

    @property
    def duration_s(self) -> float:
        return self.last_pts / self.codec.clockRate

    def close(self) -> None:
        """Writes what is queued, then closes the file; does not block."""
        self._writer.submit(self, None)

    def wait_closed(self, timeout: float) -> bool:
        return self._done.wait(timeout)


def _dimensions(codec: RTCRtpCodecParameters, keyframe: bytes) -> tuple[int, int]:
    if codec.mimeType.lower() == "video/vp8" and len(keyframe) >= 10 and keyframe[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", keyframe[6:10])
        return width & 0x3FFF, height & 0x3FFF
    return 640, 480  # H.264 carries its size in-band (SPS); the muxer only needs a hint


class TrackRecorder:
    """Packets of one publication (on the event loop) → frames → its TrackFile."""

    def __init__(self, path: Path, codec: RTCRtpCodecParameters, writer: RecordingWriter,
                 is_keyframe_start: Callable[[RtpPacket], bool], request_keyframe: Callable[[], None]) -> None:
        self.file = TrackFile(path, codec, writer)
        self._codec = codec
        self._video = codec.mimeType.lower().startswith("video/")
        self._is_keyframe_start = is_keyframe_start
        self._request_keyframe = request_keyframe
        self._order = PacketOrder()
        self._first_timestamp: Optional[int] = None
        # The RTP timestamp of the frame being assembled (meaningful while it has parts).
        self._frame_timestamp = 0
        self._frame_parts: list[bytes] = []
        self._frame_keyframe = False
        self._waiting_for_keyframe = self._video
        # Unix time of the first frame written (a video waits for its first keyframe).
        self.first_frame_at: Optional[float] = None
        self.closed = False
        if self._video:
            request_keyframe()

    def on_packet(self, packet: RtpPacket) -> None:
        if self.closed:
            return
        for ordered, gap in self._order.push(packet):
            if self._video:
                self._video_packet(ordered, gap)
            else:
                self._emit(depayload(self._codec, ordered.payload), ordered.timestamp, True)

    def _video_packet(self, packet: RtpPacket, gap: bool) -> None:
        if gap or (self._frame_parts and packet.timestamp != self._frame_timestamp):
            # A lost packet, or a frame whose marker never came: drop it and resynchronise.
            self._frame_parts = []
            if gap:
                self._waiting_for_keyframe = True
                self._request_keyframe()
        if not self._frame_parts:
            keyframe = self._is_keyframe_start(packet)
            if self._waiting_for_keyframe and not keyframe:
                return
            self._waiting_for_keyframe = False
            self._frame_timestamp = packet.timestamp
            self._frame_keyframe = keyframe
        self._frame_parts.append(depayload(self._codec, packet.payload))
        if len(self._frame_parts) > MAX_FRAME_PACKETS:
            self._frame_parts = []
            self._waiting_for_keyframe = True
            return
        if packet.marker:
            self._emit(b"".join(self._frame_parts), packet.timestamp, self._frame_keyframe)
            self._frame_parts = []

    def _emit(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        if not data:
            return
        if self._first_timestamp is None:
            self._first_timestamp = timestamp
            self.first_frame_at = time.time()
        self.file.write(Frame(data, (timestamp - self._first_timestamp) % TS_MOD, keyframe))

    def close(self) -> None:
        self.closed = True
        self.file.close()
