"""Garbage collection for a process that forwards media.

With CPython's defaults a young collection runs every 700 net allocations, so objects that
live a second or two (packets in flight, timers, negotiation state) were promoted until the
oldest generation filled, and then a full pass walked every object of the class (~0.35 s at
1 + 30 on a busy core) while no packet was forwarded: several a minute, the event loop's lag p99.

Here young collections run every 50,000 net allocations (such objects are freed by reference
counting before one sees them), what the process built to start is frozen out of the
collector's sight, and full passes run when they are needed: a participant who leaves leaves
its peer connections behind as reference cycles only a full pass frees, so one runs at most
once a minute, and only after someone left.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Optional

from media import SFU

THRESHOLDS = (50_000, 20, 10)
AFTER_DEPARTURES_INTERVAL_S = 60.0


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)


def freeze_startup_objects() -> None:
    """What the process built to start (modules, models, the app) lives as long as it does."""
    gc.collect()
    gc.freeze()


class CollectAfterDepartures:
    def __init__(self, sfu: SFU, interval_s: float = AFTER_DEPARTURES_INTERVAL_S) -> None:
        self._sfu = sfu
        self._interval_s = interval_s
        self._task: Optional[asyncio.Task[None]] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        present: set[str] = set()
        while True:
            await asyncio.sleep(self._interval_s)
            before, present = present, {p.sid for p in self._sfu.participants()}
            if before - present:
                gc.collect()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
