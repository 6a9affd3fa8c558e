"""A student's network drops UDP for 10 s in the middle of a class.

The server's sockets for that student drop every datagram both ways (`UdpCut`); its signaling
socket stays up, as when a network blocks UDP only. The student comes back by itself, the
attendance shows one gap as long as the drop, and the rest of the class never stalls.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from client import ClientOptions, RtcClient
from events.event import parse_iso
from events.schema import validate
from media.aiortc import consent
from media.connectivity import LOST_AFTER_S
from tests.classroom.test_live_session import of_type, roster
from tests.synthetic import EncodedToneTrack, EncodedVideoTrack
from tests.web_client.test_join_page import autojoin_url

from .udp_cut import UdpCut

CUT_S = 10.0
# The server polls once a second, so "last heard" is up to a poll late or early.
POLL_SLACK_S = 1.5
# A stall the class would see: the instructor's video (30 fps) missing this long at a student.
STALL_S = 2.0


class Arrivals:
    """When one participant's packets from one publisher's video arrived."""

    def __init__(self, publisher: str) -> None:
        self.publisher = publisher
        self.times: list[float] = []

    def __call__(self, track: Any, packet: Any) -> None:
        if track.identity == self.publisher and track.kind == "video":
            self.times.append(time.monotonic())

    def assert_no_stall(self, start: float, end: float) -> None:
        inside = [start] + [t for t in self.times if start <= t <= end] + [end]
        gap, at = max((b - a, a - start) for a, b in zip(inside, inside[1:]))
        assert gap < STALL_S, f"{self.publisher}'s video stalled {gap:.2f} s, {at:.1f} s after the cut"


async def start_class(server: Any) -> tuple[str, RtcClient, RtcClient, Arrivals]:
    """An instructor publishing camera and microphone, and a classmate who watches."""
    session = await server.create_session(roster=roster("sam", "kim"), instructors=["rivera"])
    sid = session["id"]
    teacher = RtcClient(server.base_url, (await server.token(sid, "rivera", role="instructor"))["token"],
                        {"camera": EncodedVideoTrack(), "microphone": EncodedToneTrack(440)},
                        ClientOptions(decode=False))
    await teacher.connect()
    arrivals = Arrivals("rivera")
    kim = RtcClient(server.base_url, (await server.token(sid, "kim"))["token"],
                    options=ClientOptions(decode=False, on_packet=arrivals))
    await kim.connect()
    await kim.wait_for_tracks(2)
    return sid, teacher, kim, arrivals


async def join_publishing_student(server: Any, sid: str, classmate: RtcClient) -> RtcClient:
    """sam joins with a camera; it and its classmate get each other's media flowing."""
    sam = RtcClient(server.base_url, (await server.token(sid, "sam"))["token"],
                    {"camera": EncodedVideoTrack()}, ClientOptions(decode=False))
    await sam.connect()
    await sam.wait_for_tracks(2)
    await classmate.wait_for_tracks(3)
    return sam


async def cut_for(udp_cut: UdpCut, server: Any, identity: str) -> tuple[float, float]:
    """Cut `identity`'s UDP for CUT_S; the wall-clock start and end."""
    for room in server.sfu.rooms.values():
        udp_cut.watch(room)
    udp_cut.cut(identity)
    cut_at, started = time.time(), time.monotonic()
    await asyncio.sleep(CUT_S)
    udp_cut.restore(identity)
    assert udp_cut.dropped > 0
    return cut_at, cut_at + (time.monotonic() - started)


async def attendance_of(server: Any, sid: str) -> dict[str, dict[str, Any]]:
    url = f"{server.base_url}/api/sessions/{sid}/attendance"
    async with server.http.get(url, headers=server.headers) as response:
        return {record["identity"]: record for record in (await response.json())["records"]}


async def check_one_gap(server: Any, sid: str, cut_at: float, restored_at: float,
                        back_at: float) -> None:
    """Attendance and events: sam has one gap, from about the cut to its return; the others none."""
    # The return is recorded by the class's attendance job (Redis round trips) just after the
    # connection is marked ok: wait for it to land, with its time taken when it happened.
    deadline = time.monotonic() + 5
    while True:
        records = await attendance_of(server, sid)
        intervals = records["sam"]["intervals"]
        if len(intervals) >= 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert len(intervals) == 2, intervals
    left, rejoined = parse_iso(intervals[0]["left_at"]), parse_iso(intervals[1]["joined_at"])
    assert cut_at - POLL_SLACK_S <= left <= cut_at + POLL_SLACK_S, (cut_at, intervals)
    assert restored_at - 0.5 <= rejoined <= back_at + POLL_SLACK_S, (restored_at, back_at, intervals)
    for other in ("rivera", "kim"):
        assert len(records[other]["intervals"]) == 1, records[other]

    events = await server.session_events(sid)
    for event in events:
        validate(event)
    sam_left = [e for e in of_type(events, "participant.left") if e["participant"] == "sam"]
    sam_joined = [e for e in of_type(events, "participant.joined") if e["participant"] == "sam"]
    assert [e["data"]["reason"] for e in sam_left] == ["connection_lost"]
    assert [e["data"]["rejoin"] for e in sam_joined] == [False, True]
    assert not [e for e in of_type(events, "participant.left") if e["participant"] != "sam"]


async def wait_connection(server: Any, sid: str, identity: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        room = server.sfu.rooms.get(sid)
        participant = room.participants.get(identity) if room is not None else None
        if participant is not None and participant.describe()["connection"] == state:
            return
        assert time.monotonic() < deadline, f"{identity} is not {state}"
        await asyncio.sleep(0.1)


async def test_an_aiortc_student_cut_off_for_10_s_is_lost_then_back_on_the_same_connection(
        aula_server: Any, udp_cut: UdpCut) -> None:
    sid, teacher, kim, arrivals = await start_class(aula_server)
    sam = await join_publishing_student(aula_server, sid, kim)
    try:
        started = time.monotonic()
        cut = asyncio.ensure_future(cut_for(udp_cut, aula_server, "sam"))
        # Everyone else is told, while the drop lasts.
        await kim.wait_for(lambda m: m["type"] == "participant_updated"
                           and m["participant"]["identity"] == "sam"
                           and m["participant"]["connection"] == "lost", timeout=LOST_AFTER_S + 3)
        cut_at, restored_at = await cut
        # aiortc's ICE keeps checking consent for 30 s: the same connection recovers.
        await wait_connection(aula_server, sid, "sam", "ok", timeout=15)
        back_at = time.time()
        before = sam.track_from("rivera", "camera").packets
        await asyncio.sleep(1)
        assert sam.track_from("rivera", "camera").packets > before
        arrivals.assert_no_stall(started, time.monotonic())
        await check_one_gap(aula_server, sid, cut_at, restored_at, back_at)
    finally:
        for client in (sam, kim, teacher):
            await client.close()


async def test_a_student_whose_connection_fails_is_removed_and_the_class_goes_on(
        aula_server: Any, udp_cut: UdpCut, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drop long enough that ICE consent fails: the server drops the dead connection at once
    (closing its signaling socket, so a browser rejoins) instead of keeping it in the room."""
    import aioice.ice
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.5)  # expires in ~4 s, not 30 s
    monkeypatch.setattr(consent, "CONSENT_EXPIRY_S", 1.0)
    sid, teacher, kim, arrivals = await start_class(aula_server)
    sam = await join_publishing_student(aula_server, sid, kim)
    try:
        for room in aula_server.sfu.rooms.values():
            udp_cut.watch(room)
        started, cut_at = time.monotonic(), time.time()
        udp_cut.cut("sam")
        left = await kim.wait_for(lambda m: m["type"] == "participant_left"
                                  and m["identity"] == "sam", timeout=LOST_AFTER_S)
        assert left["reason"] == "connection_lost"
        assert await asyncio.wait_for(sam.closed, 5) is not None  # the server closed its socket
        assert "sam" not in aula_server.sfu.rooms[sid].participants
        # A classmate joining afterwards is offered the class, not an error from the dead one.
        lee = RtcClient(aula_server.base_url, (await aula_server.token(sid, "lee"))["token"],
                        options=ClientOptions(decode=False))
        await lee.connect()
        await lee.wait_for_tracks(2)
        await lee.close()
        arrivals.assert_no_stall(started, time.monotonic())
        events = await aula_server.session_events(sid)
        sam_left = [e for e in of_type(events, "participant.left") if e["participant"] == "sam"]
        assert [e["data"]["reason"] for e in sam_left] == ["connection_lost"]
        assert abs(parse_iso(sam_left[0]["ts"]) - cut_at) <= POLL_SLACK_S, (cut_at, sam_left)
    finally:
        for client in (sam, kim, teacher):
            await client.close()


@pytest.mark.browser
async def test_a_browser_cut_off_for_10_s_rejoins_with_one_attendance_gap(
        aula_server: Any, open_page: Any, udp_cut: UdpCut) -> None:
    sid, teacher, kim, arrivals = await start_class(aula_server)
    sam = await open_page("sam", await autojoin_url(aula_server, sid, "sam", "Sam", "student"))
    try:
        await sam.wait_for_phase("joined")
        await sam.wait_playing("rivera")
        started = time.monotonic()
        cut_at, restored_at = await cut_for(udp_cut, aula_server, "sam")
        # The page notices on its own (its ICE goes `disconnected`) and comes back.
        await sam.wait_playing("rivera", timeout=30)
        back_at = time.time()
        arrivals.assert_no_stall(started, time.monotonic())
        await wait_connection(aula_server, sid, "sam", "ok", timeout=5)
        await check_one_gap(aula_server, sid, cut_at, restored_at, back_at)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sam.log_tail()}") from exc
    finally:
        for client in (kim, teacher):
            await client.close()


@pytest.mark.browser
async def test_a_page_whose_connection_the_server_gave_up_on_rejoins_at_once(
        aula_server: Any, open_page: Any) -> None:
    """aiortc closed the page's subscriber connection (as when ICE consent expires): the server
    says so, and the page reconnects instead of ending its session."""
    sid, teacher, kim, arrivals = await start_class(aula_server)
    sam = await open_page("sam", await autojoin_url(aula_server, sid, "sam", "Sam", "student"))
    try:
        await sam.wait_for_phase("joined")
        before = await sam.wait_playing("rivera")
        gone = aula_server.sfu.rooms[sid].participants["sam"]
        await gone.subscriber_pc.close()
        await sam.wait_playing("rivera", timeout=20, not_track=before["videoTrackId"])
        assert aula_server.sfu.rooms[sid].participants["sam"] is not gone
        assert any("the server lost our connection" in line for line in sam.logs), sam.log_tail()
        assert (await sam.state())["phase"] == "joined"
    finally:
        for client in (kim, teacher):
            await client.close()
