"""An RTCRtpSender whose packets come already encoded from the SFU.

Written against aiortc 1.16.0. Replaces, on one `aiortc.RTCRtpSender` instance, its methods
`send` (wrapped: aiortc's runs, then the sender's negotiated parameters and transport are
read), `_handle_rtcp_packet` (NACKs and PLI/FIR go to the SFU; receiver reports and REMB stay
aiortc's) and `_run_rtcp` (no per-sender loop: media/aiortc/sender_reports.py sends the
connection's reports together; on stop, aiortc's BYE through `_send_rtcp`). It sets
`_RTCRtpSender__rtcp_started` and `_RTCRtpSender__rtcp_exited` as aiortc's loop does (`stop`
waits for both), reads `_ssrc`, `_rtx_ssrc` and `_RTCRtpSender__cname`, and writes what an SR
reported into `_RTCRtpSender__ntp_timestamp`, `__rtp_timestamp`, `__packet_count`,
`__octet_count`, `__lsr` and `__lsr_time`, from which aiortc's `_handle_rtcp_packet` measures
the round-trip time. aiortc sends by encoding; an SFU forwards, so the sender's own RTP loop
idles on a track that never yields (media/sender_slot.py).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Callable, Optional

from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTCP_SR,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    pack_rtcp_packet,
    padl,
)

from .._packet_sender import Outlet
from ..lifecycle import until_cancelled
from . import dtls_send
from ._patch import replace
from .sender_reports import SDES_CNAME, SENDER_INFO, SenderReports

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


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
        replace(sender, "send", self._send)
        replace(sender, "_handle_rtcp_packet", self._handle_rtcp_packet)
        replace(sender, "_run_rtcp", self._run_rtcp)
        self._reported_packet_count = 0
        self._cname_chunk: Optional[bytes] = None

    async def _send(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        assert codec.payloadType is not None, "aiortc negotiates a payload type for each codec"
        rtx_payload_type = None
        for candidate in parameters.codecs:
            if is_rtx(candidate) and candidate.parameters.get("apt") == codec.payloadType:
                rtx_payload_type = candidate.payloadType
        await self._original_send(parameters)
        # By now the sender has its transport for good (BUNDLE may have replaced the first).
        self.outlet.link = dtls_send.link_of(self.sender.transport)
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
        getattr(sender, "_RTCRtpSender__rtcp_started").set()
        reports = SenderReports.of(sender.transport)
        reports.add(self)
        try:
            await until_cancelled()
        finally:
            await reports.remove(self)
        await sender._send_rtcp([RtcpByePacket(sources=[self.ssrc])])
        getattr(sender, "_RTCRtpSender__rtcp_exited").set()

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
        setattr(sender, "_RTCRtpSender__ntp_timestamp", outlet.ntp_time)
        setattr(sender, "_RTCRtpSender__rtp_timestamp", outlet.rtp_timestamp)
        setattr(sender, "_RTCRtpSender__packet_count", packet_count)
        setattr(sender, "_RTCRtpSender__octet_count", outlet.octets_sent)
        setattr(sender, "_RTCRtpSender__lsr", (outlet.ntp_time >> 16) & 0xFFFFFFFF)
        setattr(sender, "_RTCRtpSender__lsr_time", time.time())
        return pack_rtcp_packet(RTCP_SR, 0, SENDER_INFO.pack(
            self.ssrc, outlet.ntp_time, outlet.rtp_timestamp,
            packet_count & 0xFFFFFFFF, outlet.octets_sent & 0xFFFFFFFF))

    def cname_chunk(self) -> bytes:
        """This sender's SDES chunk: its CNAME (aiortc's, per connection), then two null octets
        (aiortc's parser reads them as an item) and padding to 32 bits, as RFC 3550 wants of
        every chunk of a multi-chunk SDES. Built once: neither SSRC nor CNAME changes."""
        if self._cname_chunk is None:
            cname: str = getattr(self.sender, "_RTCRtpSender__cname")
            encoded = cname.encode("utf8")
            chunk = struct.pack("!LBB", self.ssrc, SDES_CNAME, len(encoded)) + encoded + bytes(2)
            self._cname_chunk = chunk + bytes(padl(len(chunk)))
        return self._cname_chunk

    def send_rtp(self, data: bytes) -> bool:
        """Send one serialised RTP packet (a retransmission: the fan-out queues the rest);
        False while not connected (media/aiortc/dtls_send.py)."""
        return dtls_send.send_protected(self.sender.transport, data, rtcp=False)
