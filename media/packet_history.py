"""A short history of a publication's packets, so subscribers' NACKs can be served."""

from __future__ import annotations

from typing import Optional

from aiortc.rtp import RtpPacket

# ~1.5 s of 720p video at 1.5 Mbps; audio needs far fewer but costs only references.
HISTORY_SIZE = 512


class PacketHistory:
    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._slots: list[Optional[RtpPacket]] = [None] * size
        self._size = size

    def add(self, packet: RtpPacket) -> None:
        self._slots[packet.sequence_number % self._size] = packet

    def get(self, sequence: int) -> Optional[RtpPacket]:
        packet = self._slots[sequence % self._size]
        if packet is None or packet.sequence_number != sequence:
            return None
        return packet
