"""Keyframe requests and retransmissions through the SFU, with real aiortc peers."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiortc import RTCRtpSender
from aiortc.rtp import RtpPacket

from client import ClientOptions, RemoteTrack
from media.keyframes import MIN_ANSWERED_INTERVAL_S, starts_vp8_keyframe
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack

RED = (220, 30, 30)


def count_keyframe_requests(monkeypatch) -> list[float]:
    """Every PLI/FIR an aiortc publisher's sender receives, by loop time."""
    requests: list[float] = []
    original = RTCRtpSender._send_keyframe

    def recording(self) -> None:
        requests.append(asyncio.get_running_loop().time())
        original(self)

    monkeypatch.setattr(RTCRtpSender, "_send_keyframe", recording)
    return requests


async def test_a_new_subscriber_starts_on_a_keyframe_it_asked_for(aula_server, monkeypatch):
    requests = count_keyframe_requests(monkeypatch)
    first_payloads: dict[str, bytes] = {}

    def on_packet(track: RemoteTrack, packet: RtpPacket) -> None:
        first_payloads.setdefault(track.sid, packet.payload)

    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED)})
    early = await join(aula_server, session["id"], "early", options=ClientOptions(decode=False))
    await early.wait_for_tracks(1)
    await asyncio.sleep(1.5)
    before = len(requests)
    late = await join(aula_server, session["id"], "late",
                      options=ClientOptions(decode=False, on_packet=on_packet))
    try:
        await late.wait_for_tracks(1)
        assert len(requests) > before  # the SFU asked the publisher for a keyframe
        (payload,) = first_payloads.values()
        assert starts_vp8_keyframe(payload)
    finally:
        for client in (teacher, early, late):
            await client.close()


async def test_a_burst_of_keyframe_requests_reaches_the_publisher_once_per_keyframe(aula_server, monkeypatch):
    requests = count_keyframe_requests(monkeypatch)
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED)})
    students = [await join(aula_server, session["id"], f"s{i}", options=ClientOptions(decode=False))
                for i in range(3)]
    try:
        for student in students:
            await student.wait_for_tracks(1)
        await asyncio.sleep(1.2)
        start = len(requests)
        # Every student's receiver sends PLIs in a burst, as decoders do after loss.
        for _ in range(5):
            for student in students:
                (transceiver,) = student.subscriber_pc.getTransceivers()
                ssrc = next(iter(transceiver.receiver._RTCRtpReceiver__remote_streams))
                await transceiver.receiver._send_rtcp_pli(ssrc)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        relayed = requests[start:]
        # 15 PLIs over 0.5 s: one request outstanding at a time, the next only after the
        # publisher's keyframe answered it (+ MIN_ANSWERED_INTERVAL_S).
        assert 1 <= len(relayed) <= 4, relayed
        gaps = [b - a for a, b in zip(relayed, relayed[1:])]
        assert all(gap >= MIN_ANSWERED_INTERVAL_S - 0.02 for gap in gaps), gaps
    finally:
        for client in (teacher, *students):
            await client.close()


async def test_a_nacked_packet_is_retransmitted_from_the_publications_history(aula_server):
    seen: Counter[int] = Counter()
    sequences: list[int] = []

    def on_packet(track: RemoteTrack, packet: RtpPacket) -> None:
        seen[packet.sequence_number] += 1
        sequences.append(packet.sequence_number)

    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED)})
    student = await join(aula_server, session["id"], "student",
                         options=ClientOptions(decode=False, on_packet=on_packet))
    try:
        await student.wait_for_tracks(1)
        await asyncio.sleep(0.5)
        wanted = sequences[-5:-2]
        (transceiver,) = student.subscriber_pc.getTransceivers()
        ssrc = next(iter(transceiver.receiver._RTCRtpReceiver__remote_streams))
        await transceiver.receiver._send_rtcp_nack(ssrc, wanted)
        await asyncio.sleep(0.5)
        assert all(seen[sequence] == 2 for sequence in wanted), [seen[s] for s in wanted]
        room = aula_server.sfu.rooms[session["id"]]
        subscription = room.participants["student"].subscriptions
        assert sum(s.retransmissions for s in subscription.values()) == len(wanted)
    finally:
        await teacher.close()
        await student.close()
