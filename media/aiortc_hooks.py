"""The one place that reaches into aiortc's (and aioice's) private internals.

aiortc receives by decoding and sends by encoding; an SFU must do neither per subscriber. These
hooks let the SFU see every RTP packet a receiver gets before its jitter buffer, and put
already-encoded RTP packets on a sender's transport, while aiortc keeps doing ICE, DTLS, SRTP,
RTCP receiver reports, REMB and NACK generation. aiortc is pinned (pyproject.toml) and every
hook here is covered by tests/media: upgrading aiortc means re-reading
`RTCRtpReceiver._handle_rtp_packet`, `RTCRtpReceiver._run_rtcp`, `RTCRtpSender.send`,
`RTCRtpSender._run_rtp`, `RTCRtpSender._run_rtcp`, `RTCDtlsTransport._recv_next`,
`RTCPeerConnection.setRemoteDescription` (it must parse before its first await) and aioice's
`Connection.query_consent` and `StunProtocol.datagram_received`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import aioice.ice
import aioice.stun
import aiortc.rate
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription, clock
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport, State as DtlsState
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.sdp import SessionDescription
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTCP_SDES,
    RTCP_SR,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    is_rtcp,
    pack_remb_fci,
    pack_rtcp_packet,
    padl,
    unwrap_rtx,
)

from . import bitrate_estimator, packet_sender
from ._packet_sender import Destination, Link, Outlet

logger = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

# Called synchronously for every media packet: no coroutine per packet on the hot path.
PacketHandler = Callable[[RtpPacket, RTCRtpCodecParameters], None]


def use_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offer exactly these addresses as ICE host candidates (aioice skips loopback otherwise).

    Process-wide, as aioice reads interfaces from a module function. Empty restores aioice's
    default: every non-loopback interface.
    """
    if addresses:
        chosen = list(addresses)
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(chosen)
    else:
        aioice.ice.get_host_addresses = _AIOICE_HOST_ADDRESSES


_AIOICE_HOST_ADDRESSES = aioice.ice.get_host_addresses

# aiortc builds a RemoteBitrateEstimator for every video receiver, also on each of the ~60
# sendonly m-lines of a subscriber connection, which never receive anything: its 1,000 rate
# buckets cost 0.8 ms and 1,000 objects each (a class of 30 held ~1.8 M of them, and each full
# GC pass walked them all, holding the loop 100+ ms). Every estimator is built from the
# replacements in bitrate_estimator.py instead (the same REMB values, for less work).
AIORTC_RATE_COUNTER, AIORTC_OVERUSE_ESTIMATOR = aiortc.rate.RateCounter, aiortc.rate.OveruseEstimator
aiortc.rate.RateCounter = bitrate_estimator.WindowRateCounter  # type: ignore[misc, assignment]
aiortc.rate.OveruseEstimator = bitrate_estimator.FastOveruseEstimator  # type: ignore[misc]

# RFC 7675: consent expires 30 s after the last answered check.
CONSENT_EXPIRY_S = 30.0
# Each check is sent again at 0.5 s and 1.5 s (aioice's RTO doubling): answered within 3.5 s.
CONSENT_RETRANSMISSIONS = 2


async def _query_consent(self: aioice.ice.Connection) -> None:
    """aioice's consent freshness, expiring as RFC 7675 says: 30 s after the last check that was
    answered. aioice gives each check one try of 0.5 s and gives up after 6 misses in a row, so
    an event loop busy for half a second at each check (the peer's or this one's) ends a healthy
    connection: under load, a class's instructor was dropped that way."""
    assert self.remote_password is not None
    answered_at = time.monotonic()
    unanswered: Optional[aioice.stun.TransactionError] = None
    while True:
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in self._nominated.values():
            try:
                await pair.protocol.request(
                    self.build_request(pair, nominate=False), pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS)
                answered_at = time.monotonic()
            except aioice.stun.TransactionError as exc:
                unanswered = exc
        if time.monotonic() - answered_at >= CONSENT_EXPIRY_S:
            logger.warning("ICE consent expired (%s): no check answered for %.0f s, the last "
                           "%s; closing the connection", self.local_username,
                           time.monotonic() - answered_at, _describe(unanswered))
            self._query_consent_task = None
            await self.close()
            return


def _describe(error: Optional[aioice.stun.TransactionError]) -> str:
    if isinstance(error, aioice.stun.TransactionFailed):
        return f"refused: {error.response.attributes.get('ERROR-CODE')}"
    return "timed out" if error is not None else "-"


aioice.ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]


async def set_remote_description(pc: RTCPeerConnection, sdp: str, sdp_type: str,
                                 parsed: SessionDescription) -> None:
    """`pc.setRemoteDescription` without parsing `sdp` again: the SFU parsed it to check it, and
    aiortc's parser takes ~6 ms for a subscriber answer with 60 m-lines (one per student joining
    or leaving, for everyone in the class). aiortc parses first thing, before any await."""
    global _parsed_handover
    _parsed_handover = (sdp, parsed)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
    finally:
        _parsed_handover = None


_parsed_handover: Optional[tuple[str, SessionDescription]] = None
_AIORTC_PARSE = SessionDescription.parse.__func__  # type: ignore[attr-defined]


def _parse_once(cls: type[SessionDescription], sdp: str) -> SessionDescription:
    global _parsed_handover
    if _parsed_handover is not None and _parsed_handover[0] is sdp:
        parsed, _parsed_handover = _parsed_handover[1], None
        return parsed
    return _AIORTC_PARSE(cls, sdp)


SessionDescription.parse = classmethod(_parse_once)  # type: ignore[method-assign, assignment]


def size_receive_buffers(pc: RTCPeerConnection, size: int) -> None:
    """Enlarge the UDP receive buffers of a connection's ICE sockets (capped by rmem_max), so
    a burst of video survives while the event loop is busy elsewhere."""
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        for protocol in connection._protocols:
            transport = protocol.transport
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


@dataclass
class ReceiveParameters:
    codecs: dict[int, RTCRtpCodecParameters] = field(default_factory=dict)
    rtx_ssrc_to_media_ssrc: dict[int, int] = field(default_factory=dict)
    remb_pacer: bitrate_estimator.RembPacer = field(default_factory=bitrate_estimator.RembPacer)


def tap_receiver(
    receiver: RTCRtpReceiver, on_packet: PacketHandler, decode: bool, process: bool = True,
    authenticate_every: int = 1, on_unauthenticated: Optional[Callable[[int], None]] = None,
) -> ReceiveParameters:
    """Call `on_packet` with every media packet (RTX unwrapped) before aiortc handles it.

    With `decode=False` aiortc's decoder thread is stopped once started and packets only feed
    what the sender hears back (statistics for receiver reports, REMB, NACKs: `_give_feedback`),
    never the depayloader and jitter buffer whose frames only a decoder would take. With
    `process=False` aiortc never sees the packets at all (load clients that only count them).
    Either way the packet is handled synchronously, as it comes off the socket
    (`_receive_rtp`); decoding receivers go on through aiortc's coroutine.

    With `authenticate_every=n` (load clients, `process=False`), once the receiver's SSRC is
    known only every n-th packet is authenticated, parsed and given to `on_packet`; the others are
    counted from their RTP header, which SRTP leaves in clear, by `on_unauthenticated(size)`.
    """
    parameters = ReceiveParameters()
    original_receive = receiver.receive
    original_handle = receiver._handle_rtp_packet

    async def receive(params: RTCRtpReceiveParameters) -> None:
        for codec in params.codecs:
            parameters.codecs[codec.payloadType] = codec
        for encoding in params.encodings:
            if encoding.rtx:
                parameters.rtx_ssrc_to_media_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        await original_receive(params)
        if not decode:
            receiver._RTCRtpReceiver__stop_decoder()  # type: ignore[attr-defined]

    def deliver(packet: RtpPacket) -> tuple[Optional[RTCRtpCodecParameters], Optional[RtpPacket]]:
        codec = parameters.codecs.get(packet.payload_type)
        media: Optional[RtpPacket] = None
        if codec is not None:
            media = packet
            if is_rtx(codec):
                media = _unwrap(packet, codec, parameters)
            if media is not None and media.payload:
                try:
                    on_packet(media, parameters.codecs[media.payload_type])
                except Exception:
                    logger.exception("packet handler failed")
        return codec, media

    def handle_rtp_now(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec, media = deliver(packet)
        if process:
            _give_feedback(receiver, parameters, packet, codec, media, arrival_time_ms)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if decode:
            deliver(packet)
            await original_handle(packet, arrival_time_ms)
        else:
            handle_rtp_now(packet, arrival_time_ms)

    receiver.receive = receive  # type: ignore[method-assign]
    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
    if not process:
        receiver._run_rtcp = lambda: _quiet_rtcp(receiver)  # type: ignore[method-assign]
    if not decode:
        receiver.__dict__[_HANDLE_RTP_NOW] = handle_rtp_now
    if authenticate_every > 1:
        assert not process and on_unauthenticated is not None
        receiver.__dict__[_COUNT_RTP] = _counter(authenticate_every, on_unauthenticated)
        receiver.transport.__dict__[_COUNT_RTP] = True  # look for counters on this transport
    _receive_rtp_directly(receiver.transport)
    return parameters


async def _quiet_rtcp(receiver: RTCRtpReceiver) -> None:
    """Stands in for `RTCRtpReceiver._run_rtcp` where aiortc never sees the packets: with no
    statistics there is no receiver report to send, and aiortc's loop would wake every second to
    find none (a load client's fifty-odd receivers: thousands of wake-ups a second)."""
    receiver._RTCRtpReceiver__rtcp_started.set()  # type: ignore[attr-defined]
    await _until_cancelled()
    receiver._RTCRtpReceiver__rtcp_exited.set()  # type: ignore[attr-defined]


async def _until_cancelled() -> None:
    """What stands in for an aiortc RTCP loop waits for: `stop()` cancelling it."""
    try:
        await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError:
        pass


def _counter(authenticate_every: int, on_unauthenticated: Callable[[int], None]) -> Callable[[bytes], bool]:
    seen = 0

    def count(data: bytes) -> bool:
        """True: counted only; False: authenticate and hand on this one."""
        nonlocal seen
        seen += 1
        if seen % authenticate_every == 0:
            return False
        on_unauthenticated(len(data))
        return True

    return count


# The receiver attribute holding a synchronous packet handler, where tap_receiver set one.
_HANDLE_RTP_NOW = "_aula_handle_rtp_now"
# ... and the one counting packets it does not authenticate (load clients); on their
# RTCDtlsTransport, that some receiver of it counts.
_COUNT_RTP = "_aula_count_rtp"
# The aioice Connection attribute holding `_receive_rtp` for its DTLS transport.
_RTP_HANDLER = "_aula_rtp_handler"


def _receive_rtp_directly(dtls: RTCDtlsTransport) -> None:
    """SRTP packets arriving on `dtls` are unprotected, parsed and handed to their receiver as
    they come off the socket. aiortc queues each datagram and has a coroutine chain five deep
    (`RTCDtlsTransport._recv_next` ...) take it off the queue on a later loop iteration, and
    aioice first tries to parse every datagram as STUN: that was over half of what receiving a
    packet cost. DTLS, STUN and SRTCP keep aiortc's path."""
    connection = dtls.transport._connection
    if _RTP_HANDLER not in connection.__dict__:
        connection.__dict__[_RTP_HANDLER] = lambda data: _receive_rtp(dtls, data)


def _receive_rtp(dtls: RTCDtlsTransport, data: bytes) -> bool:
    """aiortc's `RTCDtlsTransport._recv_next` for one SRTP packet, synchronously. False: not
    one for this path (SRTCP, or before the keys are agreed); aiortc's queue takes it."""
    srtp = dtls._rx_srtp
    if srtp is None or is_rtcp(data):
        return False
    dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
    dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
    if _COUNT_RTP in dtls.__dict__:  # load clients only: the server never counts
        known = dtls._rtp_router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
        count = known.__dict__.get(_COUNT_RTP) if known is not None else None
        if count is not None and count(data):
            return True
    arrival_time_ms = clock.current_ms()
    try:
        packet = RtpPacket.parse(srtp.unprotect(data), dtls._rtp_header_extensions_map)
    except (pylibsrtp.Error, ValueError):
        return True  # aiortc drops what fails authentication or parsing, as here
    receiver = dtls._rtp_router.route_rtp(packet)
    if receiver is None:
        return True
    handle_now = receiver.__dict__.get(_HANDLE_RTP_NOW)
    if handle_now is None:
        asyncio.ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms))
        return True
    try:
        handle_now(packet, arrival_time_ms)
    except Exception:
        logger.exception("receiving a packet failed")
    return True


_AIOICE_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received


def _datagram_received(self: aioice.ice.StunProtocol, data: bytes, addr: tuple[object, ...]) -> None:
    _handle_datagram(self, data, addr)
    drain: Optional[_Drain] = self.__dict__.get(_DRAIN)
    if drain is not None and drain.due():
        drain.run(self)


def _handle_datagram(self: aioice.ice.StunProtocol, data: bytes, addr: tuple[object, ...]) -> None:
    # RFC 7983: a first byte of 128-191 is RTP or RTCP, never STUN (0-3) nor DTLS (20-63).
    if data and 127 < data[0] < 192:
        handler = self.receiver.__dict__.get(_RTP_HANDLER)
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
    _AIOICE_DATAGRAM_RECEIVED(self, data, addr)


aioice.ice.StunProtocol.datagram_received = _datagram_received  # type: ignore[method-assign]

# The aioice StunProtocol attribute holding its _Drain.
_DRAIN = "_aula_drain"
# libuv (uvloop) reads at most 32 datagrams from a socket per loop iteration: a socket that has
# handed over this many in one iteration is likely to hold more.
DRAIN_AFTER = 16
# What one drain reads at most, before the loop's other work has a turn.
DRAIN_BATCH = 256
MAX_DATAGRAM_BYTES = 2048


def drain_receive_sockets(pc: RTCPeerConnection) -> None:
    """From now on a socket of `pc`'s that is busy is read empty (up to DRAIN_BATCH) when uvloop
    has handed over DRAIN_AFTER of its datagrams in one loop iteration. uvloop reads at most 32
    datagrams per socket per iteration, whatever the socket's rate: in one process holding fifty
    load clients, an instructor's subscriber socket, receiving seven times a student's rate,
    filled up and dropped even the answers to its ICE consent checks, until its connection
    expired. Load clients only: a browser, or a server socket per publisher, has no such
    neighbours."""
    loop = asyncio.get_running_loop()
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        for protocol in connection._protocols:
            transport = protocol.transport
            if transport is not None and _DRAIN not in protocol.__dict__:
                protocol.__dict__[_DRAIN] = _Drain(loop, transport.get_extra_info("socket").fileno())


class _Drain:
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


def _give_feedback(
    receiver: RTCRtpReceiver,
    parameters: ReceiveParameters,
    packet: RtpPacket,
    codec: Optional[RTCRtpCodecParameters],
    media: Optional[RtpPacket],
    arrival_time_ms: int,
) -> None:
    """aiortc's `RTCRtpReceiver._handle_rtp_packet` up to its NACKs, and no further.

    What the publisher hears back stays aiortc's (REMB from its bitrate estimator, paced as
    libwebrtc paces it, statistics for receiver reports, NACKs for gaps); the depayloading and
    jitter buffer that follow only assemble frames for the decoder, stopped here, and were a
    tenth of the SFU's time. The RTCP it sends goes out on a task of its own (rarely: a REMB a
    second, a NACK per gap).
    `media` is `packet` with RTX unwrapped (None if it could not be).
    """
    if not receiver._enabled:
        return
    estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
    if estimator is not None and packet.extensions.abs_send_time is not None:
        remb = estimator.add(
            abs_send_time=packet.extensions.abs_send_time,
            arrival_time_ms=arrival_time_ms,
            payload_size=len(packet.payload) + packet.padding_size,
            ssrc=packet.ssrc,
        )
        rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        if (rtcp_ssrc is not None and remb is not None
                and parameters.remb_pacer.should_send(remb[0], arrival_time_ms)):
            asyncio.ensure_future(receiver._send_rtcp(
                RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                               fci=pack_remb_fci(*remb))
            ))
    receiver._RTCRtpReceiver__active_ssrc[packet.ssrc] = clock.current_datetime()  # type: ignore[attr-defined]
    if codec is None:
        return
    streams = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    statistics = streams.get(packet.ssrc)
    if statistics is None:
        statistics = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
    statistics.add(packet)
    nack_generator = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
    if media is not None and nack_generator is not None and nack_generator.add(media):
        asyncio.ensure_future(receiver._send_rtcp_nack(media.ssrc, sorted(nack_generator.missing)))


def _unwrap(
    packet: RtpPacket, codec: RTCRtpCodecParameters, parameters: ReceiveParameters
) -> Optional[RtpPacket]:
    media_ssrc = parameters.rtx_ssrc_to_media_ssrc.get(packet.ssrc)
    apt = codec.parameters.get("apt")
    if media_ssrc is None or not isinstance(apt, int) or apt not in parameters.codecs:
        return None
    if len(packet.payload) < 2:
        return None
    return unwrap_rtx(packet, payload_type=apt, ssrc=media_ssrc)


def dtls_transports(pc: RTCPeerConnection) -> list[RTCDtlsTransport]:
    return list(pc._RTCPeerConnection__dtlsTransports)  # type: ignore[attr-defined]


def datagrams_heard(pc: RTCPeerConnection) -> int:
    """How many datagrams `pc` has had from its remote peer: DTLS, SRTP and SRTCP (aiortc's
    transport counter) and STUN requests (counted from the first call on: consent checks keep
    coming from a live peer that sends no media)."""
    heard = 0
    for dtls in dtls_transports(pc):
        heard += dtls._RTCDtlsTransport__rx_packets
        heard += _stun_requests(dtls.transport._connection)
    return heard


def _stun_requests(connection: aioice.ice.Connection) -> int:
    counter: Optional[list[int]] = connection.__dict__.get("_aula_stun_requests")
    if counter is None:
        counter = connection.__dict__["_aula_stun_requests"] = [0]
        original = connection.request_received

        def counted(*args: object) -> None:
            counter[0] += 1
            original(*args)  # type: ignore[arg-type]

        connection.request_received = counted  # type: ignore[method-assign]
    return counter[0]


def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI to the publisher of `media_ssrc` through its receiver."""
    asyncio.ensure_future(receiver._send_rtcp_pli(media_ssrc))


@dataclass
class SendParameters:
    payload_type: int
    rtx_payload_type: Optional[int]
    clock_rate: int
    mid: Optional[str]
    extension_ids: dict[str, int]


class ForwardingSender:
    """Drives an RTCRtpSender whose packets come already encoded from the SFU.

    The SFU's fan-out writes this sender's packets through its `outlet` (`_outlet.c`), which
    also counts what the sender reports say. The sender's own RTP loop idles on a track that
    never yields. Its RTCP loop only joins the connection's `SenderReports` (one loop for every
    sender of the connection) and, when the sender stops, sends aiortc's BYE.
    """

    def __init__(
        self,
        sender: RTCRtpSender,
        on_ready: Callable[[SendParameters], None],
        on_nack: Callable[[list[int]], None],
        on_keyframe_request: Callable[[], None],
    ) -> None:
        self.sender = sender
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        # Random origins (from the random SSRCs), as RFC 3550 wants of sequence and time.
        self.outlet = Outlet(self.ssrc, first_sequence=self.ssrc % 32768,
                             first_timestamp=self.rtx_ssrc)
        self._on_ready = on_ready
        self._on_nack = on_nack
        self._on_keyframe_request = on_keyframe_request
        self._original_send = sender.send
        self._original_handle_rtcp = sender._handle_rtcp_packet
        sender.send = self._send  # type: ignore[method-assign]
        sender._handle_rtcp_packet = self._handle_rtcp_packet  # type: ignore[method-assign]
        sender._run_rtcp = self._run_rtcp  # type: ignore[method-assign]
        self._reported_packet_count = 0
        self._cname_chunk: Optional[bytes] = None

    async def _send(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        rtx_payload_type = None
        for candidate in parameters.codecs:
            if is_rtx(candidate) and candidate.parameters.get("apt") == codec.payloadType:
                rtx_payload_type = candidate.payloadType
        await self._original_send(parameters)
        # By now the sender has its transport for good (BUNDLE may have replaced the first).
        self.outlet.link = link_of(self.sender.transport)
        self._on_ready(
            SendParameters(
                payload_type=codec.payloadType,
                rtx_payload_type=rtx_payload_type,
                clock_rate=codec.clockRate,
                mid=parameters.muxId,
                extension_ids={ext.uri: ext.id for ext in parameters.headerExtensions},
            )
        )

    async def _run_rtcp(self) -> None:
        """Stands in for `RTCRtpSender._run_rtcp`, which `send` starts and `stop` cancels."""
        sender = self.sender
        sender._RTCRtpSender__rtcp_started.set()  # type: ignore[attr-defined]
        reports = SenderReports.of(sender.transport)
        reports.add(self)
        try:
            await _until_cancelled()
        finally:
            reports.remove(self)
        await sender._send_rtcp([RtcpByePacket(sources=[self.ssrc])])
        sender._RTCRtpSender__rtcp_exited.set()  # type: ignore[attr-defined]

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._on_nack(list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self._on_keyframe_request()
        else:
            # Receiver reports (RTT, loss stats) and REMB stay with aiortc.
            await self._original_handle_rtcp(packet)

    def sender_report(self) -> Optional[bytes]:
        """This sender's SR, serialised; None if it sent nothing since its last one (a paused
        video, a silent microphone: RFC 3550 6.4, only who sends reports as a sender). aiortc's
        sender keeps what it reported, to measure RTT from the receiver reports that answer it."""
        outlet = self.outlet
        packet_count = outlet.packets_sent
        if packet_count == self._reported_packet_count:
            return None
        self._reported_packet_count = packet_count
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = outlet.ntp_time  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = outlet.rtp_timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count = packet_count  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count = outlet.octets_sent  # type: ignore[attr-defined]
        sender._RTCRtpSender__lsr = (outlet.ntp_time >> 16) & 0xFFFFFFFF  # type: ignore[attr-defined]
        sender._RTCRtpSender__lsr_time = time.time()  # type: ignore[attr-defined]
        return pack_rtcp_packet(RTCP_SR, 0, _SENDER_INFO.pack(
            self.ssrc, outlet.ntp_time, outlet.rtp_timestamp,
            packet_count & 0xFFFFFFFF, outlet.octets_sent & 0xFFFFFFFF))

    def cname_chunk(self) -> bytes:
        """This sender's SDES chunk: its CNAME (aiortc's, per connection), then two null octets
        (aiortc's parser reads them as an item) and padding to 32 bits, as RFC 3550 wants of
        every chunk of a multi-chunk SDES. Built once: neither SSRC nor CNAME changes."""
        if self._cname_chunk is None:
            cname = self.sender._RTCRtpSender__cname.encode("utf8")  # type: ignore[attr-defined]
            chunk = struct.pack("!LBB", self.ssrc, SDES_CNAME, len(cname)) + cname + bytes(2)
            self._cname_chunk = chunk + bytes(padl(len(chunk)))
        return self._cname_chunk

    def send_rtp(self, data: bytes) -> bool:
        """Send one serialised RTP packet (a retransmission: the fan-out queues the rest);
        False while not connected.

        aiortc's own path (`RTCDtlsTransport._send_rtp` → `RTCIceTransport._send` → aioice
        `Connection.sendto` → `protocol.send_data`) is four coroutines deep for one `sendto`.
        """
        return _send_protected(self.sender.transport, data, rtcp=False)


def _send_protected(dtls: RTCDtlsTransport, data: bytes, rtcp: bool) -> bool:
    """Queue `data` for SRTP protection and sending on the packet sender's thread; False while
    `dtls` is not connected."""
    to = _route(dtls)
    if to is None:
        return False
    packet_sender.shared().send(to, data, rtcp)
    return True


# The RTCDtlsTransport attributes holding its Link, the nominated pair its destination was
# made for, and the flag saying all its sends go through the packet sender.
_LINK = "_aula_link"
_ROUTED_PAIR = "_aula_routed_pair"
_SENDS_THROUGH_THREAD = "_aula_sends_through_thread"


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
        if not _send_protected(dtls, data, rtcp=is_rtcp(data)):
            raise ConnectionError("Cannot send encrypted RTP, not connected")

    dtls._send_rtp = send_rtp  # type: ignore[method-assign]

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


# Compound RTCP packets stay under a datagram that needs no fragmentation (SRTCP adds 14 bytes).
MAX_COMPOUND_BYTES = 1200
# An SDES packet counts its chunks in 5 bits.
MAX_SDES_CHUNKS = 31
SDES_CNAME = 1
RTCP_HEADER_BYTES = 4
# An SR's body without report blocks: SSRC, NTP time, RTP time, packets and octets sent.
_SENDER_INFO = struct.Struct("!LQLLL")


class SenderReports:
    """The sender reports of every forwarding sender on one DTLS transport (a subscriber
    connection), sent together. aiortc sends, per sender, an SR and an SDES CNAME every
    0.5–1.5 s from a loop of its own (timer, SRTCP protect and `sendto` each), and a class of N
    has N² senders. Here a connection has one such loop, and each round goes out as a few
    compound packets: the SRs, then one SDES with their CNAME chunks."""

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self._senders: dict[int, ForwardingSender] = {}
        self._task: Optional[asyncio.Task[None]] = None

    @staticmethod
    def of(dtls: RTCDtlsTransport) -> "SenderReports":
        reports: Optional[SenderReports] = dtls.__dict__.get("_aula_sender_reports")
        if reports is None:
            reports = dtls.__dict__["_aula_sender_reports"] = SenderReports(dtls)
        return reports

    def add(self, sender: ForwardingSender) -> None:
        self._senders[sender.ssrc] = sender
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def remove(self, sender: ForwardingSender) -> None:
        self._senders.pop(sender.ssrc, None)
        if not self._senders and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            try:
                self.send()
            except Exception:
                logger.exception("sender reports failed")

    def send(self) -> None:
        """One round of reports, now."""
        reports: list[bytes] = []
        chunks: list[bytes] = []
        size = RTCP_HEADER_BYTES  # the SDES packet's header
        for sender in list(self._senders.values()):
            report = sender.sender_report()
            if report is None:
                continue
            chunk = sender.cname_chunk()
            if reports and (size + len(report) + len(chunk) > MAX_COMPOUND_BYTES
                            or len(chunks) == MAX_SDES_CHUNKS):
                self._send_compound(reports, chunks)
                reports, chunks, size = [], [], RTCP_HEADER_BYTES
            reports.append(report)
            chunks.append(chunk)
            size += len(report) + len(chunk)
        if reports:
            self._send_compound(reports, chunks)

    def _send_compound(self, reports: list[bytes], chunks: list[bytes]) -> None:
        sdes = pack_rtcp_packet(RTCP_SDES, len(chunks), b"".join(chunks))
        _send_protected(self._dtls, b"".join(reports) + sdes, rtcp=True)
