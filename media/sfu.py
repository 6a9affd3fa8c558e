"""SFU: the rooms on this node. Owns each Room and closes them all on shutdown."""

from __future__ import annotations

import asyncio
from typing import Optional

from . import packet_sender
from .aiortc import use_host_addresses
from .ice_policy import IcePolicy
from .participant import Participant
from .room import Room
from .room_observer import RoomObserver
from .sdp_turns import SdpTurns


class SFU:
    def __init__(
        self, ice_addresses: tuple[str, ...] = (), ice_allowed_networks: tuple[str, ...] = ()
    ) -> None:
        use_host_addresses(ice_addresses)
        self._ice_policy = IcePolicy(ice_allowed_networks)
        self._sdp_turns = SdpTurns()  # one loop forwards every room: they take turns too
        self.rooms: dict[str, Room] = {}

    def room(self, session_id: str, title: str,
             observer: Optional[RoomObserver] = None) -> Room:
        """The session's room, opened on first use (with `observer` watching it)."""
        room = self.rooms.get(session_id)
        if room is None:
            room = Room(session_id, title, self._ice_policy, self._sdp_turns, self._room_closed, observer)
            self.rooms[session_id] = room
        return room

    def participants(self) -> list[Participant]:
        """Everyone in the rooms open now."""
        return [p for room in self.rooms.values() for p in room.participants.values()]

    def stats(self) -> dict[str, int]:
        """Live counters over the rooms open now (closed ones no longer count)."""
        participants = self.participants()
        publications = [pub for p in participants for pub in p.publications.values()]
        subscriptions = [s for p in participants for s in p.subscriptions.values()]
        sending = packet_sender.counters()
        return {
            "rooms": len(self.rooms), "participants": len(participants),
            "publications": len(publications), "subscriptions": len(subscriptions),
            "packets_received": sum(p.packets_received for p in publications),
            "packets_forwarded": sum(s.packets_sent for s in subscriptions),
            "retransmissions": sum(s.retransmissions for s in subscriptions),
            # The packet sender's thread, over the process's life: what waits to be sent now,
            # and what was dropped because a socket's buffer was full, libsrtp refused it, or
            # a copy with our header extensions would not fit a datagram.
            "send_queue_backlog": sending["queued"] - sending["done"],
            "packets_dropped_on_send": (sending["send_errors"] + sending["protect_errors"]
                                        + sending["too_long"]),
            # ... and how often the event loop had to wake it (it lingers after sending).
            "send_thread_wakeups": sending["wakeups"],
            # Its memory: what the longest queue so far (in datagrams) needed.
            "send_queue_most_waiting": sending["most_waiting"],
            "send_queue_buffer_bytes": sending["buffer_bytes"],
        }

    def _room_closed(self, room: Room) -> None:
        if self.rooms.get(room.session_id) is room:
            del self.rooms[room.session_id]

    async def close(self) -> None:
        await asyncio.gather(*(room.close("server_shutdown") for room in list(self.rooms.values())))
