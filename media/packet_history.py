"""A short history of a publication's packets, so subscribers' NACKs can be served."""

from __future__ import annotations

from typing import Optional

from aiortc.rtp import RtpPacket

# ~1.5 s of 720p video at 1.5 Mbps; audio needs far fewer but costs only references.
HISTORY_SIZE = 512

AudioLevel = tuple[bool, int]  # RFC 6464: voice activity, level in -dBov
# What a retransmission needs: (sequence number, timestamp, marker, payload, audio level). A
# plain tuple of numbers and bytes, which the garbage collector stops tracking; aiortc's
# RtpPacket is several tracked objects, and a class of 30 kept ~30,000 of them here, promoted
# to the oldest generation a few thousand a second: a full collection every few seconds,
# each walking them all while no packet was forwarded.
HistoricPacket = tuple[int, int, int, bytes, Optional[AudioLevel]]


class PacketHistory:
    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._slots: list[Optional[HistoricPacket]] = [None] * size
        self._size = size

    def add(self, packet: RtpPacket) -> None:
        self._slots[packet.sequence_number % self._size] = (
            packet.sequence_number, packet.timestamp, packet.marker, packet.payload,
            packet.extensions.audio_level)

    def get(self, sequence: int) -> Optional[HistoricPacket]:
        packet = self._slots[sequence % self._size]
        if packet is None or packet[0] != sequence:
            return None
        return packet
