"""What an ICE socket does with a datagram as it arrives, and how fast its socket is read.

Written against aiortc 1.16.0 (aioice 0.13.0). Replaces the method
`aioice.ice.StunProtocol.datagram_received`, which tries to parse every datagram as STUN
before handing what is not STUN to `Connection.data_received`: here a datagram whose first
byte says RTP or RTCP (RFC 7983) skips the STUN parse and goes to the RTP handler its
Connection carries (`RTP_HANDLER`, set by media/aiortc/dtls_receive.py), or else to
`Connection.data_received` as aioice would. Everything else is aioice's own (the original is
called). Reads `StunProtocol.receiver`, `StunProtocol.local_candidate`, `StunProtocol.transport`
and, to find a connection's sockets, `RTCIceGatherer._connection` and `Connection._protocols`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, Callable, Optional, cast

import aioice.ice
from aiortc import RTCPeerConnection

from .. import packet_sender
from ._patch import replace

# The aioice Connection attribute holding the RTP handler for its DTLS transport: True when
# it took the datagram, False to give it to aiortc's queue.
RTP_HANDLER = "_aula_rtp_handler"
RtpHandler = Callable[[bytes], bool]
# The aioice StunProtocol attribute holding its _Drain.
DRAIN = "_aula_drain"
# libuv (uvloop) reads at most 32 datagrams from a socket per loop iteration: a socket that has
# handed over this many in one iteration is likely to hold more.
DRAIN_AFTER = 16
# What one drain reads at most, before the loop's other work has a turn.
DRAIN_BATCH = 256
MAX_DATAGRAM_BYTES = 2048

AIOICE_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received


def datagram_received(self: aioice.ice.StunProtocol, data: bytes | str,
                      addr: tuple[Any, ...]) -> None:
    """Stands in for `StunProtocol.datagram_received` (aioice types `data` as bytes | str;
    a datagram socket only ever hands over bytes)."""
    _handle_datagram(self, cast(bytes, data), addr)
    drain: Optional[Drain] = self.__dict__.get(DRAIN)
    if drain is not None and drain.due():
        drain.run(self)


def _handle_datagram(self: aioice.ice.StunProtocol, data: bytes, addr: tuple[Any, ...]) -> None:
    # RFC 7983: a first byte of 128-191 is RTP or RTCP, never STUN (0-3) nor DTLS (20-63).
    if data and 127 < data[0] < 192:
        handler: Optional[RtpHandler] = self.receiver.__dict__.get(RTP_HANDLER)
        if handler is None:
            self.receiver.data_received(data, self.local_candidate.component)
            return
        sender = packet_sender.shared()
        sender.hold()  # the packet's whole fan-out wakes the sender's thread once
        try:
            handled = handler(data)
        finally:
            sender.release()
        if not handled:
            self.receiver.data_received(data, self.local_candidate.component)
        return
    AIOICE_DATAGRAM_RECEIVED(self, data, addr)


replace(aioice.ice.StunProtocol, "datagram_received", datagram_received)


def _ice_protocols(pc: RTCPeerConnection) -> list[aioice.ice.StunProtocol]:
    """The STUN protocols (one per local socket) of `pc`'s ICE connections."""
    protocols: list[aioice.ice.StunProtocol] = []
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        protocols.extend(connection._protocols)
    return protocols


def size_receive_buffers(pc: RTCPeerConnection, size: int) -> None:
    """Enlarge the UDP receive buffers of a connection's ICE sockets (capped by rmem_max), so
    a burst of video survives while the event loop is busy elsewhere."""
    for protocol in _ice_protocols(pc):
        transport = protocol.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def drain_receive_sockets(pc: RTCPeerConnection) -> None:
    """From now on a socket of `pc`'s that is busy is read empty (up to DRAIN_BATCH) when uvloop
    has handed over DRAIN_AFTER of its datagrams in one loop iteration. uvloop reads at most 32
    datagrams per socket per iteration, whatever the socket's rate: in one process holding fifty
    load clients, an instructor's subscriber socket, receiving seven times a student's rate,
    filled up and dropped even the answers to its ICE consent checks, until its connection
    expired. Load clients only: a browser, or a server socket per publisher, has no such
    neighbours."""
    loop = asyncio.get_running_loop()
    for protocol in _ice_protocols(pc):
        transport = protocol.transport
        if transport is not None and DRAIN not in protocol.__dict__:
            protocol.__dict__[DRAIN] = Drain(loop, transport.get_extra_info("socket").fileno())


class Drain:
    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        # A socket object of our own (a duplicate descriptor): the transport's may not be read
        # from directly (uvloop's is a stand-in). Closed with the protocol holding it.
        self._socket = socket.socket(fileno=os.dup(fd))
        self._iteration = -1.0
        self._received = 0

    def due(self) -> bool:
        """Counts a datagram; True when this iteration of the loop brought DRAIN_AFTER (uvloop's
        time stands still within an iteration)."""
        now = self._loop.time()
        if now != self._iteration:
            self._iteration, self._received = now, 0
        self._received += 1
        return self._received >= DRAIN_AFTER

    def run(self, protocol: aioice.ice.StunProtocol) -> None:
        self._received = 0
        for _ in range(DRAIN_BATCH):
            try:
                data, addr = self._socket.recvfrom(MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            _handle_datagram(protocol, data, addr)
            if protocol.transport is None:
                return  # closed by what it just handled

