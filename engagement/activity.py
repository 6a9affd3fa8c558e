"""Per-participant activity in one class, and the explainable engagement score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from events.types import EngagementSnapshot, ScoreParts

# Five parts of 20 points, each normalised against the class maximum among students
# (BigBlueButton's activity score, on a 0-100 scale with its parts shown).
SCORE_PARTS = ("talk", "chat", "hands", "reactions", "polls")
PART_POINTS = 20.0


class Timeline:
    """How long something was on (camera, page visible): on/off switches over time."""

    def __init__(self, total: float = 0.0) -> None:
        self._total = total
        self._since: Optional[float] = None

    def set(self, on: bool, at: float) -> bool:
        """Returns True when the state changed."""
        if on and self._since is None:
            self._since = at
            return True
        if not on and self._since is not None:
            self._total += max(0.0, at - self._since)
            self._since = None
            return True
        return False

    @property
    def on(self) -> bool:
        return self._since is not None

    def total(self, now: float) -> float:
        return self._total + (max(0.0, now - self._since) if self._since is not None else 0.0)


@dataclass
class Activity:
    identity: str
    name: str
    role: str
    talk_time_closed_s: float = 0.0
    turns_closed: int = 0
    camera: Timeline = field(default_factory=Timeline)
    visible: Timeline = field(default_factory=Timeline)
    messages: int = 0
    hands: int = 0
    reactions: int = 0
    polls_answered: set[str] = field(default_factory=set)
    polls_correct: set[str] = field(default_factory=set)


class ActivityTracker:
    def __init__(self) -> None:
        self.participants: dict[str, Activity] = {}
        self.polls_asked = 0

    def activity(self, identity: str, name: str = "", role: str = "student") -> Activity:
        activity = self.participants.get(identity)
        if activity is None:
            activity = self.participants[identity] = Activity(identity, name or identity, role)
        return activity

    def totals(self, now: float, talk_time: dict[str, float], turns: dict[str, int]) -> dict[str, Any]:
        """Everything counted so far, as plain data: what a restarted server carries on from."""
        return {"polls_asked": self.polls_asked, "participants": {
            identity: {"name": a.name, "role": a.role, "talk_time_s": talk_time.get(identity, 0.0),
                       "turns": turns.get(identity, 0), "camera_on_s": a.camera.total(now),
                       "visible_s": a.visible.total(now), "messages": a.messages, "hands": a.hands,
                       "reactions": a.reactions, "polls_answered": sorted(a.polls_answered),
                       "polls_correct": sorted(a.polls_correct)}
            for identity, a in self.participants.items()}}

    def carry_over(self, totals: dict[str, Any]) -> tuple[dict[str, float], dict[str, int]]:
        """Go on from `totals()` of a previous process; returns the talk time and turns in it
        (kept by the class, beside its live microphones). Cameras and pages start off."""
        self.polls_asked = totals["polls_asked"]
        talk_time, turns = {}, {}
        for identity, carried in totals["participants"].items():
            self.participants[identity] = Activity(
                identity, carried["name"], carried["role"],
                camera=Timeline(carried["camera_on_s"]), visible=Timeline(carried["visible_s"]),
                messages=carried["messages"], hands=carried["hands"], reactions=carried["reactions"],
                polls_answered=set(carried["polls_answered"]), polls_correct=set(carried["polls_correct"]))
            talk_time[identity], turns[identity] = carried["talk_time_s"], carried["turns"]
        return talk_time, turns

    def score(self, identity: str, talk_time: dict[str, float]
              ) -> tuple[Optional[float], Optional[dict[str, float]]]:
        """(score 0-100, points per part); None for instructors and observers, who are not
        scored (a 0 would pull class averages down)."""
        activity = self.participants.get(identity)
        if activity is None or activity.role != "student":
            return None, None
        students = [a for a in self.participants.values() if a.role == "student"]

        def share(value: float, best: float) -> float:
            return PART_POINTS * value / best if best > 0 else 0.0

        parts = {
            "talk": share(talk_time.get(identity, 0.0),
                          max(talk_time.get(s.identity, 0.0) for s in students)),
            "chat": share(activity.messages, max(s.messages for s in students)),
            "hands": share(activity.hands, max(s.hands for s in students)),
            "reactions": share(activity.reactions, max(s.reactions for s in students)),
            "polls": share(len(activity.polls_answered), self.polls_asked),
        }
        parts = {name: round(points, 1) for name, points in parts.items()}
        return round(sum(parts.values()), 1), parts

    def snapshot_payload(self, identity: str, present_s: float, talk_time: dict[str, float],
                         turns: int, now: float) -> EngagementSnapshot:
        activity = self.participants[identity]
        score, parts = self.score(identity, talk_time)
        return EngagementSnapshot(
            present_s=round(present_s, 1), talk_time_s=round(talk_time.get(identity, 0.0), 2),
            speaking_turns=turns, camera_on_s=round(activity.camera.total(now), 1),
            visible_s=round(activity.visible.total(now), 1), messages=activity.messages,
            hands=activity.hands, reactions=activity.reactions,
            polls_answered=len(activity.polls_answered),
            polls_correct=len(activity.polls_correct), score=score,
            score_parts=None if parts is None else ScoreParts(**parts))

    def snapshot(self, identity: str, present_s: float, talk_time: dict[str, float],
                 turns: int, now: float) -> dict[str, Any]:
        """The engagement.snapshot data (`snapshot_payload`, as a dict)."""
        return self.snapshot_payload(identity, present_s, talk_time, turns, now).to_data()
