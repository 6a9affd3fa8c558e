"""The packet sender's thread protects with the connection's SRTP session and sends in order."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
from aiortc.rtp import RtcpByePacket, RtpPacket
from pylibsrtp import Policy, Session

from media.packet_sender import PacketSender, destination

KEY = os.urandom(30)  # AES_CM_128_HMAC_SHA1_80: a 16-byte key and a 14-byte salt


def sessions() -> tuple[Session, Session]:
    outbound = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    inbound = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
    return outbound, inbound


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture
def sender() -> Iterator[PacketSender]:
    packet_sender = PacketSender()
    yield packet_sender
    packet_sender.close()


def rtp(sequence: int) -> bytes:
    return RtpPacket(payload_type=96, sequence_number=sequence, timestamp=sequence * 3000,
                     ssrc=0x1234, payload=sequence.to_bytes(2, "big") * 500).serialize()


def test_packets_arrive_protected_in_the_order_queued(peer: socket.socket, sender: PacketSender) -> None:
    outbound, inbound = sessions()
    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        route = destination(outbound, local.fileno(), *peer.getsockname())
        packets = [rtp(sequence) for sequence in range(200)]
        received = []
        for start in range(0, 200, 40):  # what the peer's socket buffer holds at once
            for packet in packets[start:start + 40]:
                sender.send(route, packet, rtcp=False)
            sender.drain()
            received += [peer.recv(2048) for _ in range(40)]
        bye = bytes(RtcpByePacket(sources=[0x1234]))
        sender.send(route, bye, rtcp=True)
        received.append(peer.recv(2048))
    finally:
        local.close()
    assert all(wire != packet for wire, packet in zip(received, packets))  # encrypted on the wire
    assert [inbound.unprotect(wire) for wire in received[:200]] == packets
    assert inbound.unprotect_rtcp(received[200]) == bye
    sender.drain()  # sent is not yet counted: the thread counts a batch once it is through
    counters = sender.counters()
    assert counters["queued"] == counters["done"] == 201
    assert counters["send_errors"] == counters["protect_errors"] == 0
    # The buffers of the first 40 were reused for the next: the queue never held more.
    assert 1 <= counters["most_waiting"] <= 40
    assert counters["buffer_bytes"] <= 40 * (1500 + 128 + 128)  # a payload and a header each


def test_packets_queued_before_their_socket_closes_still_go_out(peer: socket.socket,
                                                               sender: PacketSender) -> None:
    """The connection may close (and its descriptor number be reused, its SRTP session be
    dropped) while packets wait: they go out, then the socket the sender kept closes."""
    fds_before = len(os.listdir("/proc/self/fd"))
    outbound, inbound = sessions()
    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    route = destination(outbound, local.fileno(), *peer.getsockname())
    for sequence in range(50):
        sender.send(route, rtp(sequence), rtcp=False)
    local.close()
    del route, outbound
    sender.drain()
    assert [inbound.unprotect(peer.recv(2048)) for _ in range(50)] == [rtp(s) for s in range(50)]
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_bad_input_is_refused_before_it_is_queued(peer: socket.socket, sender: PacketSender) -> None:
    outbound, _ = sessions()
    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(ValueError, match="not an IP address"):
            destination(outbound, local.fileno(), "example.org", 9)
        route = destination(outbound, local.fileno(), *peer.getsockname())
        with pytest.raises(ValueError, match="too long"):
            sender.send(route, bytes(1501), rtcp=False)
        with pytest.raises(TypeError):
            sender.send(route, bytearray(rtp(1)), rtcp=False)  # type: ignore[arg-type]
    finally:
        local.close()
    assert sender.counters()["queued"] == 0


def test_a_packet_the_kernel_refuses_is_counted_and_the_rest_go_on(peer: socket.socket,
                                                                  sender: PacketSender) -> None:
    outbound, inbound = sessions()
    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        unreachable = destination(outbound, local.fileno(), "::1", 9)  # IPv6 from an IPv4 socket
        route = destination(outbound, local.fileno(), *peer.getsockname())
        sender.send(unreachable, rtp(1), rtcp=False)
        sender.send(route, rtp(2), rtcp=False)
        sender.drain()
        assert inbound.unprotect(peer.recv(2048)) == rtp(2)
    finally:
        local.close()
    assert sender.counters()["send_errors"] == 1


def test_a_fan_out_held_together_wakes_the_thread_once(peer: socket.socket, sender: PacketSender) -> None:
    outbound, inbound = sessions()
    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        route = destination(outbound, local.fileno(), *peer.getsockname())
        for start in range(0, 120, 30):
            sender.drain()  # the thread sleeps again
            before = sender.counters()["wakeups"]
            sender.hold()
            for sequence in range(start, start + 30):
                sender.send(route, rtp(sequence), rtcp=False)
            sender.release()
            sender.drain()
            assert sender.counters()["wakeups"] <= before + 1  # 0 if it had not yet slept
            assert [inbound.unprotect(peer.recv(2048)) for _ in range(30)] == \
                [rtp(s) for s in range(start, start + 30)]
    finally:
        local.close()


def test_having_sent_the_thread_lingers_and_takes_what_comes_meanwhile_unwoken(peer: socket.socket) -> None:
    sender = PacketSender(linger_s=0.2)
    outbound, inbound = sessions()
    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        route = destination(outbound, local.fileno(), *peer.getsockname())
        sender.send(route, rtp(0), rtcp=False)
        assert inbound.unprotect(peer.recv(2048)) == rtp(0)
        woken = sender.counters()["wakeups"]
        # Each comes while the thread lingers after the one before: out without a wake-up.
        for sequence in range(1, 6):
            sender.send(route, rtp(sequence), rtcp=False)
            assert inbound.unprotect(peer.recv(2048)) == rtp(sequence)
        assert sender.counters()["wakeups"] == woken
        # An idle sender sleeps (it costs nothing); the next packet wakes it.
        time.sleep(0.6)
        sender.send(route, rtp(6), rtcp=False)
        assert inbound.unprotect(peer.recv(2048)) == rtp(6)
        assert sender.counters()["wakeups"] == woken + 1
    finally:
        sender.close()
        local.close()


def test_a_linger_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        PacketSender(linger_s=-1)
    with pytest.raises(ValueError):
        PacketSender(linger_s=2)
