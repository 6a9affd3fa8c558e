"""The embedded default summariser: it picks sentences that were said, it writes none.

On MiniLM sentence embeddings: key points are the sentences most central to the class, chosen with
maximal marginal relevance so they do not repeat each other; topics are the stretches of the class
between the sharpest changes of subject (TextTiling on embeddings), named by their most telling
words; action items are what the instructor set for later (homework cues, or close in meaning to them).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Optional

import numpy as np

from .embeddings import SentenceEmbedder
from .evidence import is_question
from .summariser import ClassSummary, Lesson, Point, Sentence, SummariserBase, Topic
from .wording import join_words

MIN_WORDS = 4  # shorter sentences ("Okay, good.") carry no point
MAX_KEY_POINTS = 8
MMR_RELEVANCE = 0.7
TILING_WINDOW = 3
MIN_TOPIC_SENTENCES = 4
SENTENCES_PER_TOPIC = 12
MAX_TOPICS = 6
ACTION_CUES = re.compile(
    r"\b(homework|assignment|worksheet|due|hand in|submit|for next (time|class|week|lesson)|before next|"
    r"by (monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow)|don't forget|do not forget|"
    r"remember to|make sure (you|to)|please (read|finish|complete|practi[cs]e|prepare|review|revise|write))\b",
    re.IGNORECASE)
ACTION_EXAMPLES = ("For homework, read the next chapter and answer the questions.",
                   "Please finish the worksheet before our next class.",
                   "The assignment is due on Friday.")
ACTION_SIMILARITY = 0.6
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just let like me more
most my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those through
to too under until up very was we were what when where which while who whom why will with would you
your yours yourself yourselves okay ok yeah yes right well so um uh really going get got thing things
know think see look one two three first next today lets let's that's it's we're you're i'm don't can't
""".split())


class ExtractiveSummariser(SummariserBase):
    def __init__(self, embedder: Optional[SentenceEmbedder] = None) -> None:
        self._embedder = embedder or SentenceEmbedder()
        self._action_examples = self._embedder.embed(ACTION_EXAMPLES)
        super().__init__(f"extractive:{self._embedder.name}")

    def _summarise(self, lesson: Lesson) -> ClassSummary:
        sentences = [s for s in lesson.sentences if len(s.text.split()) >= MIN_WORDS]
        if not sentences:
            return ClassSummary("No speech was transcribed in this class.")
        vectors = self._embedder.embed([s.text for s in sentences])
        similarity = vectors @ vectors.T
        centrality = (similarity.sum(1) - 1.0) / max(1, len(sentences) - 1)
        topics = _topics(sentences, vectors, centrality)
        key_points = _key_points(sentences, similarity, centrality)
        actions = self._action_items(sentences, vectors)
        covered = join_words([topic.title.lower() for topic in topics], "; ")
        overview = f"{lesson.title or 'This class'} covered {covered}." if topics else ""
        return ClassSummary(overview, topics, key_points, actions)

    def _action_items(self, sentences: list[Sentence], vectors: np.ndarray) -> list[Point]:
        closeness = (vectors @ self._action_examples.T).max(1)
        chosen = [i for i, s in enumerate(sentences)
                  if s.utterance.role != "student" and (ACTION_CUES.search(s.text) or closeness[i] >= ACTION_SIMILARITY)]
        return [_point(f"action-{n}", sentences[i]) for n, i in enumerate(chosen, 1)]


def _point(point_id: str, sentence: Sentence) -> Point:
    return Point(point_id, sentence.text, [sentence.evidence], sentence.utterance.name)


def _key_points(sentences: list[Sentence], similarity: np.ndarray, centrality: np.ndarray) -> list[Point]:
    count = min(len(sentences), MAX_KEY_POINTS, max(3, len(sentences) // 10))
    # Questions are reported as questions, not as what was taught.
    candidates = [i for i, s in enumerate(sentences) if not is_question(s.text)]
    chosen: list[int] = []
    while candidates and len(chosen) < count:
        def marginal(i: int) -> float:
            redundancy = max((similarity[i, j] for j in chosen), default=0.0)
            return MMR_RELEVANCE * centrality[i] - (1 - MMR_RELEVANCE) * redundancy
        best = max(candidates, key=marginal)
        chosen.append(best)
        candidates.remove(best)
    return [_point(f"point-{n}", sentences[i]) for n, i in enumerate(sorted(chosen), 1)]


def _topics(sentences: list[Sentence], vectors: np.ndarray, centrality: np.ndarray) -> list[Topic]:
    bounds = _segments(vectors, min(MAX_TOPICS, max(1, len(sentences) // SENTENCES_PER_TOPIC)))
    words = [_word_counts(sentences[first:last]) for first, last in bounds]
    topics = []
    for n, ((first, last), counts) in enumerate(zip(bounds, words), 1):
        others = [c for c in words if c is not counts]

        def weight(stem: str) -> float:  # tf-idf across the class's segments
            return counts[stem] * math.log((1 + len(words)) / (1 + sum(1 for c in others if stem in c)))
        keywords = [counts.surface(stem) for stem in sorted(counts, key=lambda w: (-weight(w), -counts[w], w))[:3]]
        # What was taught names the topic: not a question, not the homework.
        teaching = [i for i in range(first, last) if not is_question(sentences[i].text) and not ACTION_CUES.search(sentences[i].text)]
        central = max(teaching or range(first, last), key=lambda i: centrality[i])
        topics.append(Topic(f"topic-{n}", ", ".join(keywords).capitalize() or sentences[central].text,
                            sentences[central].text, sentences[first].utterance.start,
                            sentences[last - 1].utterance.end, [sentences[central].evidence]))
    return topics


class _WordCounts(Counter[str]):
    """Counts of content words by a crude stem ("plants" and "plant" are one), each shown in its
    most frequent spelling."""

    def __init__(self) -> None:
        super().__init__()
        self._spellings: dict[str, Counter[str]] = {}

    def add(self, word: str) -> None:
        stem = word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word
        self[stem] += 1
        self._spellings.setdefault(stem, Counter())[word] += 1

    def surface(self, stem: str) -> str:
        return self._spellings[stem].most_common(1)[0][0]


def _word_counts(sentences: list[Sentence]) -> _WordCounts:
    counts = _WordCounts()
    for sentence in sentences:
        for word in WORD.findall(sentence.text):
            if word.lower() not in STOPWORDS:
                counts.add(word.lower())
    return counts


def _segments(vectors: np.ndarray, count: int) -> list[tuple[int, int]]:
    """[first, last) sentence ranges: cut at the `count - 1` deepest valleys of similarity between
    the windows before and after each gap, no segment shorter than MIN_TOPIC_SENTENCES."""
    n = len(vectors)
    depth: dict[int, float] = {}
    for gap in range(MIN_TOPIC_SENTENCES, n - MIN_TOPIC_SENTENCES + 1):
        before = vectors[max(0, gap - TILING_WINDOW):gap].mean(0)
        after = vectors[gap:gap + TILING_WINDOW].mean(0)
        depth[gap] = -float(before @ after / (np.linalg.norm(before) * np.linalg.norm(after) + 1e-9))
    cuts: list[int] = []
    for gap in sorted(depth, key=lambda g: -depth[g]):
        if len(cuts) == count - 1:
            break
        if all(abs(gap - cut) >= MIN_TOPIC_SENTENCES for cut in cuts):
            cuts.append(gap)
    edges = [0, *sorted(cuts), n]
    return list(zip(edges, edges[1:]))
