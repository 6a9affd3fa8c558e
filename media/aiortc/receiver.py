"""A publisher's receiver that hands every RTP packet to the SFU, and decodes nothing.

Written against aiortc 1.16.0. Wraps, on one `aiortc.RTCRtpReceiver` instance, its methods
`receive` (to learn the negotiated codecs and RTX SSRCs, then stop the decoder thread with the
private `_RTCRtpReceiver__stop_decoder`) and `_handle_rtp_packet`; where aiortc never sees the
packets, replaces `_run_rtcp` (setting `_RTCRtpReceiver__rtcp_started` and
`_RTCRtpReceiver__rtcp_exited` as aiortc's loop does). `_give_feedback` is a copy of
`RTCRtpReceiver._handle_rtp_packet` up to its NACKs: it reads `_enabled`,
`_RTCRtpReceiver__remote_bitrate_estimator`, `_RTCRtpReceiver__rtcp_ssrc`,
`_RTCRtpReceiver__active_ssrc`, `_RTCRtpReceiver__remote_streams` and
`_RTCRtpReceiver__nack_generator`, and sends with `_send_rtcp` and `_send_rtcp_nack`;
`request_keyframe` calls `_send_rtcp_pli`. aiortc receives by decoding; an SFU forwards what
it receives, so the depayloader, jitter buffer and decoder are a tenth of its time for nothing,
while the feedback the publisher hears back (REMB, receiver reports, NACKs) stays aiortc's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional, cast

from aiortc import RTCRtpReceiver, clock
from aiortc.codecs import is_rtx
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci, unwrap_rtx

from .. import bitrate_estimator
from ..lifecycle import until_cancelled
from ._patch import replace
from .dtls_receive import COUNT_RTP, HANDLE_RTP_NOW, CountRtp, receive_rtp_directly

logger = logging.getLogger(__name__)

# Called synchronously for every media packet: no coroutine per packet on the hot path.
PacketHandler = Callable[[RtpPacket, RTCRtpCodecParameters], None]


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
    (media/aiortc/dtls_receive.py); decoding receivers go on through aiortc's coroutine.

    With `authenticate_every=n` (load clients, `process=False`), once the receiver's SSRC is
    known only every n-th packet is authenticated, parsed and given to `on_packet`; the others are
    counted from their RTP header, which SRTP leaves in clear, by `on_unauthenticated(size)`.
    """
    parameters = ReceiveParameters()
    original_receive = receiver.receive
    original_handle = receiver._handle_rtp_packet

    async def receive(params: RTCRtpReceiveParameters) -> None:
        for codec in params.codecs:
            if codec.payloadType is not None:
                parameters.codecs[codec.payloadType] = codec
        for encoding in params.encodings:
            if encoding.rtx:
                parameters.rtx_ssrc_to_media_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        await original_receive(params)
        if not decode:
            getattr(receiver, "_RTCRtpReceiver__stop_decoder")()

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

    replace(receiver, "receive", receive)
    replace(receiver, "_handle_rtp_packet", handle_rtp_packet)
    if not process:
        replace(receiver, "_run_rtcp", lambda: _quiet_rtcp(receiver))
    if not decode:
        receiver.__dict__[HANDLE_RTP_NOW] = handle_rtp_now
    if authenticate_every > 1:
        assert not process and on_unauthenticated is not None
        receiver.__dict__[COUNT_RTP] = _counter(authenticate_every, on_unauthenticated)
        receiver.transport.__dict__[COUNT_RTP] = True  # look for counters on this transport
    receive_rtp_directly(receiver.transport)
    return parameters


async def _quiet_rtcp(receiver: RTCRtpReceiver) -> None:
    """Stands in for `RTCRtpReceiver._run_rtcp` where aiortc never sees the packets: with no
    statistics there is no receiver report to send, and aiortc's loop would wake every second to
    find none (a load client's fifty-odd receivers: thousands of wake-ups a second)."""
    _event(receiver, "_RTCRtpReceiver__rtcp_started").set()
    await until_cancelled()
    _event(receiver, "_RTCRtpReceiver__rtcp_exited").set()


def _event(receiver: RTCRtpReceiver, name: str) -> asyncio.Event:
    return cast(asyncio.Event, getattr(receiver, name))


def _counter(authenticate_every: int, on_unauthenticated: Callable[[int], None]) -> CountRtp:
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
    estimator: Optional[RemoteBitrateEstimator] = getattr(
        receiver, "_RTCRtpReceiver__remote_bitrate_estimator")
    if estimator is not None and packet.extensions.abs_send_time is not None:
        remb = estimator.add(
            abs_send_time=packet.extensions.abs_send_time,
            arrival_time_ms=arrival_time_ms,
            payload_size=len(packet.payload) + packet.padding_size,
            ssrc=packet.ssrc,
        )
        rtcp_ssrc: Optional[int] = getattr(receiver, "_RTCRtpReceiver__rtcp_ssrc")
        if (rtcp_ssrc is not None and remb is not None
                and parameters.remb_pacer.should_send(remb[0], arrival_time_ms)):
            asyncio.ensure_future(receiver._send_rtcp(
                RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                               fci=pack_remb_fci(*remb))
            ))
    getattr(receiver, "_RTCRtpReceiver__active_ssrc")[packet.ssrc] = clock.current_datetime()
    if codec is None:
        return
    streams: dict[int, StreamStatistics] = getattr(receiver, "_RTCRtpReceiver__remote_streams")
    statistics = streams.get(packet.ssrc)
    if statistics is None:
        statistics = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
    statistics.add(packet)
    nack_generator: Optional[NackGenerator] = getattr(receiver, "_RTCRtpReceiver__nack_generator")
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


def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI to the publisher of `media_ssrc` through its receiver."""
    asyncio.ensure_future(receiver._send_rtcp_pli(media_ssrc))
