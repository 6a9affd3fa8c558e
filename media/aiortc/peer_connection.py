"""What a peer connection has heard from its remote peer, and its DTLS transports.

Written against aiortc 1.16.0 (aioice 0.13.0). Reads the private
`RTCPeerConnection._RTCPeerConnection__dtlsTransports` (aiortc lists no transports publicly)
and `RTCDtlsTransport._RTCDtlsTransport__rx_packets` (aiortc's count of DTLS, SRTP and SRTCP
datagrams received), and wraps, on one aioice `Connection` instance (`RTCIceTransport._connection`),
its method `request_received` to count STUN requests: consent checks keep coming from a live
peer that sends no media. The room's connectivity watch (media/connectivity.py) tells a lost
connection from a silent one by these counts.
"""

from __future__ import annotations

from typing import Optional

import aioice.ice
import aioice.stun
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

from ._patch import replace

# The aioice Connection attribute holding its count of STUN requests received.
_STUN_REQUESTS = "_aula_stun_requests"


def dtls_transports(pc: RTCPeerConnection) -> list[RTCDtlsTransport]:
    transports: set[RTCDtlsTransport] = getattr(pc, "_RTCPeerConnection__dtlsTransports")
    return list(transports)


def datagrams_heard(pc: RTCPeerConnection) -> int:
    """How many datagrams `pc` has had from its remote peer: DTLS, SRTP and SRTCP (aiortc's
    transport counter) and STUN requests (counted from the first call on)."""
    heard = 0
    for dtls in dtls_transports(pc):
        received: int = getattr(dtls, "_RTCDtlsTransport__rx_packets")
        heard += received + _stun_requests(dtls.transport._connection)
    return heard


def _stun_requests(connection: aioice.ice.Connection) -> int:
    counter: Optional[list[int]] = connection.__dict__.get(_STUN_REQUESTS)
    if counter is None:
        counter = connection.__dict__[_STUN_REQUESTS] = [0]
        original = connection.request_received
        count = counter

        def counted(message: aioice.stun.Message, addr: tuple[str, int],
                    protocol: aioice.ice.StunProtocol) -> None:
            count[0] += 1
            original(message, addr, protocol)

        replace(connection, "request_received", counted)
    return counter[0]
