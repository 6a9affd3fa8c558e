"""Placing a session's room on one node, atomically (one Lua script on Redis, so two nodes racing
to host a room both get the same answer): the node it is on while that node lives, else the
active node with the fewest rooms (then the fewest participants). A room whose node died is
re-placed by the next join."""

from __future__ import annotations

import json
from typing import Optional, cast

import redis.asyncio as aioredis

from .nodes import FleetKeys, NodeInfo

# KEYS[1]: the room's key; ARGV: the session id, the preferred node, the fleet's key prefix.
_PLACE = """
local session_id, preferred, prefix = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('GET', KEYS[1])
if current then
  if redis.call('EXISTS', prefix .. 'node:' .. current) == 1 then return current end
  redis.call('SREM', prefix .. 'rooms_of:' .. current, session_id)
end
local best, best_load = false, nil
for _, name in ipairs(redis.call('ZRANGE', prefix .. 'nodes', 0, -1)) do
  local raw = redis.call('GET', prefix .. 'node:' .. name)
  if raw then
    local node = cjson.decode(raw)
    if node.accepting then
      local load = redis.call('SCARD', prefix .. 'rooms_of:' .. name) * 1000000 + node.participants
      if best_load == nil or load < best_load or (load == best_load and name == preferred) then
        best, best_load = name, load
      end
    end
  end
end
if not best then return false end
redis.call('SET', KEYS[1], best)
redis.call('SADD', prefix .. 'rooms_of:' .. best, session_id)
return best
"""

# KEYS[1]: the room's key; ARGV: the session id, the node releasing it, the fleet's key prefix.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', ARGV[3] .. 'rooms_of:' .. ARGV[2], ARGV[1])
  return 1
end
return 0
"""


class NoNodeAvailable(Exception):
    """Every node is draining, full or gone."""


class RoomPlacement:
    def __init__(self, redis: aioredis.Redis, keys: FleetKeys = FleetKeys()) -> None:
        self._redis = redis
        self.keys = keys
        self._place = redis.register_script(_PLACE)
        self._release = redis.register_script(_RELEASE)

    async def place(self, session_id: str, preferred: str = "") -> str:
        """The node that hosts the session's room, placing it now if it has none (or its node
        is gone). `preferred` wins a tie (the node asking, to save a redirect)."""
        node = await self._place(keys=[self.keys.room(session_id)], args=[session_id, preferred, self.keys.prefix])
        if node is None:
            raise NoNodeAvailable("no node takes new rooms now: every node is draining, full or gone")
        return node.decode() if isinstance(node, bytes) else str(node)

    async def host(self, session_id: str) -> Optional[str]:
        """The node the room is placed on, if any (it may have died since)."""
        node = cast(Optional[bytes], await self._redis.get(self.keys.room(session_id)))
        return node.decode() if node is not None else None

    async def hosts(self, session_ids: list[str]) -> list[Optional[str]]:
        """`host` of each session, in one round trip."""
        if not session_ids:
            return []
        found = cast(list[Optional[bytes]], await self._redis.mget([self.keys.room(s) for s in session_ids]))
        return [node.decode() if node is not None else None for node in found]

    async def release(self, session_id: str, node: str) -> bool:
        """The class ended (or moved away from `node`): free its place. Only the host releases."""
        return bool(await self._release(keys=[self.keys.room(session_id)], args=[session_id, node, self.keys.prefix]))

    async def node_info(self, name: str) -> Optional[NodeInfo]:
        raw = cast(Optional[bytes], await self._redis.get(self.keys.node(name)))
        return NodeInfo.from_dict(json.loads(raw)) if raw is not None else None

    async def rooms_of(self, name: str) -> set[str]:
        members = cast(set[bytes], await self._redis.smembers(self.keys.node_rooms(name)))
        return {m.decode() for m in members}
