"""VideoTap: an occasional look at a camera, for engagement, at a bounded cost.

Nothing happens per packet until a sample is due. Then the tap asks the publisher for a
keyframe (through the publication's rate-limited requester), collects the packets of the next
keyframe, and hands them to the node's FrameWorker: one thread that depayloads, decodes and
passes on that one frame, for every camera (samples are rare; a thread each would cost memory
for nothing). A keyframe decodes on its own, so no decoder state is kept between samples.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Literal, Optional

import av
import numpy as np
from aiortc.codecs import depayload
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

logger = logging.getLogger(__name__)

# Decoded grayscale frame → whatever looks at it (runs on the tap's thread).
FrameObserver = Callable[[np.ndarray], None]
DECODERS: dict[str, Literal["vp8", "h264"]] = {"video/vp8": "vp8", "video/h264": "h264"}
# A keyframe that has not completed within this many packets is abandoned (loss).
MAX_FRAME_PACKETS = 400


class FrameWorker:
    """The node's one thread for sampled camera frames: decode, then the tap's observer."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Optional[tuple[RTCRtpCodecParameters, list[RtpPacket],
                                                     FrameObserver]]] = queue.SimpleQueue()
        self.samples = 0
        self.busy_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="video-frames", daemon=True)
        self._thread.start()

    def submit(self, codec: RTCRtpCodecParameters, packets: list[RtpPacket],
               on_frame: FrameObserver) -> None:
        self._jobs.put((codec, packets, on_frame))

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            codec, packets, on_frame = job
            started = time.thread_time()
            try:
                first = packets[0].sequence_number
                in_order = sorted(packets, key=lambda p: (p.sequence_number - first) % (1 << 16))
                data = b"".join(depayload(codec, p.payload) for p in in_order)
                decoder = av.CodecContext.create(DECODERS[codec.mimeType.lower()], "r")
                frames = decoder.decode(av.Packet(data))
                if frames:
                    on_frame(frames[0].to_ndarray(format="gray"))
                    self.samples += 1
            except Exception:
                logger.warning("video frames: could not decode or examine a sample", exc_info=True)
            finally:
                self.busy_seconds += time.thread_time() - started

    def close(self) -> None:
        self._jobs.put(None)


class VideoTap:
    def __init__(self, codec: RTCRtpCodecParameters, interval_s: float,
                 request_keyframe: Callable[[], None], is_keyframe_start: Callable[[RtpPacket], bool],
                 on_frame: FrameObserver, worker: FrameWorker,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._codec = codec
        self._decodable = codec.mimeType.lower() in DECODERS
        self._worker = worker
        self._interval_s = interval_s
        self._request_keyframe = request_keyframe
        self._is_keyframe_start = is_keyframe_start
        self._on_frame = on_frame
        self._clock = clock
        self._next_sample_at = clock()
        self._collecting: Optional[list[RtpPacket]] = None

    def on_packet(self, packet: RtpPacket) -> None:
        """Called on the event loop for each packet of the camera."""
        if not self._decodable:
            return
        if self._collecting is None:
            if self._clock() < self._next_sample_at:
                return
            if not self._is_keyframe_start(packet):
                self._request_keyframe()
                return
            self._collecting = []
        self._collecting.append(packet)
        if packet.marker or len(self._collecting) >= MAX_FRAME_PACKETS:
            collected, self._collecting = self._collecting, None
            if packet.marker and _complete(collected):
                self._worker.submit(self._codec, collected, self._on_frame)
                self._next_sample_at = self._clock() + self._interval_s
            # Else a packet was lost (its retransmission comes too late for this frame): the
            # next keyframe is asked for, not a decoder error.


def _complete(packets: list[RtpPacket]) -> bool:
    """Whether `packets` (a frame, the last with the marker) hold every sequence number from
    the first to the last."""
    first, last = packets[0].sequence_number, packets[-1].sequence_number
    span = (last - first) % (1 << 16) + 1
    return len({p.sequence_number for p in packets}) == span == len(packets)
