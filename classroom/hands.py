"""Raised hands in a live class: one queue in the order hands went up, shown to everyone."""

from __future__ import annotations

import time

from engagement.hands import HandQueue
from media import Participant, PermissionDenied
from media.exceptions import NotFound

from events.types import HandLowered, HandRaised

from .context import ClassContext


class Hands:
    def __init__(self, context: ClassContext) -> None:
        self._context = context
        self.queue = HandQueue()

    def set(self, participant: Participant, raised: bool) -> None:
        identity = participant.identity
        if raised and self.queue.raise_hand(identity, participant.name, time.time()):
            self._context.activity.activity(identity).hands += 1
            self._context.signal(identity, HandRaised())
            self._show()
        elif not raised and self.queue.lower(identity):
            self._context.signal(identity, HandLowered())
            self._show()

    def lower_for(self, moderator: Participant, identity: str) -> None:
        if not moderator.permissions.moderate:
            raise PermissionDenied("lowering someone's hand needs the moderate permission")
        if not self.queue.lower(identity):
            raise NotFound(f"{identity!r} has no hand raised")
        self._context.signal(identity, HandLowered(by=moderator.identity))
        self._show()

    def left(self, identity: str, reason: str) -> None:
        # A reload (replaced) is the same person coming straight back: the hand stays up.
        if reason != "replaced" and self.queue.lower(identity):
            self._show()

    def _show(self) -> None:
        self._context.broadcast({"type": "hands", "queue": self.queue.queue()})
