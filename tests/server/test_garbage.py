"""Full garbage collections run after someone left, once per departure, and not otherwise."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace

import pytest

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
        assert collected == [2]
        await rooms.looked_at(3)
        assert collected == [2]  # once for that departure, not on every look after it
    finally:
        await collector.close()
