"""Event-loop lag: how late a timer fires. A busy forwarding loop shows here first; so do the
garbage collector's passes, which stop every thread (timed here too)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Optional

INTERVAL_S = 0.1
# One minute of samples.
WINDOW = 600


class LoopLagMonitor:
    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._lags: deque[float] = deque(maxlen=WINDOW)
        self._task: Optional[asyncio.Task[None]] = None
        # (generation, seconds) of the last collections; a full (generation 2) pass walks every object.
        self._collections: deque[tuple[int, float]] = deque(maxlen=WINDOW)
        self._collection_started: Optional[float] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_started = time.perf_counter()
        elif self._collection_started is not None:
            self._collections.append((info["generation"], time.perf_counter() - self._collection_started))
            self._collection_started = None

    def gc_summary(self) -> dict[str, float]:
        """The last collections: how many, and the longest pause of each kind."""
        full = [s for generation, s in self._collections if generation == 2]
        young = [s for generation, s in self._collections if generation < 2]
        return {"collections": len(self._collections), "full_collections": len(full),
                "full_max_ms": round(max(full, default=0.0) * 1000, 2),
                "young_max_ms": round(max(young, default=0.0) * 1000, 2)}

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self._interval_s)
            self._lags.append(max(0.0, loop.time() - started - self._interval_s))

    def summary(self) -> dict[str, float]:
        if not self._lags:
            return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "samples": 0}
        ordered = sorted(self._lags)
        return {
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2),
            "samples": len(ordered),
        }

    async def close(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def udp_receive_buffer_errors() -> Optional[int]:
    """Datagrams the kernel dropped because a socket's receive buffer was full (host-wide)."""
    try:
        lines = Path("/proc/net/snmp").read_text().splitlines()
    except OSError:
        return None
    udp = [line.split() for line in lines if line.startswith("Udp:")]
    if len(udp) < 2:
        return None
    return int(dict(zip(udp[0][1:], udp[1][1:]))["RcvbufErrors"])
