"""`aula export`: one file of the class, both speakers audible, every camera in the grid."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from client import ClientOptions
from recording.manifest import read_manifest
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, ColourTrack, ToneTrack

ROOT = Path(__file__).resolve().parents[2]
RED, BLUE = (220, 30, 30), (30, 30, 220)


def tone_strength(samples: np.ndarray, rate: int, frequency: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / rate)
    near = (bins > frequency - 15) & (bins < frequency + 15)
    return float(spectrum[near].max() / (np.median(spectrum) + 1e-9))


async def test_a_recorded_class_exports_to_one_file_with_every_voice_and_camera(aula_server):
    session = await aula_server.create_session(settings={"recording": True})
    ann = await join(aula_server, session["id"], "ann", publish={"microphone": ToneTrack(440, 0.2),
                                                                 "camera": ColourTrack(RED)},
                     options=ClientOptions(decode=False))
    bob = await join(aula_server, session["id"], "bob", publish={"microphone": ToneTrack(1000, 0.2),
                                                                 "camera": ColourTrack(BLUE)},
                     options=ClientOptions(decode=False))
    await asyncio.sleep(4.0)
    await bob.close()
    await ann.close()
    await aula_server.end_session(session["id"])
    session_dir = aula_server.data_dir / "sessions" / session["id"]
    output = session_dir / "export.mp4"
    result = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "server", "export", session["id"], "--data-dir", str(aula_server.data_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "exporting" in result.stderr  # the progress bar

    with av.open(str(output)) as container:
        duration = container.duration / 1e6
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and (video.width, video.height) == (1280, 720)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
    # The class as recorded: from the session's start to the end of its last file.
    span = max(t.offset_s + t.duration_s for t in read_manifest(session_dir / "recordings"))
    assert 3.5 <= span and abs(duration - span) <= 0.5, (duration, span)
    middle = frames[len(frames) // 2]
    left, right = middle[:, :640].reshape(-1, 3).mean(axis=0), middle[:, 640:].reshape(-1, 3).mean(axis=0)
    colours = sorted([tuple(left.round()), tuple(right.round())])
    assert any(np.allclose(c, RED, atol=40) for c in colours) and any(np.allclose(c, BLUE, atol=40) for c in colours), colours

    with av.open(str(output)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(container.streams.audio[0])])
    window = samples[len(samples) // 4: len(samples) * 3 // 4]
    assert tone_strength(window, AUDIO_RATE, 440) > 50 and tone_strength(window, AUDIO_RATE, 1000) > 50
