"""Full garbage collections run after someone left, once per departure, and not otherwise; what
they free goes back to the system."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from types import SimpleNamespace

import pytest

from server import garbage
from server.garbage import CollectAfterDepartures


class Rooms:
    """Stands in for the SFU: who is in a room now; counts the collector's looks."""

    def __init__(self) -> None:
        self.present: set[str] = set()
        self.looks = 0

    def participants(self) -> list[SimpleNamespace]:
        self.looks += 1
        return [SimpleNamespace(sid=sid) for sid in self.present]

    async def looked_at(self, times: int = 1) -> None:
        until = self.looks + times
        while self.looks < until:
            await asyncio.sleep(0.01)


async def test_a_full_collection_follows_a_departure_and_only_a_departure(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    monkeypatch.setattr(garbage, "release_free_memory", lambda: collected.append(-1))
    rooms = Rooms()
    collector = CollectAfterDepartures(rooms, interval_s=0.02)  # type: ignore[arg-type]
    collector.start()
    try:
        rooms.present = {"PA_sam", "PA_kim"}
        await rooms.looked_at(2)
        rooms.present.add("PA_lee")  # a join alone leaves nothing to free
        await rooms.looked_at(2)
        assert collected == []
        rooms.present.discard("PA_kim")
        await rooms.looked_at(1)
        assert collected == [2, -1]  # collected, then handed back
        await rooms.looked_at(3)
        assert collected == [2, -1]  # once for that departure, not on every look after it
    finally:
        await collector.close()


# A process's heap with holes: two blocks in three freed, among the third that lives on.
HOLES = """
import os
from server.garbage import release_free_memory
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
blocks = [bytearray(size) for _ in range(8000) for size in (700, 1500, 2500, 4500)]
del blocks[1::3], blocks[1::2]
before = rss_mb()
release_free_memory()
print(before - rss_mb())
"""


@pytest.mark.skipif(garbage._GLIBC is None, reason="not glibc: no malloc_trim")
def test_memory_freed_among_what_lives_on_goes_back_to_the_system() -> None:
    released = subprocess.run([sys.executable, "-c", HOLES], capture_output=True, text=True, check=True)
    assert float(released.stdout) > 5.0, released.stdout  # MB of the ~20 freed


# Threads allocating at the same time, outside the GIL (as decoders do): how many malloc arenas
# glibc made for them (malloc_info's <heap> elements).
CONTENDING = """
import ctypes, sys, tempfile, threading
from server import garbage
if sys.argv[1] == "limited":
    garbage.limit_malloc_arenas()
libc = garbage._GLIBC
libc.malloc.restype = libc.fopen.restype = ctypes.c_void_p
libc.free.argtypes = libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
def allocate():
    for _ in range(20000):
        libc.free(libc.malloc(4096))
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with tempfile.NamedTemporaryFile(suffix=".xml") as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(report.name).read().count("<heap nr="))
"""


@pytest.mark.skipif(garbage._GLIBC is None, reason="not glibc: no mallopt")
def test_threads_share_two_malloc_arenas() -> None:
    def arenas(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", CONTENDING, mode], capture_output=True,
                             text=True, check=True)
        return int(run.stdout)

    assert arenas("limited") <= garbage.MALLOC_ARENAS
    assert arenas("default") > garbage.MALLOC_ARENAS  # the test contends enough to tell
