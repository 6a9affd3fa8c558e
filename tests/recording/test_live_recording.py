"""Recording a live class: real aiortc participants publish known, pre-encoded Opus and VP8;
the files hold exactly those bytes (never re-encoded), last as long as the recording, and are
listed in recordings.json; everyone in the room hears that recording started and stopped."""

from __future__ import annotations

import asyncio
import time

import av

from client import ClientOptions
from events.schema import validate
from recording.manifest import read_manifest
from tests.media.test_forwarding import join
from tests.synthetic import EncodedToneTrack, EncodedVideoTrack


def demuxed(path) -> list[tuple[bytes, float]]:
    with av.open(str(path)) as container:
        stream = container.streams[0]
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(stream) if p.size]


def contiguous_in(recorded: list[bytes], sent: list[bytes]) -> bool:
    """`recorded` is a run of `sent`, in order, with nothing altered, added or left out."""
    return bool(recorded) and any(sent[first:first + len(recorded)] == recorded
                                  for first in range(len(sent)) if sent[first] == recorded[0])


async def test_the_instructor_records_tracks_byte_for_byte_and_everyone_is_told(aula_server):
    session = await aula_server.create_session()
    microphone, camera = EncodedToneTrack(440), EncodedVideoTrack()
    teacher = await join(aula_server, session["id"], "ms-lee", role="instructor",
                         options=ClientOptions(decode=False))
    student = await join(aula_server, session["id"], "sam",
                         publish={"microphone": microphone, "camera": camera},
                         options=ClientOptions(decode=False))
    try:
        await teacher.wait_for_tracks(2)
        await student.send({"type": "recording", "action": "start"})
        refused = await student.wait_for(lambda m: m["type"] == "error" and m.get("ref_type") == "recording")
        assert refused["code"] == "forbidden"

        await teacher.send({"type": "recording", "action": "start"})
        started = time.monotonic()
        for client in (teacher, student):
            notice = await client.wait_for(lambda m: m["type"] == "recording" and m["active"])
            assert notice["started_by"] == "ms-lee"
        await asyncio.sleep(4.0)
        await teacher.send({"type": "recording", "action": "stop"})
        for client in (teacher, student):
            await client.wait_for(lambda m: m["type"] == "recording" and not m["active"])
        recorded_s = time.monotonic() - started
        finished = await aula_server.wait_for_event(session["id"], lambda e: e["type"] == "recording.finished")
    finally:
        await student.close()
        await teacher.close()

    validate(finished)
    assert finished["participant"] == "ms-lee" and finished["data"]["reason"] == "stopped"
    folder = aula_server.data_dir / "sessions" / session["id"] / "recordings"
    tracks = {t.source: t for t in read_manifest(folder)}
    assert set(tracks) == {"microphone", "camera"}
    assert {f["file"] for f in finished["data"]["files"]} == {t.file for t in tracks.values()}
    for track in tracks.values():
        assert track.status == "complete" and track.participant == "sam" and track.offset_s >= 0

    audio = folder / tracks["microphone"].file
    with av.open(str(audio)) as container:
        assert container.format.name == "ogg" and container.streams[0].codec_context.name == "opus"
    audio_packets = demuxed(audio)
    assert contiguous_in([p for p, _ in audio_packets], microphone.sent)
    # Within a second: the paced track drifts from the wall clock on a loaded 2-core machine.
    assert abs((audio_packets[-1][1] - audio_packets[0][1]) - recorded_s) <= 1.0

    video = folder / tracks["camera"].file
    with av.open(str(video)) as container:
        stream = container.streams[0]
        assert "webm" in container.format.name and stream.codec_context.name == "vp8"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        first = next(container.decode(stream))  # it opens on a keyframe: decodable at once
        assert first.width == 320
    video_packets = demuxed(video)
    assert contiguous_in([p for p, _ in video_packets], camera.sent)
    assert abs((video_packets[-1][1] - video_packets[0][1]) - recorded_s) <= 0.5
    assert tracks["camera"].duration_s is not None and tracks["camera"].frames == len(video_packets)

    async with aula_server.http.get(f"{aula_server.base_url}/api/sessions/{session['id']}/recordings",
                                    headers=aula_server.headers) as response:
        listed = await response.json()
    assert {t["file"] for t in listed["tracks"]} == {t.file for t in tracks.values()}


async def test_a_session_set_to_record_records_from_the_first_join_until_the_end(aula_server):
    session = await aula_server.create_session(settings={"recording": True})
    student = await join(aula_server, session["id"], "sam", publish={"microphone": EncodedToneTrack(440)},
                         options=ClientOptions(decode=False))
    try:
        notice = await student.wait_for(lambda m: m["type"] == "recording" or
                                        (m["type"] == "joined" and m["recording"]["active"]))
        assert notice.get("active", True)
        await asyncio.sleep(2.0)
        await aula_server.end_session(session["id"])
    finally:
        await student.close()
    events = await aula_server.session_events(session["id"])
    types = [e["type"] for e in events]
    assert types.index("recording.started") < types.index("recording.finished") < types.index("session.ended")
    finished = next(e for e in events if e["type"] == "recording.finished")
    assert finished["data"]["reason"] == "session_ended" and finished["data"]["by"] is None
    assert [f["participant"] for f in finished["data"]["files"]] == ["sam"]
    assert finished["data"]["files"][0]["duration_s"] > 1.0


async def test_recording_control_from_the_api(aula_server):
    session = await aula_server.create_session()
    url = f"{aula_server.base_url}/api/sessions/{session['id']}/recording"
    async with aula_server.http.post(url, json={"action": "start"}, headers=aula_server.headers) as response:
        assert response.status == 409  # nobody there yet
    student = await join(aula_server, session["id"], "sam", publish={"microphone": EncodedToneTrack(440)},
                         options=ClientOptions(decode=False))
    try:
        async with aula_server.http.post(url, json={"action": "record"}, headers=aula_server.headers) as response:
            assert response.status == 400
        async with aula_server.http.post(url, json={"action": "start"}, headers=aula_server.headers) as response:
            assert response.status == 200 and (await response.json())["active"] is True
        await student.wait_for(lambda m: m["type"] == "recording" and m["active"])
        async with aula_server.http.post(url, json={"action": "start"}, headers=aula_server.headers) as response:
            assert (await response.json())["changed"] is False
        async with aula_server.http.post(url, json={"action": "stop"}, headers=aula_server.headers) as response:
            assert (await response.json()) == {"active": False, "started_by": None, "started_at": None,
                                               "changed": True}
    finally:
        await student.close()


async def test_an_h264_camera_is_recorded_as_mpeg_ts_and_decodes(aula_server):
    from tests.synthetic import ColourTrack

    session = await aula_server.create_session(settings={"recording": True})
    student = await join(aula_server, session["id"], "sam", publish={"camera": ColourTrack((40, 160, 40))},
                         options=ClientOptions(decode=False, video_codec="video/H264"))
    try:
        await asyncio.sleep(3.0)
        await aula_server.end_session(session["id"])
    finally:
        await student.close()
    folder = aula_server.data_dir / "sessions" / session["id"] / "recordings"
    (track,) = read_manifest(folder)
    assert track.codec == "video/h264" and track.file.endswith(".ts") and track.status == "complete"
    with av.open(str(folder / track.file)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(frames) > 30
    assert abs(frames[-1].reshape(-1, 3).mean(axis=0) - (40, 160, 40)).max() < 30
