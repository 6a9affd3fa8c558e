"""What each page reports about its student: whether the class's tab is in view, and how the
connection is doing (`connection_quality`, at most one record per 10 s)."""

from __future__ import annotations

import time
from typing import Optional

from media import Participant

from events.types import ConnectionQuality, TabHidden, TabVisible

from .context import ClassContext

QUALITY_INTERVAL_S = 10.0


class Presence:
    def __init__(self, context: ClassContext) -> None:
        self._context = context
        self._last_quality: dict[str, float] = {}

    def visibility(self, participant: Participant, visible: bool) -> None:
        if self._context.activity.activity(participant.identity).visible.set(visible, time.time()):
            self._context.signal(participant.identity, TabVisible() if visible else TabHidden())

    def quality(self, participant: Participant, rtt_ms: Optional[float],
                packet_loss: Optional[float], jitter_ms: Optional[float]) -> None:
        now = time.monotonic()
        if now - self._last_quality.get(participant.identity, -QUALITY_INTERVAL_S) < QUALITY_INTERVAL_S * 0.9:
            return
        self._last_quality[participant.identity] = now
        self._context.signal(participant.identity, ConnectionQuality(rtt_ms=rtt_ms, packet_loss=packet_loss,
                                                                     jitter_ms=jitter_ms))
