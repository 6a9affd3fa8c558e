"""transcript.json / .vtt / .srt: ordered, escaped, rewritten whole after every final."""

from __future__ import annotations

import json

from transcription.transcript_files import TranscriptFiles, TranscriptSegment, render_srt, render_vtt


def segment(speaker: str, start: float, end: float, text: str) -> TranscriptSegment:
    return TranscriptSegment(speaker, speaker.title(), start, end, text, 0.9, [], f"evt_{int(start):024x}")


def test_finals_arriving_out_of_order_are_kept_in_time_order(tmp_path):
    files = TranscriptFiles(tmp_path / "ses", "ses_1")
    files.add(segment("bo", 5.0, 7.0, "Second."))
    files.add(segment("ann", 1.0, 9.5, "First, and long."))
    files.add(segment("bo", 3661.25, 3662.0, "Much later."))
    document = json.loads(files.path("json").read_text())
    assert [s["text"] for s in document["segments"]] == ["First, and long.", "Second.", "Much later."]
    assert files.path("vtt").read_text() == (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:09.500\n<v Ann>First, and long.\n\n"
        "00:00:05.000 --> 00:00:07.000\n<v Bo>Second.\n\n"
        "01:01:01.250 --> 01:01:02.000\n<v Bo>Much later.\n\n")
    assert files.path("srt").read_text() == (
        "1\n00:00:01,000 --> 00:00:09,500\nAnn: First, and long.\n\n"
        "2\n00:00:05,000 --> 00:00:07,000\nBo: Second.\n\n"
        "3\n01:01:01,250 --> 01:01:02,000\nBo: Much later.\n\n")


def test_a_restarted_node_carries_on_the_same_transcript(tmp_path):
    TranscriptFiles(tmp_path, "ses_1").add(segment("ann", 1.0, 2.0, "Before the restart."))
    again = TranscriptFiles(tmp_path, "ses_1")
    again.add(segment("ann", 30.0, 31.0, "After it."))
    assert [s.text for s in TranscriptFiles(tmp_path, "ses_1").segments] == ["Before the restart.", "After it."]
    assert not list(tmp_path.glob("*.tmp"))


def test_text_cannot_break_the_caption_formats(tmp_path):
    files = TranscriptFiles(tmp_path, "ses_1")
    files.add(segment("ann", 1.0, 2.0, "a <b>tag</b> & an arrow --> here\n\nand a blank line\r"))
    files.add(segment("bob", 2.0, 3.0, ""))  # voice without words: kept in JSON, no cue
    vtt = files.path("vtt").read_text()
    assert "&lt;b&gt;tag&lt;/b&gt; &amp; an arrow -&gt; here and a blank line\n" in vtt
    assert vtt.count("-->") == 1 and "\n\n\n" not in vtt
    assert files.path("srt").read_text().count("-->") == 1
    assert [s["text"] for s in json.loads(files.path("json").read_text())["segments"]][1] == ""


def test_renderers_of_an_empty_transcript_are_valid_empty_files():
    assert render_vtt([]) == "WEBVTT\n\n" and render_srt([]) == ""
