"""What a DTLS transport sends goes out on the packet sender's thread, SRTP-protected there.

Written against aiortc 1.16.0 (aioice 0.13.0). Replaces, on one
`aiortc.rtcdtlstransport.RTCDtlsTransport` instance, its method `_send_rtp` (aiortc's path,
`RTCDtlsTransport._send_rtp` → `RTCIceTransport._send` (aioice `Connection.send`) →
`StunProtocol.send_data`, is four coroutines deep for one `sendto`, and protects on the loop).
Reads `RTCDtlsTransport._state` (`aiortc.rtcdtlstransport.State`), `RTCDtlsTransport._tx_srtp`
(the pylibsrtp session handed to the thread, which must then be its only user),
`RTCIceTransport._connection`, aioice `Connection._nominated`, `CandidatePair.protocol`,
`CandidatePair.remote_addr` and `StunProtocol.transport` (its socket), and follows the
transport's "statechange" event. A `Link` (media/_packet_sender.c) holds the transport's
current destination, which the fan-out reads.
"""

from __future__ import annotations

from typing import Optional

from aiortc.rtcdtlstransport import RTCDtlsTransport, State as DtlsState
from aiortc.rtp import is_rtcp

from .. import packet_sender
from .._packet_sender import Destination, Link
from ._patch import replace

# The RTCDtlsTransport attributes holding its Link, the nominated pair its destination was
# made for, and the flag saying all its sends go through the packet sender.
_LINK = "_aula_link"
_ROUTED_PAIR = "_aula_routed_pair"
_SENDS_THROUGH_THREAD = "_aula_sends_through_thread"


def send_protected(dtls: RTCDtlsTransport, data: bytes, rtcp: bool) -> bool:
    """Queue `data` for SRTP protection and sending on the packet sender's thread; False while
    `dtls` is not connected."""
    to = _route(dtls)
    if to is None:
        return False
    packet_sender.shared().send(to, data, rtcp)
    return True


def link_of(dtls: RTCDtlsTransport) -> Link:
    """`dtls`'s Link, which the fan-out reads: its current destination, set while it is
    connected (from here on, and from the statechange events)."""
    send_through_packet_sender(dtls)
    _route(dtls)
    return _link(dtls)


def _link(dtls: RTCDtlsTransport) -> Link:
    link: Optional[Link] = dtls.__dict__.get(_LINK)
    if link is None:
        link = dtls.__dict__[_LINK] = Link()
    return link


def _route(dtls: RTCDtlsTransport) -> Optional[Destination]:
    """Where `dtls`'s packets go now (None while not connected), made anew when the nominated
    candidate pair is not the one it was made for."""
    if dtls._state is not DtlsState.CONNECTED:
        return None
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None or pair.protocol.transport is None:
        return None
    link = _link(dtls)
    if dtls.__dict__.get(_ROUTED_PAIR) is not pair or link.destination is None:
        host, port = pair.remote_addr[:2]
        fd = pair.protocol.transport.get_extra_info("socket").fileno()
        link.destination = packet_sender.destination(dtls._tx_srtp, fd, host, port)
        dtls.__dict__[_ROUTED_PAIR] = pair
        send_through_packet_sender(dtls)
    return link.destination


def send_through_packet_sender(dtls: RTCDtlsTransport) -> None:
    """From now on what aiortc itself sends on `dtls` (RTP, RTCP: a sender's BYE, a load
    client's media) takes the packet sender's thread too, once connected: the thread must be
    the only user of the connection's SRTP session once it has used it."""
    if _SENDS_THROUGH_THREAD in dtls.__dict__:
        return
    dtls.__dict__[_SENDS_THROUGH_THREAD] = True

    async def send_rtp(data: bytes) -> None:
        if not send_protected(dtls, data, rtcp=is_rtcp(data)):
            raise ConnectionError("Cannot send encrypted RTP, not connected")

    replace(dtls, "_send_rtp", send_rtp)

    @dtls.on("statechange")
    def follow_state() -> None:
        if dtls.state == "connected":
            _route(dtls)  # the fan-out sends from now on
        elif dtls.state in ("closed", "failed"):
            # The socket closes once its last queued packet is out, not whenever the garbage
            # collector frees the closed connection.
            _link(dtls).destination = None
            dtls.__dict__.pop(_ROUTED_PAIR, None)
            packet_sender.shared().release_finished()
