"""Keyframe requests and retransmissions through the SFU, with real aiortc peers."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace

from aiortc import RTCRtpSender
from aiortc.rtp import RtpPacket

from client import ClientOptions, RemoteTrack
from media._packet_sender import MAX_PACKET, Outlet
from media.keyframes import MIN_ANSWERED_INTERVAL_S, starts_vp8_keyframe
from media.rtp_rewriter import ExtensionBlock
from media.subscription import Subscription
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


def test_a_retransmission_too_long_for_a_datagram_is_skipped_and_the_others_go_out() -> None:
    """A publisher's packet that fit no datagram once wrapped in RTX (two bytes more) is not
    retransmitted; the rest of the NACK is."""
    outlet = Outlet(ssrc=5, first_sequence=100, first_timestamp=0)
    ExtensionBlock([], 0, 0).configure(outlet, 96, 90000)
    for source_sequence in (10, 11):
        outlet.rewrite(1, source_sequence, 0, 0.0)  # forwarded as 100 and 101
    sent: list[bytes] = []

    def send_rtp(data: bytes) -> bool:
        if len(data) > MAX_PACKET:  # as the packet sender refuses it
            raise ValueError("packet is too long")
        sent.append(data)
        return True

    slot = SimpleNamespace(outlet=outlet, rtx_sequence=0, attach=lambda subscription: None,
                           parameters=SimpleNamespace(payload_type=96, rtx_payload_type=97),
                           sender=SimpleNamespace(rtx_ssrc=6, send_rtp=send_rtp))
    history = {10: (None, 0, 1, bytes(MAX_PACKET - 12 - 1), None), 11: (None, 0, 1, b"fits", None)}
    publication = SimpleNamespace(kind="video", history=history,
                                  extension_value=lambda level, ntp_time: None)
    subscription = Subscription(publication, "student", slot, lambda closed: None)  # type: ignore[arg-type]
    subscription.retransmit([100, 101])
    (packet,) = [RtpPacket.parse(data) for data in sent]
    assert (packet.payload_type, packet.ssrc, packet.payload) == (97, 6, (101).to_bytes(2, "big") + b"fits")
    assert subscription.retransmissions == 1
