"""One RTCP loop per subscriber connection for all its forwarding senders' reports.

Written against aiortc 1.16.0. Stands in for what `aiortc.RTCRtpSender._run_rtcp` sends per
sender (an SR and an SDES CNAME every 0.5–1.5 s, from a loop of its own: timer, SRTCP protect
and `sendto` each), for the senders media/aiortc/sender.py drives; a class of N has N²
senders. Here a connection (one `RTCDtlsTransport`, where the reports are kept in the
instance's `__dict__`) has one such loop, and each round goes out as a few compound packets:
the SRs, then one SDES with their CNAME chunks, through media/aiortc/dtls_send.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from typing import TYPE_CHECKING, Optional

from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RTCP_SDES, pack_rtcp_packet

from ..lifecycle import cancel_and_wait
from . import dtls_send

if TYPE_CHECKING:
    from .sender import ForwardingSender

logger = logging.getLogger(__name__)

# Compound RTCP packets stay under a datagram that needs no fragmentation (SRTCP adds 14 bytes).
MAX_COMPOUND_BYTES = 1200
# An SDES packet counts its chunks in 5 bits.
MAX_SDES_CHUNKS = 31
SDES_CNAME = 1
RTCP_HEADER_BYTES = 4
# An SR's body without report blocks: SSRC, NTP time, RTP time, packets and octets sent.
SENDER_INFO = struct.Struct("!LQLLL")
# The RTCDtlsTransport attribute holding its SenderReports.
_REPORTS = "_aula_sender_reports"


class SenderReports:
    """The sender reports of every forwarding sender on one DTLS transport, sent together."""

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self._senders: dict[int, "ForwardingSender"] = {}
        self._task: Optional[asyncio.Task[None]] = None

    @staticmethod
    def of(dtls: RTCDtlsTransport) -> "SenderReports":
        reports: Optional[SenderReports] = dtls.__dict__.get(_REPORTS)
        if reports is None:
            reports = dtls.__dict__[_REPORTS] = SenderReports(dtls)
        return reports

    def add(self, sender: "ForwardingSender") -> None:
        self._senders[sender.ssrc] = sender
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def remove(self, sender: "ForwardingSender") -> None:
        """The last sender removed ends the loop (and waits for it)."""
        self._senders.pop(sender.ssrc, None)
        if not self._senders and self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)

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
        dtls_send.send_protected(self._dtls, b"".join(reports) + sdes, rtcp=True)
