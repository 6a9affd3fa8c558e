"""The recognition queue: finals always, first; partials only while fresh, drops counted."""

from __future__ import annotations

import threading
import time

import numpy as np

from transcription.engine import Segment
from transcription.scheduler import RecognitionScheduler, Request


class GatedEngine:
    """A real engine's shape whose calls wait for the test to open a gate."""

    language = "en"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started: list[tuple[str, bool]] = []
        self.calls: list[tuple[str, bool]] = []

    def transcribe(self, audio: np.ndarray, *, final: bool) -> list[Segment]:
        self.started.append((f"{audio[0]:.0f}", final))
        self.gate.wait(5)
        tag = f"{audio[0]:.0f}"
        self.calls.append((tag, final))
        return [Segment(0.0, len(audio) / 16000, tag, 1.0)]


def request(stream: str, tag: int, final: bool, results: list) -> Request:
    return Request(stream, np.full(1600, tag, np.float32), final,
                   lambda segments: results.append((stream, tag, final, segments)))


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_finals_go_first_and_a_newer_partial_replaces_a_waiting_one():
    engine = GatedEngine()
    scheduler = RecognitionScheduler(engine, workers=1)
    results: list = []
    try:
        scheduler.submit(request("busy", 0, True, results))  # occupies the worker
        wait_until(lambda: scheduler.metrics()["finals_waiting"] == 0)
        scheduler.submit(request("ann", 1, False, results))
        scheduler.submit(request("ann", 2, False, results))  # replaces 1
        scheduler.submit(request("bob", 3, False, results))
        scheduler.submit(request("bob", 4, True, results))
        scheduler.submit(request("ann", 5, True, results))
        engine.gate.set()
        wait_until(lambda: len(results) == 6)
    finally:
        scheduler.close()
    assert ("ann", 1, False, None) in results  # told it was dropped
    assert engine.calls == [("0", True), ("4", True), ("5", True), ("2", False), ("3", False)]
    metrics = scheduler.metrics()
    assert metrics["partials_dropped"] == 1 and metrics["finals_done"] == 3 and metrics["partials_done"] == 2


def test_partials_never_take_the_last_free_worker():
    engine = GatedEngine()
    scheduler = RecognitionScheduler(engine, workers=2)
    results: list = []
    try:
        for tag, stream in enumerate(("ann", "bob", "cy")):
            scheduler.submit(request(stream, tag, False, results))
        wait_until(lambda: len(engine.started) == 1)
        time.sleep(0.2)
        assert len(engine.started) == 1  # the second worker stays free for finals...
        scheduler.submit(request("dee", 7, True, results))
        wait_until(lambda: len(engine.started) == 2)  # ...and a final gets it at once
        assert engine.started[1] == ("7", True)
        engine.gate.set()
        wait_until(lambda: len(results) == 4)
    finally:
        scheduler.close()


def test_closing_finishes_queued_finals_and_drops_partials():
    engine = GatedEngine()
    scheduler = RecognitionScheduler(engine, workers=1)
    results: list = []
    scheduler.submit(request("busy", 0, True, results))
    wait_until(lambda: scheduler.metrics()["finals_waiting"] == 0)
    for tag in range(1, 4):
        scheduler.submit(request(f"s{tag}", tag, True, results))
    scheduler.submit(request("s9", 9, False, results))
    closer = threading.Thread(target=scheduler.close)
    closer.start()
    engine.gate.set()
    closer.join(10)
    finals = [r for r in results if r[2]]
    assert [r[1] for r in finals] == [0, 1, 2, 3] and all(r[3] for r in finals)
    assert ("s9", 9, False, None) in results


def test_an_engine_error_is_delivered_as_none_and_counted():
    class Broken:
        language = "en"

        def transcribe(self, audio, *, final):
            raise RuntimeError("out of memory")

    scheduler = RecognitionScheduler(Broken(), workers=1)
    results: list = []
    scheduler.submit(request("ann", 1, True, results))
    wait_until(lambda: results)
    scheduler.close()
    assert results == [("ann", 1, True, None)] and scheduler.metrics()["failures"] == 1
