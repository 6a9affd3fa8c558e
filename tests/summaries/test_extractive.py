"""The embedded default summariser on a class of two subjects: where the subject changes, what
was taught, what was set for next time; every point said in class and traceable to it."""

from __future__ import annotations

from summaries.evidence import Utterance
from summaries.summariser import Lesson, Sentence

from .lesson import INSTRUCTOR, LINES

SWITCH = next(i for i, (_, text) in enumerate(LINES) if "switch subjects" in text)


def lesson() -> Lesson:
    sentences = []
    for n, ((identity, name), text) in enumerate(LINES):
        role = "instructor" if (identity, name) == INSTRUCTOR else "student"
        utterance = Utterance(f"evt_{n:024x}", identity, name, role, n * 5.0, n * 5.0 + 4.0, text)
        sentences.append(Sentence(text, utterance))
    return Lesson("Science and maths", sentences)


def test_topics_follow_the_change_of_subject(summariser):
    summary = summariser.summarise(lesson())
    assert len(summary.topics) == 2
    science, maths = summary.topics
    # The second topic starts within one sentence of where the instructor changed subject.
    assert abs(maths.start_s - SWITCH * 5.0) <= 5.0
    science_words = {"photosynthesis", "chlorophyll", "leaves", "light", "green", "plant", "sunlight"}
    maths_words = {"fractions", "denominator", "numerator", "common", "fraction", "denominators"}
    assert set(science.title.lower().split(", ")) & science_words
    assert set(maths.title.lower().split(", ")) & maths_words
    assert "photosynthesis" in summary.overview.lower() or science.title.lower() in summary.overview.lower()


def test_key_points_are_teaching_said_in_class_with_their_evidence(summariser):
    summary = summariser.summarise(lesson())
    said = {text: n for n, (_, text) in enumerate(LINES)}
    assert 3 <= len(summary.key_points) <= 8
    for point in summary.key_points:
        n = said[point.text]  # verbatim: extractive
        assert point.evidence[0].event_id == f"evt_{n:024x}" and point.evidence[0].at_s == n * 5.0
        assert not point.text.endswith("?") and "homework" not in point.text.lower()
    # Both subjects are among the key points, not one repeated.
    times = [point.evidence[0].at_s for point in summary.key_points]
    assert min(times) < SWITCH * 5.0 < max(times)


def test_action_items_are_what_was_set_for_next_time(summariser):
    summary = summariser.summarise(lesson())
    assert [item.text for item in summary.action_items] == [
        "For homework, please finish the fractions worksheet by Friday.",
        "Also read chapter four about plants before next class."]
    assert all(item.speaker == "Ms Lee" for item in summary.action_items)


def test_a_class_without_speech_says_so(summariser):
    summary = summariser.summarise(Lesson("Quiet", []))
    assert summary.overview == "No speech was transcribed in this class." and not summary.key_points
