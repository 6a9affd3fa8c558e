"""Whether a participant's network still reaches the server: the SFU's own view of a drop.

A browser that loses its network may keep its signaling socket for a long while (TCP retries),
or for good when only UDP is blocked, so the socket alone cannot say who is still in class.
Every datagram a participant's peer connections hear counts as a sign of life: media, RTCP,
and the STUN consent checks a live ICE agent sends every few seconds even when no media flows
(Chrome every 2.5 s on a stable pair, aioice every 4–6 s). Silence longer than that is a loss.
"""

from __future__ import annotations

import enum
from typing import Optional

# Longer than the slowest peer's consent interval (aioice: 5 s ± 20 %), so a quiet but
# connected participant is never taken for gone.
LOST_AFTER_S = 8.0
# A connection replaced after this much silence is a comeback from a drop, not a reload.
SILENCE_EVIDENCE_S = 2.0


class Change(enum.Enum):
    LOST = "lost"
    RESTORED = "restored"


class Connectivity:
    """Follows one participant's datagram count, polled about once a second (wall clock)."""

    def __init__(self) -> None:
        self.heard_at: Optional[float] = None
        # While lost: when it was last heard, which is when it really left.
        self.lost_since: Optional[float] = None
        self._heard = 0

    @property
    def lost(self) -> bool:
        return self.lost_since is not None

    def poll(self, heard: int, now: float) -> Optional[Change]:
        if heard != self._heard:
            self._heard = heard
            self.heard_at = now
            if self.lost_since is not None:
                self.lost_since = None
                return Change.RESTORED
            return None
        if self.lost_since is None and self.heard_at is not None and now - self.heard_at >= LOST_AFTER_S:
            self.lost_since = self.heard_at
            return Change.LOST
        return None

    def absent_since(self, now: float) -> Optional[float]:
        """When it went silent, if it has been for a while (lost, or soon to be): the time a
        leave really happened."""
        if self.lost_since is not None:
            return self.lost_since
        if self.heard_at is not None and now - self.heard_at >= SILENCE_EVIDENCE_S:
            return self.heard_at
        return None

    def continue_from(self, previous: "Connectivity", now: float) -> None:
        """A new connection of the same person: if the old one had gone silent, this one is
        back only once its own media is heard."""
        self.lost_since = previous.absent_since(now)
