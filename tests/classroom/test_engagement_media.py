"""Engagement measured from the media itself: talk time from speech, camera time."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from client import ClientOptions
from tests.media.test_forwarding import join
from tests.synthetic import AUDIO_RATE, ColourTrack, PcmTrack, espeak

SENTENCES = ("Today we solve linear equations", "Can you show the second step again please",
             "Thank you")
SILENCE_S = 1.5


async def end_and_snapshots(server, session_id: str) -> dict[str, dict]:
    await server.end_session(session_id)
    events = await server.session_events(session_id)
    return {e["participant"]: e["data"] for e in events if e["type"] == "engagement.snapshot"}


async def test_talk_time_of_synthesised_speech_is_within_ten_percent(aula_server):
    silence = np.zeros(int(SILENCE_S * AUDIO_RATE), dtype=np.int16)
    speech = [espeak(sentence) for sentence in SENTENCES]
    truth = sum(len(s) for s in speech) / AUDIO_RATE
    timeline = np.concatenate([silence] + [part for s in speech for part in (s, silence)])
    session = await aula_server.create_session()
    listener = await join(aula_server, session["id"], "rivera", role="instructor",
                          options=ClientOptions(decode=False))
    speaker = await join(aula_server, session["id"], "sam", publish={"microphone": PcmTrack(timeline)})
    try:
        speaking = await listener.wait_for(lambda m: m["type"] == "active_speakers" and m["speakers"],
                                           timeout=10)
        assert speaking["speakers"][0]["identity"] == "sam"
        await asyncio.sleep(len(timeline) / AUDIO_RATE + 0.5)
        snapshots = await end_and_snapshots(aula_server, session["id"])
    finally:
        await speaker.close()
        await listener.close()
    measured = snapshots["sam"]["talk_time_s"]
    print(f"talk time: measured {measured:.2f} s, truth {truth:.2f} s")
    assert abs(measured - truth) <= 0.1 * truth, (measured, truth)
    assert snapshots["sam"]["speaking_turns"] == len(SENTENCES)
    assert snapshots["rivera"]["talk_time_s"] == 0


async def test_camera_on_time_is_within_a_second_of_the_truth(aula_server):
    session = await aula_server.create_session()
    student = await join(aula_server, session["id"], "sam", publish={"camera": ColourTrack((0, 0, 200))},
                         options=ClientOptions(decode=False))
    camera_on = time.monotonic()
    await asyncio.sleep(2.5)
    await student.send({"type": "mute", "source": "camera", "muted": True})
    truth = time.monotonic() - camera_on
    await asyncio.sleep(1.5)
    try:
        snapshots = await end_and_snapshots(aula_server, session["id"])
    finally:
        await student.close()
    print(f"camera on: measured {snapshots['sam']['camera_on_s']:.2f} s, truth {truth:.2f} s")
    assert abs(snapshots["sam"]["camera_on_s"] - truth) <= 1.0, (snapshots["sam"], truth)
    signals = [e["data"]["signal"] for e in await aula_server.session_events(session["id"])
               if e["type"] == "engagement.signal"]
    assert signals.count("camera_on") == 1 and signals.count("camera_off") == 1


async def test_sampled_camera_pictures_report_black_frozen_and_no_face(redis_server, tmp_path):
    from server.context import CONTEXT
    from tests.conftest import loopback_settings, running_aula
    from tests.synthetic import MovingTrack, PictureTrack, face_photo

    settings = loopback_settings(redis_server.url, tmp_path / "data", video_sample_interval_s=1.0)
    async with running_aula(settings) as server:
        session = await server.create_session()
        cameras = {"dark": ColourTrack((0, 0, 0)), "still": ColourTrack((200, 120, 40)),
                   "live": MovingTrack(), "person": PictureTrack(face_photo())}
        clients = [await join(server, session["id"], name, publish={"camera": track},
                              options=ClientOptions(decode=False))
                   for name, track in cameras.items()]
        try:
            await server.wait_for_event(session["id"], lambda e: e["data"].get("signal") == "video_frozen",
                                        timeout=15)
            await asyncio.sleep(2.5)
            frames = server.app[CONTEXT].live.frames
        finally:
            for client in clients:
                await client.close()
        events = await server.session_events(session["id"])
    signals = {(e["participant"], e["data"]["signal"]) for e in events if e["type"] == "engagement.signal"}
    assert ("dark", "video_black") in signals
    assert ("still", "video_frozen") in signals and ("still", "face_absent") in signals
    assert ("live", "face_absent") in signals
    assert ("person", "face_present") in signals and ("person", "face_absent") not in signals
    assert not {("live", "video_frozen"), ("live", "video_black"), ("dark", "video_frozen")} & signals
    samples = frames.samples
    cost_ms = 1000 * frames.busy_seconds / samples
    print(f"video tap: {samples} samples, {cost_ms:.1f} ms of CPU each (decode + examine)")
    assert samples >= 6
