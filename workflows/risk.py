"""At-risk students: across a student's classes, the signs a school watches, each in words.

- chronic absence: missing 10% or more of classes (excused or not, as attendance research counts
  it), from the second absence on;
- lateness: late to 3 or more of the last 10 classes;
- falling engagement: the last 3 classes' mean score under 60% of the classes before (and 15
  points or more lower);
- silence: not a word nor a chat message in each of the last 3 classes attended;
- poll answers: under half right over the last 10 classes, from 4 answers on.

Chronic absence, or two signs together, is `at_risk` (a `flag.raised` for operations when a
student crosses into it); one sign is `watch`; none is `none`. Recomputed by `aula worker` each
time a class of the student's ends or they miss one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

CHRONIC_ABSENCE_RATE = 0.10
RECENT = 10
LATE_IN_RECENT = 3
TREND_SESSIONS = 3
FALLING_SHARE = 0.6
FALLING_POINTS = 15
SILENT_SESSIONS = 3
POLL_ANSWERS = 4
POLL_RIGHT_SHARE = 0.5

ABSENT = ("unexcused_absence", "excused_absence")


@dataclass(frozen=True)
class Risk:
    level: str  # none | watch | at_risk
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "reasons": self.reasons}


def assess(sessions: list[dict[str, Any]]) -> Risk:
    """`sessions`: the student's record entries, oldest first (`StudentRecords.sessions`)."""
    ended = [entry for entry in sessions if entry.get("category")]
    attended = [entry for entry in ended if entry["category"] not in ABSENT]
    engaged = [entry["engagement"] for entry in attended if entry.get("engagement")]
    strong, reasons = False, []

    absences = sum(1 for entry in ended if entry["category"] in ABSENT)
    if absences >= 2 and absences >= CHRONIC_ABSENCE_RATE * len(ended):
        strong = True
        reasons.append(f"chronic absence: missed {absences} of {len(ended)} classes "
                       f"({round(100 * absences / len(ended))}%)")
    recent = ended[-RECENT:]
    late = sum(1 for entry in recent if entry["category"] == "tardy")
    if late >= LATE_IN_RECENT:
        reasons.append(f"late to {late} of the last {len(recent)} classes")

    scores = [e["score"] for e in engaged if e.get("score") is not None]
    if len(scores) >= TREND_SESSIONS + 2:
        before = statistics.mean(scores[:-TREND_SESSIONS])
        lately = statistics.mean(scores[-TREND_SESSIONS:])
        if lately < FALLING_SHARE * before and before - lately >= FALLING_POINTS:
            reasons.append(f"engagement fell from {round(before)} to {round(lately)} over the last "
                           f"{TREND_SESSIONS} classes")
    last = engaged[-SILENT_SESSIONS:]
    if len(last) == SILENT_SESSIONS and all(e.get("talk_time_s", 0) < 1 and not e.get("messages") for e in last):
        reasons.append(f"said nothing, aloud or in the chat, in the last {SILENT_SESSIONS} classes")
    answered = sum(e.get("polls_answered") or 0 for e in engaged[-RECENT:])
    right = sum(e.get("polls_correct") or 0 for e in engaged[-RECENT:])
    if answered >= POLL_ANSWERS and right < POLL_RIGHT_SHARE * answered:
        reasons.append(f"answered {right} of {answered} poll questions right in recent classes")

    level = "at_risk" if strong or len(reasons) >= 2 else "watch" if reasons else "none"
    return Risk(level, reasons)
