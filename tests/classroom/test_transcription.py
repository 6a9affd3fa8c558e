"""Live transcription through the whole product: an aiortc student speaks (espeak sentences at
known times) into a real class; the VAD's utterances come out as transcript events on Redis,
captions in the room, and transcript files served by the API. The model has random weights, so
these tests check segmentation, timing and delivery, never the words."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from client import ClientOptions
from events.schema import validate
from tests.conftest import loopback_settings, running_aula
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, PcmTrack, espeak

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Water boils at one hundred degrees.",
             "Can you repeat the last step please?"]
LEAD_S, GAP_S = 1.0, 1.5


def timeline() -> tuple[np.ndarray, list[tuple[float, float]]]:
    parts, spoken, at = [np.zeros(int(LEAD_S * AUDIO_RATE), np.int16)], [], LEAD_S
    for sentence in SENTENCES:
        voice = espeak(sentence)
        spoken.append((at, at + len(voice) / AUDIO_RATE))
        parts += [voice, np.zeros(int(GAP_S * AUDIO_RATE), np.int16)]
        at += len(voice) / AUDIO_RATE + GAP_S
    return np.concatenate(parts), spoken


async def test_speech_in_class_becomes_events_captions_and_transcript_files(transcribing_aula):
    server = transcribing_aula
    audio, spoken = timeline()
    session = await server.create_session()
    listener = await join(server, session["id"], "rivera", role="instructor",
                          options=ClientOptions(decode=False))
    speaker = await join(server, session["id"], "sam", publish={"microphone": PcmTrack(audio)})
    try:
        await asyncio.sleep(len(audio) / AUDIO_RATE + 0.5)
        finals = [await server.wait_for_event(
            session["id"], lambda e, n=n: e["type"] == "transcript.final"
            and e["data"]["utterance_id"].endswith(f"-{n}")) for n in range(1, len(SENTENCES) + 1)]
        captions = [m for m in listener.messages if m["type"] == "caption"]
    finally:
        await speaker.close()
        await listener.close()
    events = await server.session_events(session["id"])
    for event in events:
        validate(event)
    assert len([e for e in events if e["type"] == "transcript.final"]) == len(SENTENCES)
    assert all(f["participant"] == "sam" and f["data"]["name"] == "sam" for f in finals)

    # Times are seconds from the start of the session; the spacing between utterances is the
    # spacing in what was said.
    starts = [f["data"]["start"] for f in finals]
    ends = [f["data"]["end"] for f in finals]
    offset = starts[0] - spoken[0][0]
    assert 0 <= offset < 5
    for (start, end), (true_start, true_end) in zip(zip(starts, ends), spoken):
        assert abs(start - offset - true_start) <= 0.25 and abs(end - offset - true_end) <= 0.25

    partials = [e for e in events if e["type"] == "transcript.partial"]
    assert partials and all(p["data"]["utterance_id"] in {f["data"]["utterance_id"] for f in finals}
                            for p in partials)
    # Each final follows its own partials on the bus.
    order = [e["id"] for e in events]
    for final in finals:
        mine = [order.index(p["id"]) for p in partials if p["data"]["utterance_id"] == final["data"]["utterance_id"]]
        assert all(index < order.index(final["id"]) for index in mine)

    # Everyone in the room got captions: partials, then the final of each utterance.
    final_captions = [c for c in captions if c["final"]]
    assert [c["utterance_id"] for c in final_captions] == [f["data"]["utterance_id"] for f in finals]
    assert any(not c["final"] for c in captions)
    assert final_captions[0]["name"] == "sam" and final_captions[0]["start"] == starts[0]

    # The files, through the API, as soon as each final settles.
    base = f"{server.base_url}/api/sessions/{session['id']}/transcript"
    async with server.http.get(base, headers=server.headers) as response:
        document = await response.json()
    assert response.status == 200 and document["transcription"] == "on"
    assert [s["start"] for s in document["segments"]] == starts
    assert [s["event_id"] for s in document["segments"]] == [f["id"] for f in finals]
    worded = [s for s in document["segments"] if s["text"]]
    async with server.http.get(base + "?format=vtt", headers=server.headers) as response:
        vtt = await response.text()
        assert response.content_type == "text/vtt"
    assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(worded) and "<v sam>" in vtt
    async with server.http.get(base + "?format=srt", headers=server.headers) as response:
        srt = await response.text()
    assert srt.count(" --> ") == len(worded)
    assert (server.data_dir / "sessions" / session["id"] / "transcript.json").exists()


async def test_ending_the_class_mid_sentence_still_transcribes_that_sentence(transcribing_aula):
    server = transcribing_aula
    speech = espeak("This sentence is interrupted when the instructor ends the class right now")
    audio = np.concatenate([np.zeros(AUDIO_RATE // 2, np.int16), speech])
    session = await server.create_session()
    speaker = await join(server, session["id"], "ms-lee", role="instructor",
                         publish={"microphone": PcmTrack(audio)})
    try:
        await server.wait_for_event(session["id"], lambda e: e["type"] == "transcript.partial")
        await server.end_session(session["id"])
    finally:
        await speaker.close()
    types = [e["type"] for e in await server.session_events(session["id"])]
    assert "transcript.final" in types
    assert types.index("transcript.final") < types.index("session.ended")
    async with server.http.get(f"{server.base_url}/api/sessions/{session['id']}/transcript",
                               headers=server.headers) as response:
        assert len((await response.json())["segments"]) == 1


async def test_without_a_model_the_class_runs_and_says_transcription_is_off(aula_server):
    session = await aula_server.create_session()
    async with aula_server.http.get(f"{aula_server.base_url}/healthz") as response:
        assert (await response.json())["transcription"] == "off"
    async with aula_server.http.get(f"{aula_server.base_url}/api/sessions/{session['id']}/transcript",
                                    headers=aula_server.headers) as response:
        assert await response.json() == {"session_id": session["id"], "ended": False,
                                          "transcription": "off", "segments": []}
    for bad in ("?format=doc", "?format="):
        async with aula_server.http.get(f"{aula_server.base_url}/api/sessions/{session['id']}/transcript{bad}",
                                        headers=aula_server.headers) as response:
            assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_request"
    async with aula_server.http.get(f"{aula_server.base_url}/api/sessions/ses_0000000000000000/transcript",
                                    headers=aula_server.headers) as response:
        assert response.status == 404


async def test_a_node_with_remote_recognition_transcribes_through_an_asr_worker(redis_server, tmp_path,
                                                                                whisper_model):
    from tests.transcription.test_remote import asr_worker

    settings = loopback_settings(redis_server.url, tmp_path / "data", asr_remote=True)
    speech = np.concatenate([np.zeros(AUDIO_RATE // 2, np.int16), espeak(SENTENCES[0]),
                             np.zeros(AUDIO_RATE * 2, np.int16)])
    with asr_worker(redis_server.url, whisper_model):
        async with running_aula(settings) as server:
            session = await server.create_session()
            speaker = await join(server, session["id"], "sam", publish={"microphone": PcmTrack(speech)})
            try:
                final = await server.wait_for_event(session["id"], lambda e: e["type"] == "transcript.final",
                                                    timeout=30)
            finally:
                await speaker.close()
            async with server.http.get(f"{server.base_url}/api/stats", headers=server.headers) as response:
                stats = (await response.json())["transcription"]
    validate(final)
    assert final["participant"] == "sam" and final["data"]["language"] == "en"
    assert stats["mode"] == "remote" and stats["finals_done"] >= 1
