"""Speech recognition on other machines: requests and replies through Redis Streams.

When one node's cores are not enough, `aula serve --asr-remote` sends each recognition to
Redis instead of its own threads, and any number of `aula asr-worker` processes (on machines
with the cores or GPUs) serve them through consumer groups. The node keeps everything else: VAD,
utterances, partial/final logic, events and files; a worker is a pure function, audio in,
segments out.

- `aula:asr:finals` and `aula:asr:partials` (group `asr`): a worker always takes a final first.
  A final a worker took and never answered (it died) is claimed by another after
  `claim_idle_s`: finals are never lost. A partial older than `partial_max_age_s` when a worker
  gets to it is answered "dropped" without decoding (partials are only worth having fresh).
- `aula:asr:replies:<node>`: each node reads its own replies.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import asdict
from typing import Any, Optional

import numpy as np
import redis
from redis.exceptions import ResponseError

from .engine import Segment, SpeechEngine, Word
from .scheduler import Request

logger = logging.getLogger(__name__)

FINALS = "aula:asr:finals"
PARTIALS = "aula:asr:partials"
GROUP = "asr"
REPLIES = "aula:asr:replies:{node}"
# Bounds on what waits in Redis (approximate trimming): about an hour of a busy school's finals.
MAX_REQUESTS = 20_000
MAX_REPLIES = 10_000


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _audio(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767


def _segments_to_json(segments: list[Segment]) -> str:
    return json.dumps([asdict(segment) for segment in segments])


def _segments_from_json(raw: str) -> list[Segment]:
    return [Segment(**{**item, "words": tuple(Word(**word) for word in item["words"])})
            for item in json.loads(raw)]


class RemoteScheduler:
    """The node side: the RecognitionScheduler's interface over Redis Streams."""

    def __init__(self, redis_url: str) -> None:
        self.node = secrets.token_hex(6)
        self._replies = REPLIES.format(node=self.node)
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self._lock = threading.Lock()
        self._waiting: dict[str, Request] = {}
        self._stats = {"finals_sent": 0, "partials_sent": 0, "finals_done": 0, "partials_done": 0,
                       "partials_dropped": 0, "failures": 0}
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read_replies, name="asr-replies", daemon=True)
        self._reader.start()

    def submit(self, request: Request) -> None:
        job = secrets.token_hex(8)
        with self._lock:
            self._waiting[job] = request
            self._stats["finals_sent" if request.final else "partials_sent"] += 1
        try:
            self._redis.xadd(FINALS if request.final else PARTIALS, {
                "job": job, "reply_to": self._replies, "stream": request.stream,
                "final": int(request.final), "sent_at": time.time(), "audio": _pcm(request.audio),
            }, maxlen=MAX_REQUESTS, approximate=True)
        except redis.RedisError:
            logger.exception("could not queue a recognition")
            with self._lock:
                self._waiting.pop(job, None)
                self._stats["failures"] += 1
            request.deliver(None)

    def _read_replies(self) -> None:
        last = "$"
        while not self._closed.is_set():
            try:
                response = self._redis.xread({self._replies: last}, count=100, block=500)
            except redis.RedisError:
                logger.warning("recognition replies: Redis unreachable, retrying")
                self._closed.wait(1.0)
                continue
            for _, entries in response or ():
                for entry_id, fields in entries:
                    last = entry_id
                    self._deliver(fields)

    def _deliver(self, fields: dict[bytes, bytes]) -> None:
        job = fields[b"job"].decode()
        with self._lock:
            request = self._waiting.pop(job, None)
            if request is None:
                return  # answered twice (claimed after a slow worker finished after all)
            outcome = fields[b"outcome"].decode()
            key = {"ok": "finals_done" if request.final else "partials_done",
                   "dropped": "partials_dropped"}.get(outcome, "failures")
            self._stats[key] += 1
        segments = _segments_from_json(fields[b"segments"].decode()) if outcome == "ok" else None
        try:
            request.deliver(segments)
        except Exception:
            logger.exception("a transcript consumer failed")

    def metrics(self) -> dict[str, object]:
        with self._lock:
            waiting = list(self._waiting.values())
            return {**self._stats, "mode": "remote", "node": self.node,
                    "finals_waiting": sum(r.final for r in waiting),
                    "partials_waiting": sum(not r.final for r in waiting)}

    def close(self) -> None:
        self._closed.set()
        self._reader.join(timeout=5)
        with self._lock:
            partials = [job for job, r in self._waiting.items() if not r.final]
            dropped = [self._waiting.pop(job) for job in partials]
        for request in dropped:
            request.deliver(None)
        self._redis.close()


class AsrWorker:
    """One recognition loop of `aula asr-worker`; run several threads of it on one engine."""

    def __init__(self, engine: SpeechEngine, redis_url: str, name: str,
                 claim_idle_s: float = 30.0, partial_max_age_s: float = 2.0) -> None:
        self._engine = engine
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        self.name = name
        self._claim_idle_ms = int(claim_idle_s * 1000)
        self._partial_max_age_s = partial_max_age_s
        self.handled = 0

    def ensure_groups(self) -> None:
        for stream in (FINALS, PARTIALS):
            try:
                self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run(self, stop: threading.Event) -> None:
        self.ensure_groups()
        while not stop.is_set():
            try:
                self.step()
            except redis.RedisError:
                logger.warning("asr worker %s: Redis unreachable, retrying", self.name)
                stop.wait(1.0)

    def step(self) -> bool:
        """Serve one request: a stale final first, then a new final, then a partial."""
        stream, entry = self._take()
        if entry is None:
            return False
        entry_id, fields = entry
        self._serve(fields)
        self._redis.xack(stream, GROUP, entry_id)
        self.handled += 1
        return True

    def _take(self) -> tuple[str, Optional[tuple[bytes, dict[bytes, bytes]]]]:
        claimed = self._redis.xautoclaim(FINALS, GROUP, self.name, min_idle_time=self._claim_idle_ms,
                                         start_id="0-0", count=1)
        if claimed[1]:
            return FINALS, claimed[1][0]
        for stream, block in ((FINALS, None), (PARTIALS, 200)):
            response = self._redis.xreadgroup(GROUP, self.name, {stream: ">"}, count=1, block=block)
            for _, entries in response or ():
                for entry in entries:
                    return stream, entry
        return PARTIALS, None

    def _serve(self, fields: dict[bytes, bytes]) -> None:
        if not fields:
            return  # trimmed away while pending
        final = fields[b"final"] == b"1"
        reply: dict[str, Any] = {"job": fields[b"job"], "outcome": "ok", "segments": "[]"}
        if not final and time.time() - float(fields[b"sent_at"]) > self._partial_max_age_s:
            reply["outcome"] = "dropped"
        else:
            try:
                segments = self._engine.transcribe(_audio(fields[b"audio"]), final=final)
                reply["segments"] = _segments_to_json(segments)
            except Exception:
                logger.exception("recognition failed")
                reply["outcome"] = "failed"
        self._redis.xadd(fields[b"reply_to"].decode(), reply, maxlen=MAX_REPLIES, approximate=True)
