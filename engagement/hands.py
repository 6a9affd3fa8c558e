"""Raised hands, in the order they went up."""

from __future__ import annotations

from typing import Any

from events.event import iso


class HandQueue:
    def __init__(self) -> None:
        self._raised: dict[str, tuple[str, float]] = {}

    def raise_hand(self, identity: str, name: str, at: float) -> bool:
        """False if it was already up (its place in the queue is kept)."""
        if identity in self._raised:
            return False
        self._raised[identity] = (name, at)
        return True

    def lower(self, identity: str) -> bool:
        return self._raised.pop(identity, None) is not None

    def is_raised(self, identity: str) -> bool:
        return identity in self._raised

    def queue(self) -> list[dict[str, Any]]:
        return [{"identity": identity, "name": name, "raised_at": iso(at)}
                for identity, (name, at) in self._raised.items()]

    def raised(self) -> list[tuple[str, str, float]]:
        """(identity, name, raised_at) in queue order: what `raise_hand` rebuilds it from."""
        return [(identity, name, at) for identity, (name, at) in self._raised.items()]
