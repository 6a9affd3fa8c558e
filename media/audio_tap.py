"""AudioTap: the one decode of a published microphone, on a thread of its own.

The event loop only drops each Opus payload into a lock-free queue; decoding, measuring and
resampling happen on the tap's thread, and nothing comes back to the loop per frame (aiortc's
own decoder hands every frame back through the loop, which cost a fifth of a saturated server's
loop). Silence, which needs no decode, wakes no tap's thread: one `SilenceReporter` thread tells
every tap's observers, SILENCE_REPORT_S apart, that it goes on. Observers run on the tap's
thread or the reporter's, one at a time and in media-time order, and must be thread-safe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
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
# How often speech observers hear that a silent microphone's silence goes on (most of a
# class's microphones, most of the time).
SILENCE_REPORT_S = 0.2
# What a silence report hands the speech observers: one 20 ms frame of digital silence.
SILENCE = np.zeros(SPEECH_RATE // 50, np.float32)


class AudioTap:
    def __init__(self, name: str) -> None:
        # Set when the packets carry no RFC 6464 level of their own.
        self.on_level: Optional[LevelObserver] = None
        self._speech_observers: tuple[SpeechObserver, ...] = ()
        self._payloads: queue.SimpleQueue[Optional[tuple[bytes, float]]] = queue.SimpleQueue()
        self.frames_decoded = 0
        self.decode_errors = 0
        # Payloads fed (written by the loop only) and handled (by the tap's thread only): equal
        # when the thread is idle, the one time the silence reporter may speak for it.
        self._fed = 0
        self._handled = 0
        # Media time up to which the packets' own levels said silence (the loop writes it), and
        # up to which the observers have heard, audio or silence (under _observing).
        self._silent_until = float("-inf")
        self._heard_until = float("-inf")
        self._observing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"audio-tap-{name}", daemon=True)
        self._thread.start()
        SILENCE_REPORTER.add(self)

    def add_speech_observer(self, observer: SpeechObserver) -> None:
        self._speech_observers = (*self._speech_observers, observer)

    def feed(self, payload: bytes, media_time: float) -> None:
        """Called on the event loop for each Opus packet, in arrival order."""
        self._fed += 1
        self._payloads.put((payload, media_time))

    def feed_silence(self, media_time: float) -> None:
        """Called on the event loop for a packet whose own level says silence: no decode and
        no wake-up; the silence reporter passes it on (observers get digital silence and fill
        the time since the last audio with it)."""
        self._silent_until = media_time

    def report_silence(self) -> None:
        """From the silence reporter's thread: tell the speech observers the silence goes on,
        unless audio is still queued (it comes first, and its time after this silence's)."""
        until = self._silent_until
        if until <= self._heard_until or self._fed != self._handled or not self._speech_observers:
            return
        with self._observing:
            if until <= self._heard_until or self._closed:
                return
            self._heard_until = until
            for observer in self._speech_observers:
                try:
                    observer(SILENCE, until)
                except Exception:
                    logger.exception("audio observer failed")

    def _run(self) -> None:
        decoder = av.CodecContext.create("libopus", "r")
        decoder.format = "s16"
        decoder.layout = "mono"
        decoder.sample_rate = SAMPLE_RATE
        # libopus always decodes at 48 kHz here; speech takes 16 kHz float.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SPEECH_RATE)
        while (item := self._payloads.get()) is not None:
            payload, media_time = item
            with self._observing:
                self._heard_until = media_time
                self._decode(decoder, resampler, payload, media_time)
            self._handled += 1

    def _decode(self, decoder: av.AudioCodecContext, resampler: av.AudioResampler, payload: bytes,
                media_time: float) -> None:
        try:
            frames = decoder.decode(av.Packet(payload))
        except av.error.FFmpegError:
            self.decode_errors += 1
            return
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
        self._closed = True
        SILENCE_REPORTER.remove(self)
        self._payloads.put(None)


class SilenceReporter:
    """One thread that, every SILENCE_REPORT_S, lets each tap report its silence. A class's
    microphones are mostly silent: a report through each tap's own queue woke N threads five
    times a second, each to take the GIL from the event loop for a few microseconds of work."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._taps: set[AudioTap] = set()
        self._thread: Optional[threading.Thread] = None

    def add(self, tap: AudioTap) -> None:
        with self._lock:
            self._taps.add(tap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audio-silence", daemon=True)
                self._thread.start()

    def remove(self, tap: AudioTap) -> None:
        with self._lock:
            self._taps.discard(tap)

    def _run(self) -> None:
        while True:
            time.sleep(self._interval_s)
            with self._lock:
                taps = tuple(self._taps)
                if not taps:
                    self._thread = None  # the next tap starts another
                    return
            for tap in taps:
                tap.report_silence()


SILENCE_REPORTER = SilenceReporter(SILENCE_REPORT_S)
