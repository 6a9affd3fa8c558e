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

    session = await aula_server.create_session()
    teacher = await join(aula_server, session["id"], "teacher", role="instructor",
                         publish={"camera": ColourTrack(RED), "microphone": ToneTrack(440)})
    student = await join(aula_server, session["id"], "student",
                         options=ClientOptions(decode=False, on_packet=on_packet))
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
