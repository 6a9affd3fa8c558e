"""Subscription: one publication forwarded to one participant, packets kept as they came."""

from __future__ import annotations

from typing import Callable, Optional

from aiortc import clock
from aiortc.rtp import RtpPacket, wrap_rtx

from .publication import Publication
from .rtp_rewriter import pack_rtp
from .sender_slot import SenderSlot


class Subscription:
    def __init__(
        self,
        publication: Publication,
        subscriber: str,
        slot: SenderSlot,
        on_close: Callable[["Subscription"], None],
    ) -> None:
        self.publication = publication
        self.subscriber = subscriber
        self.slot = slot
        self.closed = False
        # A subscriber pauses tracks it does not show (off-screen tiles) without renegotiating.
        self.enabled = True
        self.packets_sent = 0
        self.retransmissions = 0
        self._on_close = on_close
        self._waiting_for_keyframe = publication.kind == "video"
        slot.attach(self)

    @property
    def mid(self) -> Optional[str]:
        return self.slot.mid

    def describe(self) -> dict[str, object]:
        return {"mid": self.mid, "sid": self.publication.sid, "identity": self.publication.owner,
                "source": self.publication.source.value, "kind": self.publication.kind,
                "enabled": self.enabled}

    def set_enabled(self, enabled: bool) -> None:
        if enabled == self.enabled:
            return
        self.enabled = enabled
        self.publication.subscriptions_changed()
        if enabled:
            self.restart()
        else:
            self.skip()

    def restart(self) -> None:
        """Start (again) from a keyframe: on connect, after a mute, after a pause."""
        if self.publication.kind == "video":
            self._waiting_for_keyframe = True
            self.publication.request_keyframe()

    def skip(self) -> None:
        if self.slot.rewriter is not None:
            self.slot.rewriter.skip()

    def forward(self, packet: RtpPacket, ntp_time: int, extension: Optional[bytes]) -> None:
        """Send one publisher packet on; `extension` is the per-packet extension value
        (abs-send-time for video, audio level for audio), computed once for all subscribers."""
        slot = self.slot
        rewriter, parameters = slot.rewriter, slot.parameters
        if rewriter is None or parameters is None or self.closed:
            return
        if self._waiting_for_keyframe:
            if not self.publication.is_keyframe_start(packet):
                rewriter.skip()
                # Ask again until it comes (a PLI can be lost); the requester allows 1 per second.
                self.publication.request_keyframe()
                return
            self._waiting_for_keyframe = False
        sequence, timestamp = rewriter.rewrite(packet.ssrc, packet.sequence_number, packet.timestamp)
        data = pack_rtp(parameters.payload_type, packet.marker, sequence, timestamp,
                        rewriter.ssrc, slot.extensions.build(extension), packet.payload)
        if slot.sender.send_rtp(data):
            self.packets_sent += 1
            slot.sender.record_sent(ntp_time, timestamp, len(packet.payload))

    def retransmit(self, lost: list[int]) -> None:
        """Answer a subscriber's NACK from the publication's history (RTX where negotiated)."""
        slot = self.slot
        rewriter, parameters = slot.rewriter, slot.parameters
        if rewriter is None or parameters is None or self.closed:
            return
        for out_sequence in lost:
            source_sequence = rewriter.source_sequence(out_sequence)
            if source_sequence is None:
                continue
            original = self.publication.history.get(source_sequence)
            if original is None:
                continue
            _, timestamp, marker, payload, audio_level = original
            packet = RtpPacket(payload_type=parameters.payload_type, marker=marker,
                               sequence_number=out_sequence,
                               timestamp=(timestamp + rewriter.timestamp_offset) % (1 << 32),
                               ssrc=rewriter.ssrc, payload=payload)
            if parameters.rtx_payload_type is not None:
                packet = wrap_rtx(packet, payload_type=parameters.rtx_payload_type,
                                  sequence_number=slot.rtx_sequence, ssrc=slot.sender.rtx_ssrc)
                slot.rtx_sequence = (slot.rtx_sequence + 1) % (1 << 16)
            extension = self.publication.extension_value(audio_level, clock.current_ntp_time())
            data = pack_rtp(packet.payload_type, packet.marker, packet.sequence_number,
                            packet.timestamp, packet.ssrc, slot.extensions.build(extension),
                            packet.payload)
            if slot.sender.send_rtp(data):
                self.retransmissions += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.publication.remove_subscription(self.subscriber)
        self.slot.detach()
        self._on_close(self)
