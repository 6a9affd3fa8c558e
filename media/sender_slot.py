"""SenderSlot: one m-line of a subscriber connection, reused once its subscription ends.

m-lines can never be removed from a negotiated session, only made inactive. A slot keeps what
belongs to the m-line rather than to one publication: the transceiver, its negotiated send
parameters, and its outlet, which holds the RTP rewriter (so the SSRC's sequence numbers and
timestamps stay continuous when the next publication of the same kind and codec is put on it).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Optional

from aiortc import MediaStreamTrack, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError

from .aiortc import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    ForwardingSender,
    SendParameters,
)
from .rtp_rewriter import ExtensionBlock

if TYPE_CHECKING:
    from .subscription import Subscription


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


class SenderSlot:
    def __init__(self, transceiver: RTCRtpTransceiver, kind: str, mime_type: str) -> None:
        self.transceiver = transceiver
        self.kind = kind
        self.mime_type = mime_type.lower()
        self.parameters: Optional[SendParameters] = None
        self.rtx_sequence = 0
        self.subscription: Optional["Subscription"] = None
        transceiver.sender.replaceTrack(IdleTrack(kind))
        self.sender = ForwardingSender(
            transceiver.sender,
            on_ready=self._on_ready,
            on_nack=self._on_nack,
            on_keyframe_request=self._on_keyframe_request,
        )
        self.outlet = self.sender.outlet

    @property
    def mid(self) -> Optional[str]:
        return self.transceiver.mid

    def fits(self, kind: str, mime_type: str) -> bool:
        return self.subscription is None and self.kind == kind and self.mime_type == mime_type.lower()

    def attach(self, subscription: "Subscription") -> None:
        self.subscription = subscription
        self.transceiver.direction = "sendonly"
        if self.parameters is not None:
            subscription.restart()

    def detach(self) -> None:
        self.subscription = None
        self.transceiver.direction = "inactive"
        self.outlet.skip()

    def _on_ready(self, parameters: SendParameters) -> None:
        self.parameters = parameters
        ids = parameters.extension_ids
        fixed = [(ids[MID_URI], parameters.mid.encode())] if parameters.mid and MID_URI in ids else []
        if self.kind == "video":
            extensions = ExtensionBlock(fixed, ids.get(ABS_SEND_TIME_URI, 0), 3)
        else:
            extensions = ExtensionBlock(fixed, ids.get(AUDIO_LEVEL_URI, 0), 1)
        extensions.configure(self.outlet, parameters.payload_type, parameters.clock_rate)
        if self.subscription is not None:
            self.subscription.restart()

    def _on_nack(self, lost: list[int]) -> None:
        if self.subscription is not None:
            self.subscription.retransmit(lost)

    def _on_keyframe_request(self) -> None:
        if self.subscription is not None:
            self.subscription.publication.request_keyframe()
