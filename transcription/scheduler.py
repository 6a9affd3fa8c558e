"""RecognitionScheduler: the node's bounded queue in front of the engine.

Finals are never dropped and always go first. Partials are worth having only while fresh: each
stream has at most one waiting (a newer one replaces it), and one runs only when no final is
waiting, the stream that waited longest first. Partials never take the last free worker, so a
final that arrives finds one (with a single worker, they take it only while it is idle). What
was replaced is counted, so falling behind shows in the metrics, not in caption latency.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

import numpy as np

from .engine import Segment, SpeechEngine

logger = logging.getLogger(__name__)

# Segments, or None: a partial that was dropped, or a decode that failed.
Delivery = Callable[[Optional[list[Segment]]], None]


@dataclass
class Request:
    stream: str
    audio: np.ndarray
    final: bool
    deliver: Delivery
    submitted_at: float = field(default_factory=time.monotonic)


class Recognizer(Protocol):
    """Where a SpeakerStream sends its decodes: this node's RecognitionScheduler, or a
    RemoteScheduler (transcription/remote.py) in front of `aula asr-worker`s."""

    def submit(self, request: Request) -> None: ...

    def metrics(self) -> dict[str, object]: ...

    def close(self) -> None: ...


@dataclass
class SchedulerStats:
    finals_done: int = 0
    partials_done: int = 0
    partials_dropped: int = 0
    failures: int = 0
    audio_s: float = 0.0
    busy_s: float = 0.0
    # Queueing + decoding of finals, the latest few hundred.
    final_waits: deque[float] = field(default_factory=lambda: deque(maxlen=500))

    def as_dict(self, finals_waiting: int, partials_waiting: int) -> dict[str, object]:
        waits = sorted(self.final_waits)
        return {
            "finals_done": self.finals_done, "partials_done": self.partials_done,
            "partials_dropped": self.partials_dropped, "failures": self.failures,
            "finals_waiting": finals_waiting, "partials_waiting": partials_waiting,
            "real_time_factor": round(self.busy_s / self.audio_s, 3) if self.audio_s else None,
            "final_wait_p50_s": round(waits[len(waits) // 2], 3) if waits else None,
            "final_wait_p95_s": round(waits[int(len(waits) * 0.95)], 3) if waits else None,
        }


class RecognitionScheduler:
    def __init__(self, engine: SpeechEngine, workers: int, *, owns_engine: bool = False) -> None:
        """`owns_engine`: the engine was made for this scheduler, which closes it at `close()`."""
        self.engine = engine
        self._owns_engine = owns_engine
        self.stats = SchedulerStats()
        self._partial_slots = max(1, workers - 1)
        self._partials_running = 0
        self._finals: deque[Request] = deque()
        self._partials: dict[str, Request] = {}
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"asr-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, request: Request) -> None:
        replaced = None
        with self._ready:
            if self._closed:
                replaced = request
            elif request.final:
                self._finals.append(request)
            else:
                replaced = self._partials.pop(request.stream, None)
                self._partials[request.stream] = request
                if replaced is not None:
                    self.stats.partials_dropped += 1
            self._ready.notify()
        if replaced is not None:
            replaced.deliver(None)

    def _partial_may_run(self) -> bool:
        return bool(self._partials) and self._partials_running < self._partial_slots

    def _next(self) -> Optional[Request]:
        with self._ready:
            while not self._closed and not self._finals and not self._partial_may_run():
                self._ready.wait()
            if self._finals:
                return self._finals.popleft()
            if self._partial_may_run():
                oldest = min(self._partials.values(), key=lambda r: r.submitted_at)
                self._partials_running += 1
                return self._partials.pop(oldest.stream)
            return None

    def _work(self) -> None:
        while (request := self._next()) is not None:
            started = time.monotonic()
            try:
                segments: Optional[list[Segment]] = self.engine.transcribe(request.audio,
                                                                           final=request.final)
            except Exception:
                logger.exception("speech recognition failed")
                segments = None
            done = time.monotonic()
            with self._ready:
                if not request.final:
                    self._partials_running -= 1
                    self._ready.notify()
                stats = self.stats
                stats.busy_s += done - started
                stats.audio_s += len(request.audio) / 16000
                if segments is None:
                    stats.failures += 1
                elif request.final:
                    stats.finals_done += 1
                    stats.final_waits.append(done - request.submitted_at)
                else:
                    stats.partials_done += 1
            try:
                request.deliver(segments)
            except Exception:
                logger.exception("a transcript consumer failed")

    def metrics(self) -> dict[str, object]:
        with self._ready:
            metrics = self.stats.as_dict(len(self._finals), len(self._partials))
        engine_metrics = getattr(self.engine, "metrics", None)
        if callable(engine_metrics):
            metrics["engine"] = engine_metrics()
        return metrics

    def close(self) -> None:
        """Finishes the finals already queued, drops waiting partials, stops the workers (and
        closes the engine if it was handed over with `owns_engine`)."""
        with self._ready:
            self._closed = True
            dropped = list(self._partials.values())
            self._partials.clear()
            self._ready.notify_all()
        for request in dropped:
            request.deliver(None)
        for thread in self._threads:
            thread.join(timeout=30)
        close = getattr(self.engine, "close", None)
        if self._owns_engine and callable(close):
            close()
