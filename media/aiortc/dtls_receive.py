"""SRTP packets handed to their receiver as they come off the socket.

Written against aiortc 1.16.0 (aioice 0.13.0). Does, synchronously, for one SRTP packet, what
`aiortc.rtcdtlstransport.RTCDtlsTransport._recv_next` and `RTCDtlsTransport._handle_rtp_data`
do: count it (the private counters `_RTCDtlsTransport__rx_bytes` and
`_RTCDtlsTransport__rx_packets`), unprotect it with `RTCDtlsTransport._rx_srtp`, parse it with
`RTCDtlsTransport._rtp_header_extensions_map`, route it with `RTCDtlsTransport._rtp_router`
(`RtpRouter.route_rtp`, `RtpRouter.ssrc_table`) and hand it to the receiver. aiortc queues each
datagram and has a coroutine chain five deep (`_recv_next` ...) take it off the queue on a later
loop iteration, and aioice first tries to parse every datagram as STUN: that was over half of
what receiving a packet cost. The handler sits on the DTLS transport's aioice Connection
(`RTCIceTransport._connection`), where media/aiortc/datagrams.py looks for it. DTLS, STUN and
SRTCP keep aiortc's path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional

import pylibsrtp
from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpReceiver
from aiortc.rtp import RtpPacket, is_rtcp

from .datagrams import RTP_HANDLER

logger = logging.getLogger(__name__)

# The receiver attribute holding a synchronous packet handler (packet, arrival time in ms),
# where media/aiortc/receiver.py set one; receivers without take aiortc's coroutine.
HANDLE_RTP_NOW = "_aula_handle_rtp_now"
HandleRtpNow = Callable[[RtpPacket, int], None]
# ... and the one counting packets it does not authenticate (load clients): True, counted
# only. On their RTCDtlsTransport, that some receiver of it counts.
COUNT_RTP = "_aula_count_rtp"
CountRtp = Callable[[bytes], bool]


def receive_rtp_directly(dtls: RTCDtlsTransport) -> None:
    """SRTP packets arriving on `dtls` are unprotected, parsed and handed to their receiver as
    they come off the socket."""
    connection = dtls.transport._connection
    if RTP_HANDLER not in connection.__dict__:
        connection.__dict__[RTP_HANDLER] = lambda data: _receive_rtp(dtls, data)


def _receive_rtp(dtls: RTCDtlsTransport, data: bytes) -> bool:
    """aiortc's `RTCDtlsTransport._recv_next` for one SRTP packet, synchronously. False: not
    one for this path (SRTCP, or before the keys are agreed); aiortc's queue takes it."""
    srtp = dtls._rx_srtp
    if srtp is None or is_rtcp(data):
        return False
    setattr(dtls, "_RTCDtlsTransport__rx_bytes",
            getattr(dtls, "_RTCDtlsTransport__rx_bytes") + len(data))
    setattr(dtls, "_RTCDtlsTransport__rx_packets",
            getattr(dtls, "_RTCDtlsTransport__rx_packets") + 1)
    if COUNT_RTP in dtls.__dict__:  # load clients only: the server never counts
        known = dtls._rtp_router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
        count: Optional[CountRtp] = known.__dict__.get(COUNT_RTP) if known is not None else None
        if count is not None and count(data):
            return True
    arrival_time_ms = clock.current_ms()
    try:
        packet = RtpPacket.parse(srtp.unprotect(data), dtls._rtp_header_extensions_map)
    except (pylibsrtp.Error, ValueError):
        return True  # aiortc drops what fails authentication or parsing, as here
    receiver: Optional[RtpReceiver] = dtls._rtp_router.route_rtp(packet)
    if receiver is None:
        return True
    handle_now: Optional[HandleRtpNow] = receiver.__dict__.get(HANDLE_RTP_NOW)
    if handle_now is None:
        asyncio.ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms))
        return True
    try:
        handle_now(packet, arrival_time_ms)
    except Exception:
        logger.exception("receiving a packet failed")
    return True
