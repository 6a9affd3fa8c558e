"""How long a class summary takes to draft with the embedded default (extractive, MiniLM on CPU),
by class length: one transcript sentence every 5 s (a talkative class), 30 students.

    python -m benchmarks.summaries --minutes 15 30 60 --json benchmarks/results/summaries.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

from events.event import Event, iso
from events.types import EngagementSnapshot, SessionStarted, TranscriptFinal
from summaries.draft import draft_summary
from summaries.embeddings import SentenceEmbedder
from summaries.evidence import class_record
from summaries.extractive import ExtractiveSummariser

SUBJECTS = {
    "photosynthesis": ["plants", "sunlight", "chlorophyll", "leaves", "glucose", "oxygen", "carbon dioxide"],
    "fractions": ["numerator", "denominator", "common factor", "equivalent fractions", "halves", "quarters"],
    "the water cycle": ["evaporation", "condensation", "clouds", "rain", "rivers", "the ocean"],
    "the French Revolution": ["the king", "Paris", "the Bastille", "the assembly", "taxes", "the people"],
}
PATTERNS = ["Today we look at how {a} relates to {b}.", "Remember that {a} depends on {b}.",
            "Can anyone tell me what {a} has to do with {b}?", "Notice how {a} changes when {b} changes.",
            "The key idea is that {a} and {b} work together.", "Let us write down the link between {a} and {b}."]


def class_events(minutes: int, students: int, rng: random.Random) -> list[dict]:
    session = "ses_00000000000000aa"
    t0 = time.time()
    events = [Event.of(SessionStarted(title="Benchmark", scheduled_start=iso(t0), scheduled_end=iso(t0 + 3600),
                                      started_at=iso(t0)), session, at=t0).envelope()]
    subjects = list(SUBJECTS)
    for n in range(minutes * 12):
        subject = subjects[min(len(subjects) - 1, n * len(subjects) // (minutes * 12))]
        a, b = rng.sample(SUBJECTS[subject], 2)
        speaker = "teacher" if rng.random() < 0.8 else f"s{rng.randrange(students)}"
        events.append(Event.of(TranscriptFinal(
            name=speaker, utterance_id=f"TR_000000000001-{n}", start=n * 5.0, end=n * 5.0 + 4,
            text=rng.choice(PATTERNS).format(a=a, b=b), words=[], confidence=0.9, language="en"),
            session, speaker, at=t0 + n * 5 + 4).envelope())
    for s in range(students):
        events.append(Event.of(EngagementSnapshot(
            present_s=minutes * 60, talk_time_s=rng.uniform(0, 120), speaking_turns=rng.randrange(10),
            camera_on_s=minutes * 60, visible_s=minutes * 60, messages=rng.randrange(5), hands=1,
            reactions=0, polls_answered=0, polls_correct=0, score=rng.uniform(10, 90),
            score_parts=None), session, f"s{s}", at=t0 + minutes * 60).envelope())
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, nargs="+", default=[15, 30, 60])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    summariser = ExtractiveSummariser(SentenceEmbedder(threads=args.threads))
    load_s = time.perf_counter() - started
    rows = []
    for minutes in args.minutes:
        record = class_record("ses_00000000000000aa", class_events(minutes, args.students, random.Random(minutes)))
        started = time.perf_counter()
        summary = draft_summary(record, summariser, time.time())
        rows.append({"minutes": minutes, "sentences": len(record.utterances), "draft_s": round(time.perf_counter() - started, 2),
                     "topics": len(summary["topics"]), "key_points": len(summary["key_points"])})
    print(f"model load: {load_s:.1f} s  (threads: {args.threads})")
    print(f"{'class':>8} {'sentences':>10} {'draft s':>8} {'topics':>7} {'points':>7}")
    for row in rows:
        print(f"{row['minutes']:>6} m {row['sentences']:>10} {row['draft_s']:>8} {row['topics']:>7} {row['key_points']:>7}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "load_s": round(load_s, 2),
                                         "threads": args.threads, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
