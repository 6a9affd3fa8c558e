"""Garbage collection for a process that forwards media.

With CPython's defaults a young collection runs every 700 net allocations, so objects that
live a second or two (packets in flight, timers, negotiation state) were promoted until the
oldest generation filled, and then a full pass walked every object of the class (~0.35 s at
1 + 30 on a busy core) while no packet was forwarded: several a minute, the event loop's lag p99.

Here young collections run every 50,000 net allocations (such objects are freed by reference
counting before one sees them), what the process built to start is frozen out of the
collector's sight, and full passes run when they are needed: a participant who leaves leaves
its peer connections behind as reference cycles only a full pass frees, so one runs at most
once a minute, and only after someone left. What it freed then goes back to the system.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
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


# glibc's mallopt parameter, and how many malloc arenas the process's threads share.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def _glibc() -> Optional[ctypes.CDLL]:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    # musl has neither: nothing to tune or trim this way.
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_GLIBC = _glibc()


def limit_malloc_arenas() -> None:
    """Let the threads share two malloc arenas instead of up to eight per core.

    Each audio tap is a thread of its own, one per microphone, and each participant who comes
    and goes leaves one behind for the next. glibc gives threads that contend their own
    arena, each keeping the holes its threads' frees leave: the soak's RSS crept ~1.7 MB per
    10 minutes in those arenas while CPython's blocks and the main heap stayed level.
    """
    if _GLIBC is not None:
        _GLIBC.mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim).

    That heap never shrinks by itself: what a departed participant held (its connections'
    OpenSSL and libsrtp state, CPython's larger objects) is freed into holes among what lives
    on, and the process's RSS stays at the most the class ever held at once, one step up
    whenever more people overlap than before (a reconnect while the crashed one lingers). After
    a full collection has freed a departure, RSS comes back to what is in use: it tells a leak
    from a peak. ~10 ms for a heap of 100 MB with holes.
    """
    if _GLIBC is not None:
        _GLIBC.malloc_trim(0)


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
                release_free_memory()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
