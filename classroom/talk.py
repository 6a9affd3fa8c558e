"""Talk time in a live class: each microphone's talk timer (media.TalkTimer), plus what the
microphones already closed — or a previous process — counted, and who is speaking now."""

from __future__ import annotations

import time
from typing import Any

from media import Publication, Source

from events.types import SpeakingStarted, SpeakingStopped

from .context import ClassContext


class TalkTime:
    def __init__(self, context: ClassContext) -> None:
        self._context = context
        self._talk_closed: dict[str, float] = {}
        self._turns_closed: dict[str, int] = {}
        self._speaking_since: dict[str, float] = {}

    def speaking_changed(self, identity: str, speaking: bool) -> None:
        now = time.time()
        if speaking:
            self._speaking_since[identity] = now
            self._context.signal(identity, SpeakingStarted())
        else:
            started = self._speaking_since.pop(identity, now)
            self._context.signal(identity, SpeakingStopped(duration_s=round(now - started, 3)))

    def speaking(self) -> set[str]:
        return set(self._speaking_since)

    def microphone_closed(self, identity: str, microphone: Publication) -> None:
        timer = microphone.talk_timer
        self._talk_closed[identity] = self._talk_closed.get(identity, 0.0) + timer.talk_time_s
        self._turns_closed[identity] = self._turns_closed.get(identity, 0) + timer.turns

    def carry(self, totals: dict[str, Any]) -> None:
        """A restart goes on from the totals the previous process counted."""
        self._talk_closed, self._turns_closed = self._context.activity.carry_over(totals)

    def totals(self) -> tuple[dict[str, float], dict[str, int]]:
        """Talk time (s) and turns per identity, the open microphones included."""
        talk = dict(self._talk_closed)
        turns = dict(self._turns_closed)
        room = self._context.room
        if room is not None:
            for participant in room.participants.values():
                microphone = participant.publication_for(Source.MICROPHONE)
                if microphone is not None:
                    identity = participant.identity
                    talk[identity] = talk.get(identity, 0.0) + microphone.talk_timer.talk_time_s
                    turns[identity] = turns.get(identity, 0) + microphone.talk_timer.turns
        return talk, turns
