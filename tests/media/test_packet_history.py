"""A publication's packet history: what NACKs are answered from, invisible to the GC."""

from __future__ import annotations

import gc

from aiortc.rtp import RtpPacket

from media.packet_history import HISTORY_SIZE, PacketHistory


def packet(sequence: int, level: tuple[bool, int] | None = None) -> RtpPacket:
    packet = RtpPacket(payload_type=111, marker=sequence % 2, sequence_number=sequence,
                       timestamp=sequence * 960, payload=bytes([sequence % 256]) * 80)
    packet.extensions.audio_level = level
    return packet


def test_the_last_packets_are_found_by_sequence_number_older_ones_not() -> None:
    history = PacketHistory()
    for sequence in range(65000, 65000 + HISTORY_SIZE + 10):
        history.add(packet(sequence % 65536, (True, 30)))
    newest = (65000 + HISTORY_SIZE + 9) % 65536
    assert history.get(newest) == (newest, newest * 960, newest % 2, bytes([newest % 256]) * 80, (True, 30))
    assert history.get(65000) is None  # overwritten by a later packet in its slot
    assert history.get((newest + 1) % 65536) is None  # not received yet


def test_a_full_history_leaves_nothing_for_the_garbage_collector_to_walk() -> None:
    """A class keeps ~30,000 packets here, replaced a few thousand a second: as tracked objects
    they were promoted to the oldest generation and brought on full collections every few seconds."""
    history = PacketHistory()
    for sequence in range(HISTORY_SIZE):
        history.add(packet(sequence, (False, 90) if sequence % 3 else None))
    gc.collect()
    assert not any(gc.is_tracked(history.get(sequence)) for sequence in range(HISTORY_SIZE))
