"""Recognition on `aula asr-worker` processes through Redis Streams: the node's SpeakerStreams
get the same finals, finals survive a worker's death and a gap with no worker at all, and stale
partials are dropped instead of decoded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import redis

from transcription.remote import FINALS, GROUP, PARTIALS, RemoteScheduler
from transcription.scheduler import Request
from transcription.speaker_stream import SpeakerStream, Transcript
from transcription.vad import SileroModel

from .speech import RATE, script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def asr_redis(redis_server) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.delete(FINALS, PARTIALS)
    yield redis_server.url
    client.delete(FINALS, PARTIALS)
    client.close()


@contextmanager
def asr_worker(redis_url: str, model: str, claim_idle_s: float = 30.0) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "asr-worker", "--redis-url", redis_url, "--whisper-model", model,
         "--asr-workers", "1", "--whisper-max-tokens", "8", "--claim-idle", str(claim_idle_s)],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def final_request(tag: float, results: list, done: threading.Event) -> Request:
    def deliver(segments):
        results.append(segments)
        done.set()
    return Request("sam", np.full(RATE, tag, np.float32), True, deliver)


def test_a_worker_process_serves_a_nodes_speaker_streams(asr_redis, whisper_model):
    scheduler = RemoteScheduler(asr_redis)
    finals: list[Transcript] = []
    audio, spoken = script(["The quick brown fox jumps over the lazy dog.", "Water boils at one hundred degrees."])
    with asr_worker(asr_redis, whisper_model):
        stream = SpeakerStream("sam", SileroModel(), scheduler, lambda t: t.final and finals.append(t))
        for first in range(0, len(audio), 320):
            stream.feed(audio[first:first + 320], first / RATE)
        deadline = time.monotonic() + 60
        while len(finals) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    scheduler.close()
    assert [t.utterance for t in sorted(finals, key=lambda t: t.start)] == [1, 2]
    for final, truth in zip(sorted(finals, key=lambda t: t.start), spoken):
        assert abs(final.start - truth.start) <= 0.25 and abs(final.end - truth.end) <= 0.25
    assert scheduler.metrics()["finals_done"] == 2 and stream.finals_pending == 0


def test_finals_wait_in_redis_for_a_worker_and_survive_one_that_died(asr_redis, whisper_model):
    scheduler = RemoteScheduler(asr_redis)
    results: list = []
    done = threading.Event()
    # No worker yet: the final waits in Redis.
    scheduler.submit(final_request(0.1, results, done))
    time.sleep(0.5)
    assert results == [] and scheduler.metrics()["finals_waiting"] == 1
    # A worker takes it and dies before answering: it stays pending under that consumer.
    client = redis.Redis.from_url(asr_redis)
    try:
        client.xgroup_create(FINALS, GROUP, id="0", mkstream=True)
    except redis.ResponseError:
        pass
    taken = client.xreadgroup(GROUP, "dead-worker", {FINALS: ">"}, count=1)
    assert taken and client.xpending(FINALS, GROUP)["pending"] == 1
    # A live worker claims it once it has been idle long enough, and answers.
    with asr_worker(asr_redis, whisper_model, claim_idle_s=1.0):
        assert done.wait(60)
    scheduler.close()
    assert results[0] is not None and client.xpending(FINALS, GROUP)["pending"] == 0
    client.close()


def test_a_partial_that_waited_too_long_is_dropped_not_decoded(asr_redis, whisper_model):
    scheduler = RemoteScheduler(asr_redis)
    outcome: list = []
    done = threading.Event()
    scheduler.submit(Request("sam", np.zeros(RATE, np.float32), False,
                             lambda segments: (outcome.append(segments), done.set())))
    time.sleep(2.5)  # older than the workers' 2 s limit before any worker exists
    with asr_worker(asr_redis, whisper_model):
        assert done.wait(60)
    scheduler.close()
    assert outcome == [None] and scheduler.metrics()["partials_dropped"] == 1
