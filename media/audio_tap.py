"""AudioTap: the one decode of a published microphone, on a thread of its own.

The event loop only drops each Opus payload into a lock-free queue; decoding and measuring
happen on the tap's thread, and nothing comes back to the loop per frame (aiortc's own decoder
hands every frame back through the loop, which cost a fifth of a saturated server's loop).
Observers run on the tap's thread and must be thread-safe.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Optional

import av
import numpy as np

from engagement.speaking import level_dbov

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000

# (level in -dBov, media time in seconds of the packet it came from)
LevelObserver = Callable[[int, float], None]


class AudioTap:
    def __init__(self, name: str, on_level: LevelObserver) -> None:
        self._on_level = on_level
        self._payloads: queue.SimpleQueue[Optional[tuple[bytes, float]]] = queue.SimpleQueue()
        self.frames_decoded = 0
        self.decode_errors = 0
        self._thread = threading.Thread(target=self._run, name=f"audio-tap-{name}", daemon=True)
        self._thread.start()

    def feed(self, payload: bytes, media_time: float) -> None:
        """Called on the event loop for each Opus packet, in arrival order."""
        self._payloads.put((payload, media_time))

    def _run(self) -> None:
        decoder = av.CodecContext.create("libopus", "r")
        decoder.format = "s16"
        decoder.layout = "mono"
        decoder.sample_rate = SAMPLE_RATE
        while (item := self._payloads.get()) is not None:
            payload, media_time = item
            try:
                frames = decoder.decode(av.Packet(payload))
            except av.error.FFmpegError:
                self.decode_errors += 1
                continue
            for frame in frames:
                self.frames_decoded += 1
                pcm: np.ndarray = frame.to_ndarray().reshape(-1)
                try:
                    self._on_level(level_dbov(pcm), media_time)
                except Exception:
                    logger.exception("audio level observer failed")

    def close(self) -> None:
        """Stops the thread once it has drained what it was fed; does not block the loop."""
        self._payloads.put(None)
