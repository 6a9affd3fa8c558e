"""`aula transcribe SESSION`: a recorded class transcribed again from its files, offline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from client import ClientOptions
from recording.manifest import read_manifest
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, PcmTrack, espeak

ROOT = Path(__file__).resolve().parents[2]


async def test_a_recorded_class_is_transcribed_again_from_its_recordings(aula_server, whisper_model):
    sentences = ["The quick brown fox jumps over the lazy dog.", "Water boils at one hundred degrees."]
    parts = [np.zeros(AUDIO_RATE, np.int16)]
    for sentence in sentences:
        parts += [espeak(sentence), np.zeros(int(1.5 * AUDIO_RATE), np.int16)]
    speech = np.concatenate(parts)
    session = await aula_server.create_session(settings={"recording": True})
    teacher = await join(aula_server, session["id"], "ms-lee", role="instructor", options=ClientOptions(decode=False))
    student = await join(aula_server, session["id"], "sam", publish={"microphone": PcmTrack(speech)},
                         options=ClientOptions(decode=False))
    await asyncio.sleep(len(speech) / AUDIO_RATE + 0.5)
    await student.close()
    await teacher.close()
    await aula_server.end_session(session["id"])
    session_dir = aula_server.data_dir / "sessions" / session["id"]
    microphone = next(t for t in read_manifest(session_dir / "recordings") if t.participant == "sam")

    result = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "server", "transcribe", session["id"], "--data-dir", str(aula_server.data_dir),
        "--whisper-model", whisper_model, "--whisper-max-tokens", "8"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 utterances" in result.stdout and "transcribing" in result.stderr  # the progress bar
    segments = json.loads((session_dir / "transcript.json").read_text())["segments"]
    assert [s["speaker"] for s in segments] == ["sam", "sam"]
    # On the session's clock: the file's offset plus where the sentence is in the file.
    first_voice = microphone.offset_s + 1.0
    assert abs(segments[0]["start"] - first_voice) <= 0.5, (segments[0], microphone)
    assert (session_dir / "transcript.vtt").read_text().startswith("WEBVTT")


def test_a_session_without_recordings_is_a_clear_error(tmp_path, whisper_model):
    result = subprocess.run([sys.executable, "-m", "server", "transcribe", "ses_0000000000000000",
                             "--data-dir", str(tmp_path), "--whisper-model", whisper_model],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode != 0 and "no recorded microphones" in result.stderr
