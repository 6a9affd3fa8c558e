"""Reactions in a live class: a fixed set of emoji, shown to everyone for a moment."""

from __future__ import annotations

import time

from events.event import iso
from events.types import Reaction
from media import MediaError, Participant

from .context import ClassContext

REACTIONS = ("👍", "👏", "😂", "😮", "❤️", "🎉", "🤔")


class Reactions:
    def __init__(self, context: ClassContext) -> None:
        self._context = context

    def send(self, participant: Participant, emoji: str) -> None:
        if emoji not in REACTIONS:
            raise MediaError(f"reactions are {' '.join(REACTIONS)}")
        self._context.require_room().broadcast({"type": "reaction", "identity": participant.identity,
                                                "emoji": emoji, "ts": iso(time.time())})
        self._context.activity.activity(participant.identity).reactions += 1
        self._context.signal(participant.identity, Reaction(emoji=emoji))
