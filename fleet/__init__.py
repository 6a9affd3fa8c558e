"""The fleet: media nodes registered in Redis with a heartbeat and their load, and each
session's room placed on exactly one of them (LiveKit's model: a room lives on one node, any
node answers the API, a join that reaches the wrong node is sent to the right one).

Only Redis is shared: nothing here coordinates nodes other than through it.
"""

from .nodes import FleetKeys, NodeInfo, NodeLoad, NodeRegistry, NodeState, list_nodes
from .placement import NoNodeAvailable, RoomPlacement

__all__ = ["FleetKeys", "list_nodes", "NodeInfo", "NodeLoad", "NodeRegistry", "NodeState", "NoNodeAvailable", "RoomPlacement"]
