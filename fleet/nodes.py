"""Nodes in Redis: each writes its entry (URL, state, load) every heartbeat with a TTL, so a node
that dies (kill -9, machine gone) drops out of the fleet within the TTL and its rooms can be
placed elsewhere; the fleet's list of names is pruned of those whose entry expired."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Callable, Optional, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DEFAULT_TTL_S = 6.0
DEFAULT_FLEET = "aula"


@dataclass(frozen=True)
class FleetKeys:
    """Where a fleet keeps its nodes in Redis. Several fleets can share one Redis (staging
    beside production, or tests): each sees only its own nodes."""

    fleet: str = DEFAULT_FLEET

    @property
    def prefix(self) -> str:
        return f"aula:fleet:{self.fleet}:"

    @property
    def nodes(self) -> str:
        return self.prefix + "nodes"  # sorted set: name → last heartbeat (Unix seconds)

    def node(self, name: str) -> str:
        return self.prefix + "node:" + name  # the node's NodeInfo JSON, expiring after the TTL

    def node_rooms(self, name: str) -> str:
        return self.prefix + "rooms_of:" + name  # the session ids placed on the node

    def room(self, session_id: str) -> str:
        return self.prefix + "room:" + session_id  # the name of the node hosting the room


class NodeState(str, Enum):
    ACTIVE = "active"
    DRAINING = "draining"  # takes no new rooms; its classes finish or move


@dataclass(frozen=True)
class NodeLoad:
    rooms: int = 0
    participants: int = 0
    packets_per_s: float = 0.0
    cpu: float = 0.0  # of one core, over the last heartbeat interval (1.0: one core busy)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    url: str
    state: NodeState
    rooms: int
    participants: int
    packets_per_s: float
    cpu: float
    last_seen: float
    # Whether it takes new rooms: active and not full.
    accepting: bool = True

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "NodeInfo":
        return cls(name=str(data["name"]), url=str(data["url"]), state=NodeState(data["state"]),
                   rooms=int(cast(int, data["rooms"])), participants=int(cast(int, data["participants"])),
                   packets_per_s=float(cast(float, data["packets_per_s"])), cpu=float(cast(float, data["cpu"])),
                   last_seen=float(cast(float, data["last_seen"])), accepting=bool(data.get("accepting", True)))


class NodeRegistry:
    """This node's entry in the fleet, kept fresh by a heartbeat; and the fleet as Redis sees it."""

    def __init__(self, redis: aioredis.Redis, name: str, url: str, load: Callable[[], NodeLoad],
                 ttl_s: float = DEFAULT_TTL_S, max_participants: Optional[int] = None,
                 keys: FleetKeys = FleetKeys()) -> None:
        if not 1.0 <= ttl_s <= 60.0:
            raise ValueError("the heartbeat TTL must be between 1 and 60 seconds")
        self._redis = redis
        self.keys = keys
        self.name = name
        self.url = url
        self._load = load
        self.ttl_s = ttl_s
        self._max_participants = max_participants
        self.state = NodeState.ACTIVE
        self._task: Optional[asyncio.Task[None]] = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def heartbeat(self) -> NodeInfo:
        load = self._load()
        full = self._max_participants is not None and load.participants >= self._max_participants
        info = NodeInfo(self.name, self.url, self.state, load.rooms, load.participants,
                        round(load.packets_per_s, 1), round(load.cpu, 3), time.time(),
                        accepting=self.state is NodeState.ACTIVE and not full)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.node(self.name), json.dumps(info.to_dict()), px=int(self.ttl_s * 1000))
            pipe.zadd(self.keys.nodes, {self.name: info.last_seen})
            await pipe.execute()
        return info

    async def drain(self) -> NodeInfo:
        """Take no new rooms from now on (placement skips this node)."""
        self.state = NodeState.DRAINING
        return await self.heartbeat()

    async def nodes(self) -> list[NodeInfo]:
        return await list_nodes(self._redis, self.keys)

    async def close(self) -> None:
        """Leave the fleet at once (not after the TTL): a clean stop's rooms move on the next
        join. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(self.keys.node(self.name))
                    pipe.zrem(self.keys.nodes, self.name)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                logger.warning("fleet: could not leave (%s); the entry expires in %.0f s", exc, self.ttl_s)

    async def _run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():
            try:
                await self.heartbeat()
            except (RedisError, OSError) as exc:
                logger.warning("fleet: heartbeat failed (%s)", exc)
            await asyncio.sleep(self.ttl_s / 4)


async def list_nodes(redis: aioredis.Redis, keys: FleetKeys = FleetKeys()) -> list[NodeInfo]:
    """The live nodes, by name; names whose entry expired are pruned from the list."""
    names = [n.decode() for n in cast(list[bytes], await redis.zrange(keys.nodes, 0, -1))]
    if not names:
        return []
    raws = cast(list[Optional[bytes]], await redis.mget([keys.node(n) for n in names]))
    gone = [name for name, raw in zip(names, raws) if raw is None]
    if gone:
        await redis.zrem(keys.nodes, *gone)
    return [NodeInfo.from_dict(json.loads(raw)) for raw in raws if raw is not None]
