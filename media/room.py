"""Room: the live media space of one session, owning its participants."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from engagement.speaking import ActiveSpeakerDetector

from .connectivity import Change
from .exceptions import JoinRefused, NotFound, PermissionDenied
from .ice_policy import IcePolicy
from .lifecycle import cancel_and_wait
from .participant import ANSWER_TIMEOUT_S, Participant, Signal
from .permissions import Permissions, Role, Source
from .publication import Publication
from .room_observer import RoomObserver
from .sdp_turns import SdpTurns

logger = logging.getLogger(__name__)

SPEAKER_INTERVAL_S = 0.25
CONNECTIVITY_INTERVAL_S = 1.0
# Microphones forwarded at once in a big room: the loudest speakers, as Google Meet does.
# Silence from everyone else is not forwarded (no sequence gaps: the rewriters re-base).
AUDIBLE_SPEAKERS = 3


@dataclass
class Admission:
    """Who may enter: kept across a server restart, so a removed student stays out."""

    locked: bool = False
    # Identities that were in the room: they may come back while it is locked.
    admitted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class Room:
    def __init__(
        self,
        session_id: str,
        title: str,
        ice_policy: IcePolicy,
        sdp_turns: SdpTurns,
        on_close: Callable[["Room"], None],
        observer: Optional[RoomObserver] = None,
    ) -> None:
        self.session_id = session_id
        self.title = title
        self.locked = False
        self.closed = False
        self.participants: dict[str, Participant] = {}
        self.created_at = time.time()
        self._ice_policy = ice_policy
        self._sdp_turns = sdp_turns
        self._on_close = on_close
        self._observer = observer or RoomObserver()
        # Identities that were in the room may come back while it is locked; removed ones not.
        self._admitted: set[str] = set()
        self._removed: set[str] = set()
        self._speakers = ActiveSpeakerDetector()
        self._last_speakers: list[str] = []
        self._speaker_task = asyncio.ensure_future(self._watch_speakers())
        self._connectivity_task = asyncio.ensure_future(self._watch_connectivity())
        # Participants whose socket dropped, kept for a reconnect grace: identity → timer.
        self._graces: dict[str, asyncio.TimerHandle] = {}
        self._second_rounds: set[asyncio.Future[None]] = set()
        # Participants leaving on a task of their own (a dropped connection, an expired grace):
        # a close waits for them, it does not cut a leave short.
        self._leaving: set[asyncio.Future[None]] = set()
        # Participants removed whose close may still be under way (a leave cancelled by its caller).
        self._closing_participants: set[Participant] = set()
        self._closing: Optional[asyncio.Task[None]] = None

    def describe(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "title": self.title, "locked": self.locked}

    def admission(self) -> Admission:
        return Admission(self.locked, sorted(self._admitted), sorted(self._removed))

    def restore_admission(self, admission: Admission) -> None:
        self.locked = admission.locked
        self._admitted.update(admission.admitted)
        self._removed.update(admission.removed)

    def check_admission(self, identity: str, role: Role) -> None:
        if self.closed:
            raise JoinRefused("session_ended", "the class has ended")
        if identity in self._removed:
            raise JoinRefused("removed", "you were removed from this class")
        if self.locked and role is not Role.INSTRUCTOR and identity not in self._admitted:
            raise JoinRefused("room_locked", "the room is locked by the instructor")

    async def join(
        self, identity: str, name: str, role: Role, permissions: Permissions, signal: Signal,
        joined_extra: Optional[dict[str, Any]] = None,
    ) -> Participant:
        self.check_admission(identity, role)
        previous = self.participants.get(identity)
        participant = Participant(identity, name, role, permissions, signal, self._ice_policy,
                                  self._sdp_turns, self._publication_added, self._publication_removed,
                                  self._participant_closed)
        if previous is not None:
            participant.connectivity.continue_from(previous.connectivity, time.time())
            # The old connection (another tab, a page that did not notice its reload) is told why.
            previous.signal({"type": "participant_left", "identity": identity, "reason": "replaced"})
            await self._remove(previous, "replaced")
        others = list(self.participants.values())
        self.participants[identity] = participant
        rejoin = identity in self._admitted
        self._admitted.add(identity)
        participant.signal({
            "type": "joined", "participant": participant.describe(), "room": self.describe(),
            "participants": [p.describe() for p in others], "ice_servers": [],
            **(joined_extra or {}),
        })
        self.broadcast({"type": "participant_joined", "participant": participant.describe()},
                       exclude=identity)
        self._observe("participant_joined", participant, rejoin)
        if permissions.subscribe:
            # The first negotiation carries what the newcomer must see first (the instructor,
            # shared screens); the class follows in a second round, so a join's first picture
            # does not wait on an offer and answer with every camera in the room.
            first: list[Publication] = []
            rest: list[Publication] = []
            for other in others:
                for publication in other.publications.values():
                    shown_first = other.role is Role.INSTRUCTOR or publication.source is Source.SCREEN
                    (first if shown_first else rest).append(publication)
            for publication in first or rest:
                self._subscribe(participant, publication)
            if first and rest:
                later = asyncio.ensure_future(self._subscribe_after_first_answer(participant, rest))
                self._second_rounds.add(later)  # ends when the participant answers or leaves
                later.add_done_callback(self._second_rounds.discard)
        return participant

    async def _subscribe_after_first_answer(self, participant: Participant,
                                            publications: list[Publication]) -> None:
        await participant.wait_subscriber_negotiated(ANSWER_TIMEOUT_S)
        for publication in publications:
            if not participant.closed and not publication.closed:
                self._subscribe(participant, publication)

    def _subscribe(self, participant: Participant, publication: Publication) -> None:
        """One participant whose connection died must not stop anyone else's media."""
        try:
            participant.subscribe(publication)
        except Exception:
            logger.warning("%s cannot subscribe (connection closed?); dropping it",
                           participant.identity, exc_info=True)
            self._leave_later(participant, "disconnected")

    def _leave_later(self, participant: Participant, reason: str) -> None:
        """`leave` on a task of its own, which the room's close waits for."""
        leaving = asyncio.ensure_future(self.leave(participant, reason))
        self._leaving.add(leaving)
        leaving.add_done_callback(self._leaving.discard)

    def disconnected(self, participant: Participant, grace_s: float) -> None:
        """Its signaling socket dropped: a reload or a short network loss may bring it back
        (replacing it); if not, it leaves when the grace runs out."""
        def expire() -> None:
            self._graces.pop(participant.identity, None)
            self._leave_later(participant, "disconnected")

        previous = self._graces.pop(participant.identity, None)
        if previous is not None:
            previous.cancel()  # a timer, not a task: nothing to wait for
        if self.closed:
            return
        self._graces[participant.identity] = asyncio.get_running_loop().call_later(grace_s, expire)

    async def _watch_connectivity(self) -> None:
        while True:
            await asyncio.sleep(CONNECTIVITY_INTERVAL_S)
            now = time.time()
            for participant in list(self.participants.values()):
                if participant.connection_failed:
                    # Nothing flows on it again: the client is told to join anew (its signaling
                    # socket closes with it) rather than kept in the room with a dead connection.
                    logger.warning("%s: a peer connection failed; removing it: %s",
                                   participant.identity, participant.connection_states())
                    participant.signal({"type": "participant_left", "identity": participant.identity,
                                        "reason": "connection_lost"})
                    self._leave_later(participant, "connection_lost")
                    continue
                change = participant.connectivity.poll(participant.datagrams_heard(), now)
                if change is None:
                    continue
                if change is Change.LOST:
                    self._observe("connection_lost", participant)
                else:
                    self._observe("connection_restored", participant)
                self.participant_updated(participant)

    async def leave(self, participant: Participant, reason: str = "left") -> None:
        if self.participants.get(participant.identity) is participant:
            await self._remove(participant, reason)

    async def _remove(self, participant: Participant, reason: str) -> None:
        self._forget(participant)
        self._closing_participants.add(participant)  # until its close tells the room
        await participant.close()
        self._announce_left(participant, reason)

    def _forget(self, participant: Participant) -> None:
        del self.participants[participant.identity]
        self._speakers.forget(participant.identity)
        if participant.identity in self._last_speakers:
            self._last_speakers.remove(participant.identity)
            self._observe("speaking_changed", participant.identity, False)

    def _announce_left(self, participant: Participant, reason: str) -> None:
        self.broadcast({"type": "participant_left", "identity": participant.identity,
                        "reason": reason})
        self._observe("participant_left", participant, reason)

    def _participant_closed(self, participant: Participant) -> None:
        """A participant closed: one closed by the room is gone from it already; one that
        closed on its own (`participant.close()`) leaves now."""
        self._closing_participants.discard(participant)
        if self.participants.get(participant.identity) is participant:
            self._forget(participant)
            self._announce_left(participant, "closed")

    def _observe(self, method: str, *args: Any) -> None:
        try:
            getattr(self._observer, method)(*args)
        except Exception:
            logger.exception("room observer failed in %s", method)

    def broadcast(self, message: dict[str, Any], exclude: Optional[str] = None) -> None:
        for identity, participant in list(self.participants.items()):
            if identity != exclude:
                participant.signal(message)

    def _publication_added(self, owner: Participant, publication: Publication) -> None:
        self.broadcast({"type": "track_published", "identity": owner.identity,
                        "track": publication.describe()}, exclude=owner.identity)
        self._observe("track_published", owner, publication)
        for participant in list(self.participants.values()):
            if participant is not owner and participant.permissions.subscribe:
                self._subscribe(participant, publication)

    def _publication_removed(self, owner: Participant, publication: Publication) -> None:
        self._observe("track_unpublished", owner, publication)
        if not owner.closed:
            self.broadcast({"type": "track_unpublished", "identity": owner.identity,
                            "sid": publication.sid}, exclude=owner.identity)

    def participant_updated(self, participant: Participant) -> None:
        self.broadcast({"type": "participant_updated", "participant": participant.describe()})

    def set_muted(self, participant: Participant, source: Source, muted: bool) -> None:
        """The participant muted or unmuted its own track."""
        publication = participant.publication_for(source)
        was_muted = publication.muted if publication is not None else None
        publication = participant.set_muted(source, muted)
        self.participant_updated(participant)
        if publication.muted != was_muted:
            self._observe("track_muted", participant, publication, publication.muted, None)

    # -- moderation -------------------------------------------------------------------------

    async def moderate(
        self, actor: Participant, action: str, identity: Optional[str], source: Optional[str]
    ) -> None:
        if not actor.permissions.moderate:
            raise PermissionDenied("moderation needs the moderate permission")
        if action in ("lock", "unlock"):
            self.locked = action == "lock"
            self.broadcast({"type": "room_updated", "room": self.describe()})
            return
        target = self.participants.get(identity or "")
        if target is None:
            raise NotFound(f"no participant {identity!r} in this room")
        if action == "mute":
            muted_source = Source(source or Source.MICROPHONE.value)
            publication = target.publication_for(muted_source)
            if publication is None:
                raise NotFound(f"{identity} publishes no {muted_source.value}")
            was_muted = publication.muted
            publication.set_muted(by_moderator=True)
            target.signal({"type": "muted_by_moderator", "source": muted_source.value,
                           "by": actor.identity})
            self.participant_updated(target)
            if not was_muted:
                self._observe("track_muted", target, publication, True, actor.identity)
        elif action == "remove":
            self._removed.add(target.identity)
            target.signal({"type": "removed", "by": actor.identity,
                           "reason": "removed by the instructor"})
            await self._remove(target, "removed")
        else:
            raise ValueError(f"unknown moderation action {action!r}")

    # -- active speakers --------------------------------------------------------------------

    async def _watch_speakers(self) -> None:
        while True:
            await asyncio.sleep(SPEAKER_INTERVAL_S)
            now = time.monotonic()
            for participant in self.participants.values():
                publication = participant.publication_for(Source.MICROPHONE)
                if publication is not None and not publication.muted:
                    self._speakers.observe(participant.identity, publication.audio_level_dbov, now)
            speakers = self._speakers.speakers(now)
            self._select_audible([identity for identity, _ in speakers])
            names = [identity for identity, _ in speakers]
            for identity in set(names) ^ set(self._last_speakers):
                self._observe("speaking_changed", identity, identity in names)
            if names != self._last_speakers:
                self._last_speakers = names
                self.broadcast({"type": "active_speakers", "speakers": [
                    {"identity": identity, "level": level} for identity, level in speakers]})

    def _select_audible(self, loudest_first: list[str]) -> None:
        microphones = [p for p in (participant.publication_for(Source.MICROPHONE)
                                   for participant in self.participants.values()) if p is not None]
        chosen = set(loudest_first[:AUDIBLE_SPEAKERS])
        speaking = set(loudest_first)
        for publication in microphones:
            publication.audible = len(microphones) <= AUDIBLE_SPEAKERS or publication.owner in chosen
            publication.speaking = publication.owner in speaking

    async def close(self, reason: str = "room_closed") -> None:
        """End the room's tasks, close every participant (each its publications and
        subscriptions), then tell the SFU. Idempotent: every call waits for the one close (a
        caller cancelled meanwhile stops waiting, the close goes on); `closed` is set at once."""
        if self._closing is None:
            self.closed = True
            self._closing = asyncio.ensure_future(self._close(reason))
        current = asyncio.current_task()
        if current is self._closing or current in self._leaving or current in self._second_rounds:
            return  # the close waits for (or ends) this task: it cannot wait for the close
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        try:
            await cancel_and_wait(self._speaker_task, self._connectivity_task, *self._second_rounds)
            for grace in self._graces.values():
                grace.cancel()  # timers, not tasks: nothing to wait for
            self._graces.clear()
            for participant in list(self.participants.values()):
                participant.signal({"type": "participant_left", "identity": participant.identity,
                                    "reason": reason})
                await self._remove(participant, reason)
            # Leaves under way finish (their participants' closes are bounded), as do closes
            # whose leave was cancelled by its caller.
            while self._leaving or self._closing_participants:
                await asyncio.gather(*self._leaving,
                                     *(p.close() for p in list(self._closing_participants)),
                                     return_exceptions=True)
        finally:
            self._on_close(self)
            self._observe("room_closed", reason)
