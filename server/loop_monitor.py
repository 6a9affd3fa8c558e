"""Event-loop lag: how late a timer fires. A busy forwarding loop shows here first."""

from __future__ import annotations

import asyncio
import statistics
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

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

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
