"""Polls in a live class: one at a time, created and ended by a moderator, answered by everyone
else; moderators see the running counts and the correct answer."""

from __future__ import annotations

from typing import Any, Optional

from engagement.polls import Poll, PollInvalid
from events.types import PollAnswer, PollAnswered, PollEnded, PollStarted
from media import MediaError, Participant, PermissionDenied
from media.exceptions import NotFound

from .context import ClassContext


class Polls:
    def __init__(self, context: ClassContext) -> None:
        self._context = context
        self.running: Optional[Poll] = None

    def view(self, identity: str, moderator: bool) -> Optional[dict[str, Any]]:
        """The running poll as a newcomer's `joined` message shows it, with the answer this
        identity gave before a reload."""
        if self.running is None:
            return None
        return {**self._public(self.running, moderator), "your_answer": self.running.answers.get(identity)}

    def create(self, moderator: Participant, question: str, options: list[str],
               correct: Optional[int]) -> Poll:
        if not moderator.permissions.moderate:
            raise PermissionDenied("polls need the moderate permission")
        if self.running is not None:
            raise MediaError("a poll is already running: end it first")
        try:
            poll = Poll(question, options, correct, moderator.identity)
        except PollInvalid as exc:
            raise MediaError(str(exc)) from exc
        self.running = poll
        self._context.activity.polls_asked += 1
        self._context.emit(PollStarted(poll_id=poll.id, question=poll.question, options=poll.options,
                                       correct=poll.correct), moderator.identity)
        for participant in self._context.require_room().participants.values():
            participant.signal({"type": "poll_started",
                                "poll": self._public(poll, participant.permissions.moderate)})
        self._send_results(poll)
        return poll

    def answer(self, participant: Participant, poll_id: str, option: int) -> None:
        poll = self._find(poll_id)
        try:
            correct = poll.answer(participant.identity, option)
        except PollInvalid as exc:
            raise MediaError(str(exc)) from exc
        activity = self._context.activity.activity(participant.identity)
        activity.polls_answered.add(poll.id)
        if correct:
            activity.polls_correct.add(poll.id)
        else:
            activity.polls_correct.discard(poll.id)
        self._context.signal(participant.identity, PollAnswered(poll_id=poll.id, option=option, correct=correct))
        self._send_results(poll)

    def end(self, moderator: Participant, poll_id: str) -> None:
        if not moderator.permissions.moderate:
            raise PermissionDenied("polls need the moderate permission")
        self._end(self._find(poll_id), moderator.identity)

    def end_running(self) -> None:
        """The class is ending: the running poll ends with it, in its creator's name."""
        if self.running is not None:
            self._end(self.running, self.running.created_by)

    def _end(self, poll: Poll, by: str) -> None:
        self.running = None
        counts = poll.counts()
        self._context.emit(PollEnded(
            poll_id=poll.id, question=poll.question, options=poll.options, correct=poll.correct, counts=counts,
            answers=[PollAnswer(identity=identity, option=option, correct=poll.is_correct(option))
                     for identity, option in poll.answers.items()]), by)
        room = self._context.room
        if room is not None:
            for participant in room.participants.values():
                participant.signal({"type": "poll_ended", "poll_id": poll.id, "counts": counts,
                                    "correct": poll.correct,
                                    "your_answer": poll.answers.get(participant.identity)})

    def _find(self, poll_id: str) -> Poll:
        if self.running is None or self.running.id != poll_id:
            raise NotFound(f"no running poll {poll_id!r}")
        return self.running

    @staticmethod
    def _public(poll: Poll, moderator: bool) -> dict[str, Any]:
        public = poll.public()
        return {**public, "correct": poll.correct} if moderator else public

    def _send_results(self, poll: Poll) -> None:
        room = self._context.room
        if room is None:
            return
        eligible = sum(1 for p in room.participants.values() if not p.permissions.moderate)
        self._context.tell_moderators({"type": "poll_results", "poll_id": poll.id, "counts": poll.counts(),
                                       "answered": len(poll.answers), "eligible": eligible})
