"""Per-subscription RTP header rewriting: SSRC, sequence numbers, timestamps.

A subscriber sees one continuous stream per subscription, whatever the publisher does: a new
publisher SSRC (a restarted track) or packets the SFU chose not to forward (muted, waiting for
a keyframe) never show up as a gap the subscriber would NACK or a timestamp jump it would
stall on.
"""

from __future__ import annotations

import struct
import time
from typing import Callable, Optional

SEQUENCE_MODULO = 1 << 16
TIMESTAMP_MODULO = 1 << 32
# Remembers which source packet each recent outgoing sequence number carried (for NACKs).
SENT_WINDOW = 1024

_RTP_HEADER = struct.Struct("!BBHLL")


class RtpRewriter:
    def __init__(
        self,
        ssrc: int,
        clock_rate: int,
        first_sequence: int,
        first_timestamp: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ssrc = ssrc
        self._clock_rate = clock_rate
        self._clock = clock
        self._next_sequence = first_sequence % SEQUENCE_MODULO
        self._next_timestamp = first_timestamp % TIMESTAMP_MODULO
        self._source_ssrc: Optional[int] = None
        self._sequence_offset = 0
        self._timestamp_offset = 0
        self._last_timestamp: Optional[int] = None
        self._last_sent_at = 0.0
        # Set when packets were skipped: the next forwarded one re-bases the sequence.
        self._rebase_sequence = True
        self._sent_source_sequence: list[int] = [-1] * SENT_WINDOW

    @property
    def timestamp_offset(self) -> int:
        return self._timestamp_offset

    def skip(self) -> None:
        """The source packets from here on are not forwarded until the next `rewrite`."""
        self._rebase_sequence = True

    def rewrite(self, source_ssrc: int, sequence: int, timestamp: int) -> tuple[int, int]:
        """Return the outgoing (sequence number, timestamp) for a forwarded source packet."""
        if source_ssrc != self._source_ssrc:
            self._rebase_timestamp(source_ssrc, timestamp)
            self._rebase_sequence = True
        if self._rebase_sequence:
            self._sequence_offset = (self._next_sequence - sequence) % SEQUENCE_MODULO
            self._rebase_sequence = False
        out_sequence = (sequence + self._sequence_offset) % SEQUENCE_MODULO
        out_timestamp = (timestamp + self._timestamp_offset) % TIMESTAMP_MODULO
        # Only move forward: a late (reordered) packet keeps its place in the sequence.
        if ((out_sequence - self._next_sequence) % SEQUENCE_MODULO) < SEQUENCE_MODULO // 2:
            self._next_sequence = (out_sequence + 1) % SEQUENCE_MODULO
            self._last_timestamp = out_timestamp
            self._last_sent_at = self._clock()
        self._sent_source_sequence[out_sequence % SENT_WINDOW] = sequence
        return out_sequence, out_timestamp

    def source_sequence(self, out_sequence: int) -> Optional[int]:
        """The source sequence number an outgoing packet carried, if still remembered."""
        source = self._sent_source_sequence[out_sequence % SENT_WINDOW]
        if source < 0:
            return None
        # The slot may hold a newer packet: check it maps back to this out_sequence.
        if (source + self._sequence_offset) % SEQUENCE_MODULO != out_sequence:
            return None
        return source

    def _rebase_timestamp(self, source_ssrc: int, timestamp: int) -> None:
        if self._last_timestamp is None:
            target = self._next_timestamp
        else:
            # Continue from the last timestamp sent, advanced by the wall time since.
            elapsed = max(self._clock() - self._last_sent_at, 0.001)
            target = self._last_timestamp + int(elapsed * self._clock_rate)
        self._timestamp_offset = (target - timestamp) % TIMESTAMP_MODULO
        self._source_ssrc = source_ssrc


def pack_rtp(
    payload_type: int,
    marker: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    extension: bytes,
    payload: bytes,
) -> bytes:
    """Serialise an RTP packet; `extension` is a whole header-extension block or b""."""
    first = 0x90 if extension else 0x80
    return (
        _RTP_HEADER.pack(first, (marker << 7) | payload_type, sequence, timestamp, ssrc)
        + extension
        + payload
    )


class ExtensionBlock:
    """A subscription's header-extension block: fixed elements plus one per-packet element.

    Built once per subscription so each packet costs one concatenation, not a re-encoding.
    """

    def __init__(self, fixed: list[tuple[int, bytes]], variable_id: int, variable_size: int) -> None:
        self._variable = bool(variable_id)
        elements_size = sum(1 + len(value) for _, value in fixed)
        if self._variable:
            elements_size += 1 + variable_size
        padding = -elements_size % 4
        header = struct.pack("!HH", 0xBEDE, (elements_size + padding) // 4) if elements_size else b""
        body = b"".join(bytes([(ext_id << 4) | (len(value) - 1)]) + value for ext_id, value in fixed)
        self._prefix = header + body
        if self._variable:
            self._prefix += bytes([(variable_id << 4) | (variable_size - 1)])
        self._padding = b"\x00" * padding
        self._without_variable = one_byte_extension_block(fixed)

    def build(self, variable: Optional[bytes]) -> bytes:
        if not self._variable:
            return self._without_variable
        if variable is None:
            return self._without_variable
        return self._prefix + variable + self._padding


def one_byte_extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """RFC 8285 one-byte header extensions (ids 1-14, values of 1-16 bytes)."""
    body = b"".join(bytes([(ext_id << 4) | (len(value) - 1)]) + value for ext_id, value in elements)
    if not body:
        return b""
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body
