"""AudioTap: the one decode of a published microphone, on a thread of its own.

The event loop only drops each Opus payload into a lock-free queue; decoding, measuring and
resampling happen on the tap's thread, and nothing comes back to the loop per frame (aiortc's
own decoder hands every frame back through the loop, which cost a fifth of a saturated server's
loop). Observers run on the tap's thread and must be thread-safe.
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
# What speech recognition and voice activity detection take.
SPEECH_RATE = 16000

# (level in -dBov, media time in seconds of the packet it came from)
LevelObserver = Callable[[int, float], None]
# (float32 mono samples at SPEECH_RATE, media time of the packet they came from)
SpeechObserver = Callable[[np.ndarray, float], None]


class AudioTap:
    def __init__(self, name: str) -> None:
        # Set when the packets carry no RFC 6464 level of their own.
        self.on_level: Optional[LevelObserver] = None
        self._speech_observers: tuple[SpeechObserver, ...] = ()
        self._payloads: queue.SimpleQueue[Optional[tuple[bytes, float]]] = queue.SimpleQueue()
        self.frames_decoded = 0
        self.decode_errors = 0
        self._thread = threading.Thread(target=self._run, name=f"audio-tap-{name}", daemon=True)
        self._thread.start()

    def add_speech_observer(self, observer: SpeechObserver) -> None:
        self._speech_observers = (*self._speech_observers, observer)

    def feed(self, payload: bytes, media_time: float) -> None:
        """Called on the event loop for each Opus packet, in arrival order."""
        self._payloads.put((payload, media_time))

    def feed_silence(self, media_time: float) -> None:
        """Silence up to `media_time`, known from the packets' own levels: no decode; speech
        observers get digital silence (they fill the time since the last audio with it)."""
        self._payloads.put((b"", media_time))

    def _run(self) -> None:
        decoder = av.CodecContext.create("libopus", "r")
        decoder.format = "s16"
        decoder.layout = "mono"
        decoder.sample_rate = SAMPLE_RATE
        # libopus always decodes at 48 kHz here; speech takes 16 kHz float.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SPEECH_RATE)
        silence = np.zeros(SPEECH_RATE // 50, np.float32)
        while (item := self._payloads.get()) is not None:
            payload, media_time = item
            if not payload:
                for observer in self._speech_observers:
                    observer(silence, media_time)
                continue
            try:
                frames = decoder.decode(av.Packet(payload))
            except av.error.FFmpegError:
                self.decode_errors += 1
                continue
            for frame in frames:
                self.frames_decoded += 1
                on_level, speech_observers = self.on_level, self._speech_observers
                try:
                    if on_level is not None:
                        on_level(level_dbov(frame.to_ndarray().reshape(-1)), media_time)
                    if speech_observers:
                        for resampled in resampler.resample(frame):
                            speech = resampled.to_ndarray().reshape(-1)
                            for observer in speech_observers:
                                observer(speech, media_time)
                except Exception:
                    logger.exception("audio observer failed")

    def close(self) -> None:
        """Stops the thread once it has drained what it was fed; does not block the loop."""
        self._payloads.put(None)
