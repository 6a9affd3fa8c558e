"""Per-subscription RTP headers: SSRC, sequence numbers, timestamps, header extensions.

A subscriber sees one continuous stream per subscription, whatever the publisher does: a new
publisher SSRC (a restarted track) or packets the SFU chose not to forward (muted, waiting for
a keyframe) never show up as a gap the subscriber would NACK or a timestamp jump it would
stall on. The rewriting itself runs where the fan-out does, in C: an `Outlet` (`_outlet.c`)
per subscriber m-line keeps the rewriter's state and the header template built here, and
writes the headers of what is sent one at a time (retransmissions, `Outlet.header`).
"""

from __future__ import annotations

import struct

from ._packet_sender import Outlet


class ExtensionBlock:
    """A subscription's header-extension block: fixed elements plus one per-packet element.

    Built once per subscription (the outlet's template) so each packet costs a copy, not a
    re-encoding.
    """

    def __init__(self, fixed: list[tuple[int, bytes]], variable_id: int, variable_size: int) -> None:
        self.variable_size = variable_size if variable_id else 0
        elements_size = sum(1 + len(value) for _, value in fixed)
        if self.variable_size:
            elements_size += 1 + variable_size
        self.padding = -elements_size % 4
        header = struct.pack("!HH", 0xBEDE, (elements_size + self.padding) // 4) if elements_size else b""
        body = b"".join(bytes([(ext_id << 4) | (len(value) - 1)]) + value for ext_id, value in fixed)
        self.prefix = header + body
        if self.variable_size:
            self.prefix += bytes([(variable_id << 4) | (variable_size - 1)])
        # The block when a packet has no per-packet value.
        self.plain = one_byte_extension_block(fixed)

    def configure(self, outlet: Outlet, payload_type: int, clock_rate: int) -> None:
        """Give `outlet` the negotiated payload type and clock rate, and this block."""
        outlet.configure(payload_type, clock_rate, self.prefix, self.variable_size, self.padding,
                         self.plain)


def one_byte_extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """RFC 8285 one-byte header extensions (ids 1-14, values of 1-16 bytes)."""
    body = b"".join(bytes([(ext_id << 4) | (len(value) - 1)]) + value for ext_id, value in elements)
    if not body:
        return b""
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body
