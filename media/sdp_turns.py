"""SdpTurns: a process's SDP work (offers, answers) one step at a time, so media flows between.

Building or applying a description for a subscriber connection with ~60 m-lines costs aiortc
10-30 ms of CPU. One student joining a class of 30 renegotiates all 30 connections at once, and
asyncio runs every task that is ready in the same loop iteration: ~0.5 s in which no packet is
forwarded, for everyone. Taking turns, each step is its own iteration, and the socket callbacks
run between them. A newcomer's first negotiation, and any answer (which starts media), go before
renegotiations that only add a track.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import asynccontextmanager
from typing import AsyncIterator

URGENT, ROUTINE = 0, 1


class SdpTurns:
    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def turn(self, priority: int) -> AsyncIterator[None]:
        if self._busy or self._waiting:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._order), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._hand_on()  # it was handed the turn as it was cancelled: pass it on
                raise
        self._busy = True
        try:
            yield
        finally:
            # The next turn starts in a later iteration, even one asked for in this one.
            asyncio.get_running_loop().call_soon(self._hand_on)

    def _hand_on(self) -> None:
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._busy = False
