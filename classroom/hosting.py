"""Hosting: this node in the fleet. It registers with its load while it runs (fleet/), hosts
the rooms placed on it, and tells the edge where any other room lives, so a join that reaches
the wrong node is sent to the right one."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fleet import FleetKeys, NodeInfo, NodeLoad, NodeRegistry, NoNodeAvailable, RoomPlacement, list_nodes
from fleet.commands import Handler, NodeCommands
from media import SFU
from media.lifecycle import cancel_and_wait

logger = logging.getLogger(__name__)


class Hosting:
    def __init__(self, redis: aioredis.Redis, sfu: SFU, name: str, url: str, fleet: str, ttl_s: float,
                 max_participants: Optional[int] = None, on_drained: Callable[[], None] = lambda: None) -> None:
        self._redis = redis
        self._sfu = sfu
        self.keys = FleetKeys(fleet)
        self.registry = NodeRegistry(redis, name, url, self._load, ttl_s, max_participants, self.keys)
        self.placement = RoomPlacement(redis, self.keys)
        self.commands = NodeCommands(redis, self.keys, name)
        self._counted = (time.monotonic(), time.process_time(), 0)
        self._watcher: Optional[asyncio.Task[None]] = None
        self._node_urls = [url]
        self._draining: Optional[asyncio.Task[None]] = None
        self._on_drained = on_drained
        # Set once a drain has no class left here (`aula serve` then exits 0).
        self.drained = asyncio.Event()

    @property
    def name(self) -> str:
        return self.registry.name

    async def start(self, handler: Handler) -> None:
        """Join the fleet, `handler` answering the other nodes' requests about this node's rooms."""
        self.commands.start(handler)
        await self.registry.heartbeat()  # in the fleet before the first join can arrive
        self.registry.start()
        await self._check_fleet()
        self._watcher = asyncio.ensure_future(self._watch_fleet())

    async def elsewhere(self, session_id: str) -> Optional[NodeInfo]:
        """The live node other than this one that hosts the room, if any (placing nothing)."""
        host = await self.placement.host(session_id)
        if host is None or host == self.name:
            return None
        return await self.placement.node_info(host)

    async def host_elsewhere(self, session_id: str) -> Optional[NodeInfo]:
        """None if the room is (now) placed here; else the node that hosts it. Raises
        fleet.NoNodeAvailable when no node takes it. While Redis cannot be reached the room is
        served here: a class on one node beats no class."""
        try:
            return await self._host_elsewhere(session_id)
        except (RedisError, OSError) as exc:
            logger.warning("fleet: Redis unreachable (%s); room %s is served here", exc, session_id)
            return None

    async def _host_elsewhere(self, session_id: str) -> Optional[NodeInfo]:
        for _ in range(3):
            host = await self.placement.place(session_id, preferred=self.name)
            if host == self.name:
                return None
            info = await self.placement.node_info(host)
            if info is not None:
                return info
            # Its node died between placing and looking it up: placing again moves the room.
        raise NoNodeAvailable(f"the nodes room {session_id} was placed on keep disappearing")

    async def release(self, session_id: str) -> None:
        """The class ended: its place goes, whichever node held it (a dead one too)."""
        host = await self.placement.host(session_id)
        if host is not None:
            await self.placement.release(session_id, host)

    async def nodes(self) -> list[NodeInfo]:
        return await list_nodes(self._redis, self.keys)

    def node_urls(self) -> list[str]:
        """The live nodes' URLs, for a client to try when its node stops answering: as the fleet
        was at the last check (every quarter TTL), so a join costs no Redis call for it."""
        return list(self._node_urls)

    async def _check_fleet(self) -> None:
        """The nodes' URLs, and this node's rooms that the fleet has placed elsewhere meanwhile
        (its loop stalled past the TTL): those close here (`room_moved`), so their clients rejoin
        on the room's node and each class is one room again."""
        self._node_urls = [node.url for node in await self.nodes()] or [self.registry.url]
        session_ids = list(self._sfu.rooms)
        for session_id, host in zip(session_ids, await self.placement.hosts(session_ids)):
            room = self._sfu.rooms.get(session_id)
            if host is not None and host != self.name and room is not None:
                logger.warning("fleet: room %s is placed on %s now; closing it here", session_id, host)
                await room.close("room_moved")

    async def drain(self, deadline_s: float) -> NodeInfo:
        """Take no new rooms; the classes here finish, and those still running after
        `deadline_s` move: their places are freed and their rooms close (`server_shutdown`), so
        their pages rejoin on other nodes. Then `drained` is set. A second drain keeps the first
        deadline."""
        info = await self.registry.drain()
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain(time.monotonic() + deadline_s))
        return info

    async def close(self) -> None:
        """Leave the fleet, then stop answering. Idempotent."""
        await self.registry.close()
        await self.commands.close()
        await cancel_and_wait(self._watcher, self._draining)
        self._watcher = self._draining = None

    async def _drain(self, deadline: float) -> None:
        while self._sfu.rooms and time.monotonic() < deadline:
            await asyncio.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))
        for session_id, room in list(self._sfu.rooms.items()):
            logger.warning("fleet: drain deadline: room %s moves to another node", session_id)
            await self.placement.release(session_id, self.name)
            await room.close("server_shutdown")
        logger.info("fleet: node %s drained", self.name)
        self.drained.set()
        self._on_drained()

    async def _watch_fleet(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():
            await asyncio.sleep(self.registry.ttl_s / 4)
            try:
                await self._check_fleet()
            except (RedisError, OSError) as exc:
                logger.warning("fleet: cannot check the fleet (%s)", exc)

    def _load(self) -> NodeLoad:
        stats = self._sfu.stats()
        now, cpu = time.monotonic(), time.process_time()
        then, cpu_then, forwarded_then = self._counted
        self._counted = (now, cpu, stats["packets_forwarded"])
        elapsed = max(now - then, 1e-3)
        return NodeLoad(rooms=stats["rooms"], participants=stats["participants"],
                        packets_per_s=max(stats["packets_forwarded"] - forwarded_then, 0) / elapsed,
                        cpu=(cpu - cpu_then) / elapsed)
