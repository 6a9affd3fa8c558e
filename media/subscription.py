"""Subscription: one publication forwarded to one participant, packets kept as they came."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional

from aiortc import MediaStreamTrack, RTCRtpTransceiver, clock
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket, wrap_rtx

from .aiortc_hooks import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    ForwardingSender,
    SendParameters,
)
from .publication import Publication
from .rtp_rewriter import ExtensionBlock, RtpRewriter, pack_rtp

logger = logging.getLogger(__name__)


class IdleTrack(MediaStreamTrack):
    """The track a forwarding sender holds: it never yields, packets come from the SFU."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self):  # type: ignore[no-untyped-def]
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


class Subscription:
    def __init__(
        self,
        publication: Publication,
        subscriber: str,
        transceiver: RTCRtpTransceiver,
        on_close: Callable[["Subscription"], None],
    ) -> None:
        self.publication = publication
        self.subscriber = subscriber
        self.transceiver = transceiver
        self.closed = False
        # A subscriber pauses tracks it does not show (off-screen tiles) without renegotiating.
        self.enabled = True
        self.packets_sent = 0
        self.retransmissions = 0
        self._on_close = on_close
        self._parameters: Optional[SendParameters] = None
        self._rewriter: Optional[RtpRewriter] = None
        self._extensions = ExtensionBlock([], 0, 0)
        self._rtx_sequence = 0
        self._waiting_for_keyframe = publication.kind == "video"
        transceiver.sender.replaceTrack(IdleTrack(publication.kind))
        self.sender = ForwardingSender(
            transceiver.sender,
            on_ready=self._on_ready,
            on_nack=self._on_nack,
            on_keyframe_request=publication.request_keyframe,
        )

    @property
    def mid(self) -> Optional[str]:
        return self.transceiver.mid

    def describe(self) -> dict[str, object]:
        return {"mid": self.mid, "sid": self.publication.sid, "identity": self.publication.owner,
                "source": self.publication.source.value, "kind": self.publication.kind,
                "enabled": self.enabled}

    def _on_ready(self, parameters: SendParameters) -> None:
        self._parameters = parameters
        ids = parameters.extension_ids
        fixed = [(ids[MID_URI], parameters.mid.encode())] if parameters.mid and MID_URI in ids else []
        if self.publication.kind == "video":
            self._extensions = ExtensionBlock(fixed, ids.get(ABS_SEND_TIME_URI, 0), 3)
        else:
            self._extensions = ExtensionBlock(fixed, ids.get(AUDIO_LEVEL_URI, 0), 1)
        if self._rewriter is None:
            self._rewriter = RtpRewriter(
                ssrc=self.sender.ssrc,
                clock_rate=parameters.clock_rate,
                first_sequence=self.sender.ssrc % 32768,
                first_timestamp=self.sender.rtx_ssrc,
            )
        self.restart()

    def set_enabled(self, enabled: bool) -> None:
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if enabled:
            self.restart()
        else:
            self.skip()

    def restart(self) -> None:
        """Start (again) from a keyframe: on connect, after a mute, after a source change."""
        if self.publication.kind == "video":
            self._waiting_for_keyframe = True
            self.publication.request_keyframe()

    def skip(self) -> None:
        if self._rewriter is not None:
            self._rewriter.skip()

    def forward(self, packet: RtpPacket, ntp_time: int, extension: Optional[bytes]) -> None:
        """Send one publisher packet on; `extension` is the per-packet extension value
        (abs-send-time for video, audio level for audio), computed once for all subscribers."""
        rewriter = self._rewriter
        parameters = self._parameters
        if rewriter is None or parameters is None or self.closed:
            return
        if not self.enabled:
            rewriter.skip()
            return
        if self._waiting_for_keyframe:
            if not self.publication.is_keyframe_start(packet):
                rewriter.skip()
                return
            self._waiting_for_keyframe = False
        sequence, timestamp = rewriter.rewrite(packet.ssrc, packet.sequence_number, packet.timestamp)
        data = pack_rtp(parameters.payload_type, packet.marker, sequence, timestamp,
                        rewriter.ssrc, self._extensions.build(extension), packet.payload)
        if self.sender.send_rtp(data):
            self.packets_sent += 1
            self.sender.record_sent(ntp_time, timestamp, len(packet.payload))

    def _on_nack(self, lost: list[int]) -> None:
        rewriter, parameters = self._rewriter, self._parameters
        if rewriter is None or parameters is None:
            return
        for out_sequence in lost:
            source_sequence = rewriter.source_sequence(out_sequence)
            if source_sequence is None:
                continue
            original = self.publication.history.get(source_sequence)
            if original is None:
                continue
            packet = RtpPacket(payload_type=parameters.payload_type, marker=original.marker,
                               sequence_number=out_sequence,
                               timestamp=(original.timestamp + rewriter.timestamp_offset) % (1 << 32),
                               ssrc=rewriter.ssrc, payload=original.payload)
            if parameters.rtx_payload_type is not None:
                packet = wrap_rtx(packet, payload_type=parameters.rtx_payload_type,
                                  sequence_number=self._rtx_sequence, ssrc=self.sender.rtx_ssrc)
                self._rtx_sequence = (self._rtx_sequence + 1) % (1 << 16)
            data = pack_rtp(packet.payload_type, packet.marker, packet.sequence_number,
                            packet.timestamp, packet.ssrc,
                            self._extensions.build(self.publication.extension_value(
                                original, clock.current_ntp_time())),
                            packet.payload)
            if self.sender.send_rtp(data):
                self.retransmissions += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.publication.remove_subscription(self.subscriber)
        self._on_close(self)
