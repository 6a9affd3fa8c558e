"""`aula transcribe SESSION`: the whole session again, from its recordings, after class.

Every recorded microphone goes through the same SpeakerStream as live (Silero utterances, the
engine), as fast as the machine allows and without partials; the finals, placed on the session's
clock by each file's offset, replace the session's transcript files. Use a bigger model than the
live one: nobody is waiting for these words.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import av
from tqdm import tqdm

from recording.manifest import RecordedTrack, read_manifest
from recording.media_files import decoded_frames

from .engine import SAMPLE_RATE
from .faster_whisper_engine import WhisperSettings
from .registry import create_engine
from .scheduler import RecognitionScheduler
from .speaker_stream import SpeakerStream, StreamSettings, Transcript
from .transcript_files import TranscriptFiles, TranscriptSegment
from .vad import SileroModel

OFFLINE = StreamSettings(partial_interval_s=math.inf)


class NothingToTranscribe(Exception):
    pass


def transcribe_session(session_dir: Path, whisper: WhisperSettings,
                       show_progress: bool = True) -> list[TranscriptSegment]:
    tracks = [t for t in read_manifest(session_dir / "recordings") if t.kind == "audio"]
    if not tracks:
        raise NothingToTranscribe(f"no recorded microphones in {session_dir / 'recordings'}")
    scheduler = RecognitionScheduler(create_engine(whisper), whisper.workers, owns_engine=True)
    silero = SileroModel()
    lock = threading.Lock()
    segments: list[TranscriptSegment] = []
    streams = []
    total = sum(t.duration_s or 0.0 for t in tracks)
    bar = tqdm(total=round(total, 1), unit="s", desc="transcribing", disable=not show_progress)
    try:
        for track in tracks:
            def on_transcript(transcript: Transcript, track: RecordedTrack = track) -> None:
                if transcript.final:
                    with lock:
                        segments.append(TranscriptSegment.on_session_clock(
                            track.participant, track.name, transcript, track.offset_s))
            stream = SpeakerStream(track.participant, silero, scheduler, on_transcript, settings=OFFLINE)
            streams.append(stream)
            for audio, at in _speech(session_dir / "recordings" / track.file):
                stream.feed(audio, at)
                bar.update(round(len(audio) / SAMPLE_RATE, 3))
            stream.close()
        while any(stream.finals_pending for stream in streams):
            time.sleep(0.05)
    finally:
        bar.close()
        scheduler.close()
    segments.sort(key=lambda s: s.start)
    TranscriptFiles(session_dir, session_dir.name).replace_all(segments)
    return segments


def _speech(path: Path):
    """(16 kHz float mono samples, seconds from the file's start) of an audio recording."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    for frame, at in decoded_frames(path, "audio"):
        for resampled in resampler.resample(frame):
            yield resampled.to_ndarray().reshape(-1), at

