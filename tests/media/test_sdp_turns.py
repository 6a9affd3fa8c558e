"""SDP work takes turns: the loop runs its sockets between them, and urgent work goes first."""

from __future__ import annotations

import asyncio

from media.sdp_turns import ROUTINE, URGENT, SdpTurns


async def test_the_loop_goes_round_between_two_turns() -> None:
    """A class's renegotiations all become ready at once; without turns they run back to back
    in one loop iteration and no packet is forwarded meanwhile."""
    turns = SdpTurns()
    iterations = 0

    async def count_iterations() -> None:
        nonlocal iterations
        while True:
            await asyncio.sleep(0)
            iterations += 1

    seen_at: list[int] = []

    async def negotiate() -> None:
        async with turns.turn(ROUTINE):
            seen_at.append(iterations)  # (createOffer + setLocalDescription: CPU, no await)

    counter = asyncio.ensure_future(count_iterations())
    await asyncio.gather(*(negotiate() for _ in range(30)))
    counter.cancel()
    assert len(seen_at) == 30
    assert all(later > earlier for earlier, later in zip(seen_at, seen_at[1:])), seen_at


async def test_urgent_work_goes_before_routine_work_in_the_order_it_came() -> None:
    turns = SdpTurns()
    order: list[str] = []
    release = asyncio.Event()

    async def work(name: str, priority: int) -> None:
        async with turns.turn(priority):
            order.append(name)
            if name == "holder":
                await release.wait()

    holder = asyncio.ensure_future(work("holder", ROUTINE))
    await asyncio.sleep(0)
    queued = [asyncio.ensure_future(work(name, priority)) for name, priority in (
        ("renegotiate kim", ROUTINE), ("renegotiate lee", ROUTINE), ("newcomer's offer", URGENT),
        ("an answer", URGENT))]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, *queued)
    assert order == ["holder", "newcomer's offer", "an answer", "renegotiate kim", "renegotiate lee"]


async def test_a_turn_cancelled_while_waiting_or_while_held_does_not_stop_the_others() -> None:
    turns = SdpTurns()
    never = asyncio.Event()
    done: list[str] = []

    async def work(name: str, hold: bool = False) -> None:
        async with turns.turn(ROUTINE):
            if hold:
                await never.wait()
            done.append(name)

    holding = asyncio.ensure_future(work("holding", hold=True))
    await asyncio.sleep(0)  # it has the turn
    waiting, last = asyncio.ensure_future(work("waiting")), asyncio.ensure_future(work("last"))
    await asyncio.sleep(0)
    waiting.cancel()
    holding.cancel()
    await asyncio.wait_for(last, 1)
    assert done == ["last"] and waiting.cancelled() and holding.cancelled()
    async with turns.turn(URGENT):  # and the turns are free again
        pass
