"""Ownership, the mediasoup way: a class opened and ended leaves nothing behind — no task, no
socket or file, no thread — however many times it is done. The server, its Redis and its
workers run in this test's process, so what the class leaks would show here."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections import Counter

from client import ClientOptions
from tests.conftest import AulaServer, RedisServer
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack, ToneTrack

CLASSES = 100
# The first classes start what a node keeps for its lifetime (thread pools, the frame worker,
# the packet sender's thread): counted after these.
WARM_UP = 3


# Connection pools (the Redis client's; the HTTP keep-alive between this test and the server)
# keep what their busiest moment needed: bounded, not leaked, and reopened on other local ports.
# They are counted apart: 100 classes leaking one socket each would pass this bound.
POOL_BOUND = 30


def socket_kinds(pooled_ports: set[int]) -> dict[str, str]:
    """Socket inode → what it is: "pooled", "tcp", "udp" (ICE), "unix", from /proc/net."""
    kinds = {}
    for protocol in ("tcp", "tcp6", "udp", "udp6", "unix"):
        with open(f"/proc/net/{protocol}") as table:
            next(table)
            for row in table:
                fields = row.split()
                if protocol == "unix":
                    kinds[fields[6]] = "unix"
                    continue
                ports = {int(address.split(":")[1], 16) for address in fields[1:3]}
                kinds[fields[9]] = "pooled" if protocol.startswith("tcp") and ports & pooled_ports else protocol
    return kinds


def descriptors(pooled_ports: set[int]) -> list[str]:
    """What this process's descriptors point at: files and pipes by name, sockets by kind."""
    kinds = socket_kinds(pooled_ports)
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        if target.startswith("socket:["):
            target = kinds.get(target[8:-1], target)
        found.append(target)
    return sorted(found)


def footprint(pooled_ports: set[int]) -> dict[str, list[str]]:
    gc.collect()
    this = asyncio.current_task()
    everything = descriptors(pooled_ports)
    return {
        # Less the handlers of pooled HTTP connections, one per connection.
        "tasks": sorted(name for task in asyncio.all_tasks() if task is not this
                        and (name := task.get_coro().__qualname__) != "RequestHandler.start"),
        "descriptors": [d for d in everything if d != "pooled"],
        # Less the loop's default executor (asyncio.to_thread): a bounded pool that grows on demand.
        "threads": sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")),
        "pooled": ["pooled"] * min(everything.count("pooled"), POOL_BOUND),
    }


async def one_class(server: AulaServer) -> None:
    session = await server.create_session(settings={"recording": True})
    teacher = await join(server, session["id"], "rivera", role="instructor",
                         publish={"microphone": ToneTrack(440), "camera": ColourTrack((20, 120, 200))},
                         options=ClientOptions(decode=False))
    student = await join(server, session["id"], "sam", options=ClientOptions(decode=False))
    await student.wait_for_tracks(2)
    await server.end_session(session["id"])
    await asyncio.gather(teacher.close(), student.close())


def left_behind(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(what is there now and was not, what was there and is gone)."""
    return sorted((Counter(after) - Counter(before)).elements()), sorted((Counter(before) - Counter(after)).elements())


async def settled(baseline: dict[str, list[str]], pooled_ports: set[int]) -> dict[str, list[str]]:
    """Closing is awaited, but the clients' sockets and the server's drain of its last packets
    end a moment later: wait (up to 10 s) for the count to come back."""
    for _ in range(100):
        now = footprint(pooled_ports)
        if {key: left_behind(baseline[key], now[key])[0] for key in now} == {key: [] for key in now}:
            break
        await asyncio.sleep(0.1)
    return now


async def test_a_hundred_classes_opened_and_ended_leave_nothing_behind(aula_server: AulaServer,
                                                                        redis_server: RedisServer) -> None:
    pooled_ports = {redis_server.port, int(aula_server.base_url.rsplit(":", 1)[1])}
    for _ in range(WARM_UP):
        await one_class(aula_server)
    baseline = footprint(pooled_ports)
    baseline["pooled"] = ["pooled"] * POOL_BOUND
    for _ in range(CLASSES):
        await one_class(aula_server)
    after = await settled(baseline, pooled_ports)
    assert {key: left_behind(baseline[key], after[key])[0] for key in after} == {key: [] for key in after}
    assert aula_server.sfu.rooms == {}
