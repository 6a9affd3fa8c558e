"""The signaling socket: bad input gets a clear error and hurts nobody else."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import jwt
import pytest

from client import ClientOptions, RtcClient, SignalingError
from media import Source
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack, ToneTrack

RED = (220, 30, 30)


async def raw_socket(server, token: str) -> aiohttp.ClientWebSocketResponse:
    return await server.http.ws_connect(f"{server.base_url.replace('http', 'ws')}/api/rtc?token={token}")


async def next_message(ws, message_type: str, timeout: float = 5.0) -> dict:
    async def find() -> dict:
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                message = json.loads(frame.data)
                if message["type"] == message_type:
                    return message
        raise AssertionError(f"socket closed before a {message_type} message")
    return await asyncio.wait_for(find(), timeout)


def forge(claims: dict, secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_bad_tokens_are_refused_with_a_reason(aula_server):
    session = await aula_server.create_session()
    good = await aula_server.token(session["id"], "a")
    claims = jwt.decode(good["token"], options={"verify_signature": False})
    now = int(time.time())
    cases = {
        "": "token_invalid",
        "not-a-jwt": "token_invalid",
        forge(claims, "someone-elses-secret-that-is-long-enough"): "token_invalid",
        forge({**claims, "exp": now - 10}, "test-secret-that-is-long-enough-for-hs256"): "token_expired",
        forge({**claims, "sid": "ses_other"}, "test-secret-that-is-long-enough-for-hs256"): "session_not_found",
        forge({**claims, "role": "ops"}, "test-secret-that-is-long-enough-for-hs256"): "token_invalid",
    }
    for token, code in cases.items():
        ws = await raw_socket(aula_server, token)
        error = await next_message(ws, "error")
        assert error["code"] == code, token
        await ws.receive()
        assert ws.closed and ws.close_code in (4001, 4004)


async def test_malformed_messages_get_errors_and_the_class_goes_on(aula_server):
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"microphone": ToneTrack(440), "camera": ColourTrack(RED)})
    watcher = await join(aula_server, session["id"], "watcher",
                         options=ClientOptions(decode=False))
    token = (await aula_server.token(session["id"], "mallory"))["token"]
    ws = await raw_socket(aula_server, token)
    await next_message(ws, "joined")
    try:
        await watcher.wait_for_tracks(2)
        cases = [
            ("{not json", "bad_json"),
            ("[1,2,3]", "bad_json"),
            (json.dumps({"no": "type"}), "unknown_type"),
            (json.dumps({"type": "launch_missiles"}), "unknown_type"),
            (json.dumps({"type": "offer", "target": "publisher", "sdp": "v=0\r\ngarbage", "tracks": []}), "bad_sdp"),
            (json.dumps({"type": "offer", "target": "publisher", "sdp": 5, "tracks": []}), "bad_message"),
            (json.dumps({"type": "offer", "target": "subscriber", "sdp": "", "tracks": []}), "bad_message"),
            (json.dumps({"type": "answer", "target": "subscriber", "sdp": "v=0"}), "bad_sdp"),
            (json.dumps({"type": "candidate", "target": "publisher",
                         "candidate": {"candidate": "candidate:garbage", "sdpMid": "0"}}), "bad_message"),
            (json.dumps({"type": "mute", "source": "telepathy", "muted": True}), "bad_message"),
            (json.dumps({"type": "mute", "source": "microphone", "muted": True}), "bad_message"),
            (json.dumps({"type": "moderate", "action": "remove", "identity": "teacher"}), "forbidden"),
            (json.dumps({"type": "moderate", "action": "lock"}), "forbidden"),
            (json.dumps({"type": "x" * 300_000}), "too_large"),
            (json.dumps({"type": "y" * 5_000}), "unknown_type"),
        ]
        for data, code in cases:
            await ws.send_str(data)
            error = await next_message(ws, "error")
            assert error["code"] == code, (data[:80], error)
        await ws.send_str(json.dumps({"type": "ping", "ts": 7}))
        assert (await next_message(ws, "pong"))["ts"] == 7
        # Nobody else noticed: the teacher is still there and still forwarded.
        before = sum(t.packets for t in watcher.remote_tracks.values())
        await asyncio.sleep(1)
        assert sum(t.packets for t in watcher.remote_tracks.values()) > before + 30
        assert "teacher" in aula_server.sfu.rooms[session["id"]].participants
    finally:
        await ws.close()
        await teacher.close()
        await watcher.close()


async def test_a_flood_of_messages_is_rate_limited(aula_server):
    session = await aula_server.create_session()
    ws = await raw_socket(aula_server, (await aula_server.token(session["id"], "flood"))["token"])
    await next_message(ws, "joined")
    for index in range(300):
        await ws.send_str(json.dumps({"type": "ping", "ts": index}))
    error = await next_message(ws, "error")
    assert error["code"] == "rate_limited"
    await ws.close()


async def test_a_student_may_not_publish_a_screen(aula_server):
    session = await aula_server.create_session()
    token = await aula_server.token(session["id"], "student")
    client = RtcClient(aula_server.base_url, token["token"], {"screen": ColourTrack(RED)})
    with pytest.raises(SignalingError) as refused:
        await asyncio.wait_for(client.connect(), 5)
    assert refused.value.code == "forbidden"
    await client.close()


async def test_an_instructor_mutes_a_student_and_the_server_stops_forwarding(aula_server):
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         options=ClientOptions(decode=False))
    student = await join(aula_server, session["id"], "student",
                         publish={"microphone": ToneTrack(440), "camera": ColourTrack(RED)})
    try:
        await teacher.wait_for_tracks(2)
        await teacher.send({"type": "moderate", "action": "mute", "identity": "student",
                            "source": "microphone"})
        notice = await student.wait_for(lambda m: m["type"] == "muted_by_moderator")
        assert notice == {"type": "muted_by_moderator", "source": "microphone", "by": "teacher"}
        updated = await teacher.wait_for(lambda m: m["type"] == "participant_updated" and any(
            t["source"] == "microphone" and t["muted"] for t in m["participant"]["tracks"]))
        assert updated["participant"]["identity"] == "student"
        audio = teacher.track_from("student", "microphone")
        await asyncio.sleep(0.3)
        frozen = audio.packets
        await asyncio.sleep(1)
        assert audio.packets == frozen  # the student still sends; the SFU forwards nothing
        await student.send({"type": "mute", "source": "microphone", "muted": False})
        await asyncio.sleep(1)
        assert audio.packets > frozen + 20
    finally:
        await teacher.close()
        await student.close()


async def test_a_removed_student_is_gone_and_cannot_come_back(aula_server):
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor")
    student = await join(aula_server, session["id"], "student", publish={"camera": ColourTrack(RED)})
    try:
        await teacher.send({"type": "moderate", "action": "remove", "identity": "student"})
        removed = await student.wait_for(lambda m: m["type"] == "removed")
        assert removed["by"] == "teacher"
        left = await teacher.wait_for(lambda m: m["type"] == "participant_left")
        assert left == {"type": "participant_left", "identity": "student", "reason": "removed"}
        assert await asyncio.wait_for(student.closed, 5) == 4003
        again = RtcClient(aula_server.base_url, (await aula_server.token(session["id"], "student"))["token"])
        with pytest.raises(SignalingError) as refused:
            await again.connect()
        assert refused.value.code == "removed"
        await again.close()
    finally:
        await teacher.close()
        await student.close()


async def test_a_locked_room_admits_no_new_student_but_lets_one_back_in(aula_server):
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor")
    early = await join(aula_server, session["id"], "early")
    try:
        await teacher.send({"type": "moderate", "action": "lock"})
        update = await early.wait_for(lambda m: m["type"] == "room_updated")
        assert update["room"]["locked"] is True
        newcomer = RtcClient(aula_server.base_url, (await aula_server.token(session["id"], "late"))["token"])
        with pytest.raises(SignalingError) as refused:
            await newcomer.connect()
        assert refused.value.code == "room_locked"
        await newcomer.close()
        await early.close(leave=True)
        back = await join(aula_server, session["id"], "early")
        await back.close()
        await teacher.send({"type": "moderate", "action": "unlock"})
        await teacher.wait_for(lambda m: m["type"] == "room_updated" and not m["room"]["locked"])
        late = await join(aula_server, session["id"], "late")
        await late.close()
    finally:
        await teacher.close()
        await early.close()


async def test_a_reconnecting_student_replaces_its_old_connection_and_media_resumes(aula_server):
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED)}, options=ClientOptions(decode=False))
    token = (await aula_server.token(session["id"], "student"))["token"]
    first = RtcClient(aula_server.base_url, token, {"camera": ColourTrack((0, 200, 0))},
                      ClientOptions(decode=False))
    await first.connect()
    try:
        await teacher.wait_for_tracks(1)
        await first.close(leave=False)  # the page reloads: no goodbye
        await asyncio.sleep(0.2)
        room = aula_server.sfu.rooms[session["id"]]
        assert "student" in room.participants  # kept through the reconnect grace
        second = RtcClient(aula_server.base_url, token, {"camera": ColourTrack((0, 200, 0))},
                           ClientOptions(decode=False))
        await second.connect()
        await second.wait_for_tracks(1)
        left = await teacher.wait_for(lambda m: m["type"] == "participant_left")
        assert left["reason"] == "replaced"
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            track = teacher.track_from("student", "camera")
            if track is not None and track.sid == second.published_sids["camera"] and track.packets > 10:
                break
            assert asyncio.get_running_loop().time() < deadline, "the student's new video never arrived"
            await asyncio.sleep(0.1)
        await second.close()
    finally:
        await teacher.close()


async def test_a_dropped_socket_leaves_the_room_after_the_grace(aula_server):
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor")
    student = await join(aula_server, session["id"], "student")
    await student.close(leave=False)
    left = await teacher.wait_for(lambda m: m["type"] == "participant_left", timeout=5)
    assert left["reason"] == "disconnected"
    await teacher.close()


async def test_a_paused_video_stops_flowing_and_resumes_on_a_keyframe(aula_server):
    first_after_resume: list[bytes] = []
    resumed = False

    def on_packet(track, packet) -> None:
        if resumed and not first_after_resume:
            first_after_resume.append(packet.payload)

    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED)})
    student = await join(aula_server, session["id"], "student",
                         options=ClientOptions(decode=False, on_packet=on_packet))
    try:
        (video,) = await student.wait_for_tracks(1)
        await student.send({"type": "update_subscription", "sids": [video.sid], "enabled": False})
        await asyncio.sleep(0.3)
        paused_at = video.packets
        await asyncio.sleep(1)
        assert video.packets == paused_at
        resumed = True
        await student.send({"type": "update_subscription", "sids": [video.sid], "enabled": True})
        await asyncio.sleep(1.5)
        assert video.packets > paused_at + 10
        from media.keyframes import starts_vp8_keyframe
        assert starts_vp8_keyframe(first_after_resume[0])
        await student.send({"type": "update_subscription", "sids": ["TR_nope"], "enabled": False})
        error = await student.wait_for(lambda m: m["type"] == "error")
        assert error["code"] == "not_found"
    finally:
        await teacher.close()
        await student.close()


async def test_a_second_tab_replaces_the_first_which_is_told_why(aula_server):
    session = await aula_server.create_session()
    token = (await aula_server.token(session["id"], "student"))["token"]
    first = RtcClient(aula_server.base_url, token)
    await first.connect()
    second = RtcClient(aula_server.base_url, token)
    await second.connect()
    try:
        notice = await first.wait_for(lambda m: m["type"] == "participant_left")
        assert notice == {"type": "participant_left", "identity": "student", "reason": "replaced"}
        assert await asyncio.wait_for(first.closed, 5) == 4003
        assert aula_server.sfu.rooms[session["id"]].participants["student"].closed is False
    finally:
        await first.close()
        await second.close()
