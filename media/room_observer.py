"""RoomObserver: how the rest of Aula watches a room without reaching into its control flow.

Every method is a synchronous notification with a default that does nothing; the room calls
them after the fact and logs (never propagates) an observer's error, as mediasoup's observer
does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .participant import Participant
    from .publication import Publication


class RoomObserver:
    def participant_joined(self, participant: "Participant", rejoin: bool) -> None:
        """A participant entered; `rejoin`: this identity was in the room before."""

    def participant_left(self, participant: "Participant", reason: str) -> None:
        """A participant left, was removed, replaced, disconnected, or the room closed."""

    def connection_lost(self, participant: "Participant") -> None:
        """Nothing has been heard from the participant's network for a while (it may still
        hold its signaling socket); `participant.connectivity.lost_since` is when it went silent."""

    def connection_restored(self, participant: "Participant") -> None:
        """A lost participant is heard again; also the first media of a connection that
        replaced a lost (or silent) one."""

    def track_published(self, participant: "Participant", publication: "Publication") -> None:
        """A participant started sending a track."""

    def track_unpublished(self, participant: "Participant", publication: "Publication") -> None:
        """A track ended (unpublished, or its participant left)."""

    def track_muted(self, participant: "Participant", publication: "Publication",
                    muted: bool, by: Optional[str]) -> None:
        """A track was muted or unmuted; `by` is the moderator who muted it, if one did."""

    def speaking_changed(self, identity: str, speaking: bool) -> None:
        """A participant started or stopped speaking (with the detector's hold)."""

    def room_closed(self, reason: str) -> None:
        """The room closed; every participant has left already."""
