"""Subscription: one publication forwarded to one participant, packets kept as they came.

The publication fans each packet out to its subscriptions' outlets (`_outlet.c`) in one call;
a subscription sets its outlet up, pauses and restarts it, and answers its NACKs.
"""

from __future__ import annotations

from typing import Callable, Optional

from aiortc import clock

from ._packet_sender import MAX_PACKET
from .publication import Publication
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
        self.retransmissions = 0
        self._on_close = on_close
        # The slot's outlet counts what every subscription it carried sent.
        self._sent_before = slot.outlet.packets_sent
        slot.attach(self)  # a video starts on a keyframe once the slot is negotiated

    @property
    def mid(self) -> Optional[str]:
        return self.slot.mid

    @property
    def packets_sent(self) -> int:
        return self.slot.outlet.packets_sent - self._sent_before

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
            self.slot.outlet.await_keyframe()
            self.publication.request_keyframe()

    def skip(self) -> None:
        self.slot.outlet.skip()

    def retransmit(self, lost: list[int]) -> None:
        """Answer a subscriber's NACK from the publication's history (RTX where negotiated)."""
        slot = self.slot
        outlet, parameters = slot.outlet, slot.parameters
        if parameters is None or self.closed:
            return
        for out_sequence in lost:
            source_sequence = outlet.source_sequence(out_sequence)
            if source_sequence is None:
                continue
            original = self.publication.history.get(source_sequence)
            if original is None:
                continue
            _, timestamp, marker, payload, audio_level = original
            timestamp = (timestamp + outlet.timestamp_offset) % (1 << 32)
            payload_type, ssrc, sequence = parameters.payload_type, outlet.ssrc, out_sequence
            if parameters.rtx_payload_type is not None:  # RFC 4588: the original sequence first
                payload = out_sequence.to_bytes(2, "big") + payload
                payload_type, ssrc, sequence = (parameters.rtx_payload_type, slot.sender.rtx_ssrc,
                                                slot.rtx_sequence)
                slot.rtx_sequence = (slot.rtx_sequence + 1) % (1 << 16)
            extension = self.publication.extension_value(audio_level, clock.current_ntp_time())
            header = outlet.header(payload_type, ssrc, marker, sequence, timestamp, extension)
            if len(header) + len(payload) > MAX_PACKET:
                continue  # a publisher's packet that fits no datagram under our header
            if slot.sender.send_rtp(header + payload):
                self.retransmissions += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.publication.remove_subscription(self.subscriber)
        self.slot.detach()
        self._on_close(self)
