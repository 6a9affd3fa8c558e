"""Speech in a live class: voice activity for talk time, and transcripts when a model is set.

`SpeechServices` is node-wide: the Silero VAD model, and the recognition scheduler in front of
the Whisper engine when `--whisper-model` names one. `SessionTranscripts` belongs to one live
session: it puts a SpeakerStream on every microphone, drives the microphone's talk timer from
the VAD, and turns transcripts into events, captions for the room, and the session's files.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from events.types import TranscriptFinal, TranscriptPartial, Word
from media import Participant, Publication
from transcription.faster_whisper_engine import WhisperSettings
from transcription.registry import create_engine
from transcription.remote import RemoteScheduler
from transcription.scheduler import RecognitionScheduler, Recognizer
from transcription.speaker_stream import SpeakerStream, Transcript
from transcription.transcript_files import TranscriptFiles, TranscriptSegment
from transcription.vad import SileroModel

logger = logging.getLogger(__name__)

# How long ending a session waits for the finals of utterances still being decoded.
FINISH_TIMEOUT_S = 30.0

Emit = Callable[..., Any]
Job = Callable[[], Awaitable[None]]


class SpeechServices:
    def __init__(self, whisper: Optional[WhisperSettings], language: str,
                 remote_redis_url: Optional[str] = None) -> None:
        """`whisper`: recognise on this node; else `remote_redis_url`: on `aula asr-worker`s."""
        self.vad = SileroModel()
        self.language = language
        self.scheduler: Optional[Recognizer] = None
        if whisper is not None:
            self.scheduler = RecognitionScheduler(create_engine(whisper), whisper.workers, owns_engine=True)
        elif remote_redis_url is not None:
            self.scheduler = RemoteScheduler(remote_redis_url)

    @property
    def transcribing(self) -> bool:
        return self.scheduler is not None

    def metrics(self) -> Optional[dict[str, object]]:
        return None if self.scheduler is None else self.scheduler.metrics()

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.close()


class SessionTranscripts:
    def __init__(self, session_id: str, directory: Path, services: SpeechServices,
                 emit: Emit, run_job: Callable[[Job], None],
                 broadcast: Callable[[dict[str, Any]], None],
                 session_start: Callable[[], Optional[float]]) -> None:
        self._services = services
        self._emit = emit
        self._run_job = run_job
        self._broadcast = broadcast
        self._session_start = session_start
        self.files = TranscriptFiles(directory, session_id) if services.transcribing else None
        self._streams: dict[str, SpeakerStream] = {}
        # Closed streams whose last finals may still be decoding.
        self._closed: list[SpeakerStream] = []

    @property
    def transcribing(self) -> bool:
        return self.files is not None

    def attach(self, participant: Participant, publication: Publication) -> None:
        """Listen to a microphone: VAD talk time always, transcripts when a model is set."""
        loop = asyncio.get_running_loop()
        identity, name, track = participant.identity, participant.name, publication.sid
        # Unix time at which the publication's media clock read zero, known at its first audio.
        clock_origin: list[float] = []

        def on_transcript(transcript: Transcript) -> None:  # a recognition worker's thread
            loop.call_soon_threadsafe(self._publish, identity, name, track, clock_origin[0], transcript)

        publication.talk_timer.use_voice_activity()
        stream = SpeakerStream(identity, self._services.vad, self._services.scheduler,
                               on_transcript, publication.talk_timer.voice)

        def on_speech(audio: Any, media_time: float) -> None:  # the audio tap's thread
            if not clock_origin:
                clock_origin.append(time.time() - media_time)
            stream.feed(audio, media_time)

        self._streams[track] = stream
        publication.listen(on_speech)

    def detach(self, publication: Publication) -> None:
        stream = self._streams.pop(publication.sid, None)
        if stream is not None:
            stream.close()
            self._closed = [s for s in self._closed if s.finals_pending] + [stream]

    def _publish(self, identity: str, name: str, track: str, clock_origin: float,
                 transcript: Transcript) -> None:
        start_of_session = self._session_start() or clock_origin
        segment = TranscriptSegment.on_session_clock(identity, name, transcript, clock_origin - start_of_session)
        start, end = segment.start, segment.end
        utterance_id = f"{track}-{transcript.utterance}"
        caption = {"type": "caption", "identity": identity, "name": name,
                   "utterance_id": utterance_id, "final": transcript.final,
                   "text": transcript.text, "start": start, "end": end}
        if not transcript.final:
            caption["stable_text"] = transcript.stable_text
            self._emit(TranscriptPartial(
                name=name, utterance_id=utterance_id, start=start, end=end,
                text=transcript.text, stable_text=transcript.stable_text), identity)
            self._broadcast(caption)
            return
        event = self._emit(TranscriptFinal(
            name=name, utterance_id=utterance_id, start=start, end=end,
            text=transcript.text, words=[Word(**word) for word in segment.words],
            confidence=transcript.confidence, language=self._services.language), identity)
        self._broadcast(caption)
        segment = replace(segment, event_id=event.id)
        files = self.files
        assert files is not None
        self._run_job(lambda: asyncio.to_thread(files.add, segment))

    async def finish(self) -> None:
        """The class ended: every utterance in flight gets its final before this returns (or
        the timeout passes)."""
        streams = [*self._streams.values(), *self._closed]
        self._streams.clear()
        self._closed.clear()
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + FINISH_TIMEOUT_S
        while any(stream.finals_pending for stream in streams):
            if time.monotonic() > deadline:
                logger.warning("transcripts: finals still pending at the end of the class")
                return
            await asyncio.sleep(0.05)
        # Finals delivered just now are still hopping onto the loop.
        await asyncio.sleep(0)
