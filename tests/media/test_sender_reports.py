"""Sender reports from the SFU to a subscriber, with real aiortc peers."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtcpPacket, RtcpSdesPacket, RtcpSrPacket, RtpPacket

from client import ClientOptions, RemoteTrack
from tests.media.test_forwarding import join
from tests.synthetic import ColourTrack, ToneTrack

RED = (220, 30, 30)


async def teacher_and_student(aula_server, on_packet):
    """An instructor on camera and microphone, and a student counting what it receives."""
    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED), "microphone": ToneTrack(440)})
    student = await join(aula_server, session["id"], "student",
                         options=ClientOptions(decode=False, on_packet=on_packet))
    return teacher, student


async def test_a_subscriber_gets_one_compound_report_for_all_its_tracks_counting_what_it_got(
        aula_server, monkeypatch):
    received: Counter[int] = Counter()
    octets: Counter[int] = Counter()
    # Per RTCP datagram the student's subscriber connection got: its packets, and what the
    # student had received of each SSRC when it came.
    datagrams: list[tuple[RTCDtlsTransport, list, dict[int, tuple[int, int]]]] = []
    original = RTCDtlsTransport._handle_rtcp_data

    async def recording(self: RTCDtlsTransport, data: bytes) -> None:
        counts = {ssrc: (received[ssrc], octets[ssrc]) for ssrc in received}
        datagrams.append((self, RtcpPacket.parse(data), counts))
        await original(self, data)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtcp_data", recording)

    def on_packet(track: RemoteTrack, packet: RtpPacket) -> None:
        received[packet.ssrc] += 1
        octets[packet.ssrc] += len(packet.payload)

    teacher, student = await teacher_and_student(aula_server, on_packet)
    try:
        await student.wait_for_tracks(2)
        await asyncio.sleep(3.5)
        transport = student.subscriber_pc.getTransceivers()[0].receiver.transport
        ssrcs = set(received)
        assert len(ssrcs) == 2
        rounds = [(packets, counts) for dtls, packets, counts in datagrams
                  if dtls is transport and any(isinstance(p, RtcpSrPacket) for p in packets)]
        assert len(rounds) >= 2  # every 0.5-1.5 s
        for packets, counts in rounds:
            reports = {p.ssrc: p.sender_info for p in packets if isinstance(p, RtcpSrPacket)}
            assert set(reports) == ssrcs  # both tracks' reports in one datagram
            (sdes,) = [p for p in packets if isinstance(p, RtcpSdesPacket)]
            assert {chunk.ssrc for chunk in sdes.chunks} == ssrcs
            assert all(chunk.items[0][0] == 1 and chunk.items[0][1] for chunk in sdes.chunks)
            for ssrc, info in reports.items():
                got, got_octets = counts.get(ssrc, (0, 0))
                # Sent before the report, so received by then (loopback loses nothing).
                assert info.packet_count == got and info.octet_count == got_octets, (
                    ssrc, info, got, got_octets)
        last_packets, _ = rounds[-1]
        assert all(p.sender_info.packet_count > 0 for p in last_packets
                   if isinstance(p, RtcpSrPacket))
        # aiortc's receivers take them too (remote-outbound-rtp statistics).
        for transceiver in student.subscriber_pc.getTransceivers():
            stats = await transceiver.receiver.getStats()
            assert any(s.type == "remote-outbound-rtp" for s in stats.values())
    finally:
        await teacher.close()
        await student.close()


async def test_a_paused_track_stops_being_reported_and_resumes_with_its_packets(aula_server, monkeypatch):
    # Per SR-carrying datagram the student's subscriber connection got: the SSRCs reported.
    reported: list[tuple[RTCDtlsTransport, set[int]]] = []
    original = RTCDtlsTransport._handle_rtcp_data

    async def recording(self: RTCDtlsTransport, data: bytes) -> None:
        ssrcs = {p.ssrc for p in RtcpPacket.parse(data) if isinstance(p, RtcpSrPacket)}
        if ssrcs:
            reported.append((self, ssrcs))
        await original(self, data)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtcp_data", recording)
    ssrc_of: dict[str, int] = {}

    def on_packet(track: RemoteTrack, packet: RtpPacket) -> None:
        ssrc_of[track.kind] = packet.ssrc

    teacher, student = await teacher_and_student(aula_server, on_packet)
    try:
        tracks = await student.wait_for_tracks(2)
        video = next(track for track in tracks if track.kind == "video")
        await asyncio.sleep(2)
        transport = student.subscriber_pc.getTransceivers()[0].receiver.transport
        assert {ssrc_of["video"], ssrc_of["audio"]} in [ssrcs for dtls, ssrcs in reported if dtls is transport]

        await student.send({"type": "update_subscription", "sids": [video.sid], "enabled": False})
        await asyncio.sleep(1.6)  # a round that may still count the last packets sent
        paused_from = len(reported)
        await asyncio.sleep(3)
        rounds = [ssrcs for dtls, ssrcs in reported[paused_from:] if dtls is transport]
        assert len(rounds) >= 2
        assert all(ssrcs == {ssrc_of["audio"]} for ssrcs in rounds), rounds

        await student.send({"type": "update_subscription", "sids": [video.sid], "enabled": True})
        resumed_from = len(reported)
        deadline = asyncio.get_running_loop().time() + 5
        while not any(ssrc_of["video"] in ssrcs for dtls, ssrcs in reported[resumed_from:] if dtls is transport):
            assert asyncio.get_running_loop().time() < deadline, "the resumed video is not reported"
            await asyncio.sleep(0.1)
    finally:
        await teacher.close()
        await student.close()
