"""SRTP packets reach a tapped receiver as they come off the socket, not through aiortc's queue;
feedback to the sender, decoding receivers and SRTCP keep working."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aioice.ice
import pytest
import uvloop
from aiortc import RTCPeerConnection, RTCRtpReceiver, VideoStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtcpRrPacket

from media.aiortc import datagrams, tap_receiver, use_host_addresses

LOOPBACK = "127.0.0.1"


@pytest.fixture
def loopback_only() -> Any:
    use_host_addresses((LOOPBACK,))
    yield
    use_host_addresses(())


async def connect(decode: bool, on_packet: Any) -> tuple[RTCPeerConnection, RTCPeerConnection, Any]:
    """A sender with a video track, a receiver tapped as the SFU taps publishers."""
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    sender_pc.addTrack(VideoStreamTrack())

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        receiver = next(t.receiver for t in receiver_pc.getTransceivers() if t.receiver.track is track)
        tap_receiver(receiver, on_packet, decode=decode)

    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)
    return sender_pc, receiver_pc, receiver_pc.getTransceivers()[0].receiver


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_rtp_is_handled_on_arrival_and_rtcp_still_flows(loopback_only: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    queued_rtp: list[bytes] = []
    handle_rtp_data = RTCDtlsTransport._handle_rtp_data

    async def counting(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
        queued_rtp.append(data)
        await handle_rtp_data(self, data, arrival_time_ms)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", counting)
    in_callback: list[bool] = []
    inside = [False]
    datagram_received = datagrams.datagram_received

    def marking(protocol: Any, data: bytes, addr: Any) -> None:
        inside[0] = True
        try:
            datagram_received(protocol, data, addr)
        finally:
            inside[0] = False

    monkeypatch.setattr("aioice.ice.StunProtocol.datagram_received", marking)
    sender_pc, receiver_pc, receiver = await connect(
        decode=False, on_packet=lambda packet, codec: in_callback.append(inside[0]))
    rtcp_at_sender: list[Any] = []
    rtp_sender = sender_pc.getSenders()[0]
    handle_rtcp = rtp_sender._handle_rtcp_packet

    async def recording(packet: Any) -> None:
        rtcp_at_sender.append(packet)
        await handle_rtcp(packet)

    rtp_sender._handle_rtcp_packet = recording
    try:
        await wait_until(lambda: len(in_callback) >= 60)
        assert all(in_callback)  # every packet handled inside the socket's callback
        assert queued_rtp == []  # none went through aiortc's receive coroutine
        # What the receiver tells the sender still arrives: REMB from the tap, receiver
        # reports from aiortc's own RTCP loop (SRTCP keeps aiortc's path).
        await wait_until(lambda: any(isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP
                                     for p in rtcp_at_sender)
                         and any(isinstance(p, RtcpRrPacket) for p in rtcp_at_sender))
        stats = await receiver_pc.getStats()
        transport = next(s for s in stats.values() if s.type == "transport")
        assert transport.packetsReceived >= 60  # aiortc's counters still see them
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_a_decoding_receiver_still_gets_frames(loopback_only: None) -> None:
    packets: list[Any] = []
    sender_pc, receiver_pc, receiver = await connect(decode=True,
                                                     on_packet=lambda p, c: packets.append(p))
    try:
        assert isinstance(receiver, RTCRtpReceiver)
        frame = await asyncio.wait_for(receiver.track.recv(), 10)
        assert frame.width == 640
        assert packets
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_a_load_client_counts_every_packet_and_authenticates_one_in_n(loopback_only: None) -> None:
    authenticated: list[Any] = []
    counted: list[int] = []
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    sender_pc.addTrack(VideoStreamTrack())

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        tap_receiver(receiver_pc.getTransceivers()[0].receiver,
                     lambda packet, codec: authenticated.append(packet), decode=False,
                     process=False, authenticate_every=4, on_unauthenticated=counted.append)

    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)
    try:
        await wait_until(lambda: len(counted) >= 100)
        sender_pc.getSenders()[0].replaceTrack(None)
        await asyncio.sleep(0.5)
        stats = await sender_pc.getStats()
        sent = next(s for s in stats.values() if s.type == "outbound-rtp").packetsSent
        assert len(authenticated) + len(counted) == sent
        # The first packets are authenticated until the SSRC is known; then 1 in 4.
        assert len(counted) / sent == pytest.approx(0.75, abs=0.05)
        assert all(size > 12 + 16 for size in counted)  # whole datagrams: header, payload, tag
        sequences = [p.sequence_number for p in authenticated]
        assert sequences == sorted(sequences)
    finally:
        await sender_pc.close()
        await receiver_pc.close()


class Receiver:
    """Stands in for aioice's Connection: its RTP handler counts what it is handed."""

    def __init__(self) -> None:
        self.handled: list[bytes] = []
        self.__dict__[datagrams.RTP_HANDLER] = self.handle

    def handle(self, data: bytes) -> bool:
        self.handled.append(data)
        return True

    def protocol_lost(self, protocol: object) -> None:
        pass


@pytest.mark.parametrize("drained", [True, False])
def test_a_busy_drained_socket_is_read_empty(drained: bool) -> None:
    """What a load client's busy socket needs: uvloop reads 32 datagrams per socket per loop
    iteration, so a socket receiving far more than its neighbours falls behind them."""
    receiver = Receiver()
    sent = [bytes([0x80, 96]) + i.to_bytes(2, "big") + bytes(100)
            for i in range(datagrams.DRAIN_BATCH)]

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: aioice.ice.StunProtocol(receiver), local_addr=(LOOPBACK, 0))
        if drained:
            protocol.__dict__[datagrams.DRAIN] = datagrams.Drain(
                loop, transport.get_extra_info("socket").fileno())
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for packet in sent:
                sender.sendto(packet, transport.get_extra_info("sockname"))
            for _ in range(3):  # a few loop iterations
                await asyncio.sleep(0)
            return len(receiver.handled)
        finally:
            sender.close()
            transport.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        handled = runner.run(scenario())
    if drained:
        assert receiver.handled == sent
    else:
        assert handled <= 3 * 32


async def test_a_receiver_whose_packets_aiortc_never_sees_runs_no_rtcp_loop(
        loopback_only: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiortc's loop would wake every second to find no statistics to report: a load client's
    fifty-odd receivers made thousands of wake-ups a second."""
    loops_run: list[RTCRtpReceiver] = []
    run_rtcp = RTCRtpReceiver._run_rtcp

    async def counting(self: RTCRtpReceiver) -> None:
        loops_run.append(self)
        await run_rtcp(self)

    monkeypatch.setattr(RTCRtpReceiver, "_run_rtcp", counting)
    received: list[int] = []
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    sender_pc.addTrack(VideoStreamTrack())

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        receiver = next(t.receiver for t in receiver_pc.getTransceivers() if t.receiver.track is track)
        tap_receiver(receiver, lambda packet, codec: received.append(1), decode=False, process=False)

    try:
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        await wait_until(lambda: len(received) > 10)
        assert not any(r in receiver_pc.getReceivers() for r in loops_run)
    finally:
        await asyncio.wait_for(receiver_pc.close(), 5)  # its RTCP task ends with it
        await sender_pc.close()
