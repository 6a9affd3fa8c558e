"""A publisher's packet fanned out to its subscribers' outlets, as it reaches each subscriber."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media._packet_sender import Link, Outlet
from media.packet_sender import PacketSender, destination
from media.rtp_rewriter import ExtensionBlock
from tests.media.test_packet_sender import sessions

MID, ABS_SEND_TIME = 1, 3


@pytest.fixture
def sender() -> Iterator[PacketSender]:
    packet_sender = PacketSender()
    yield packet_sender
    packet_sender.close()


class Subscriber:
    """A subscriber's end of a connection: its socket, SRTP session and header extensions."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(5)
        self.outbound, self.inbound = sessions()
        self.extensions = HeaderExtensionsMap()
        self.extensions.configure(RTCRtpParameters(headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=MID, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=ABS_SEND_TIME, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")]))

    def link(self, local: socket.socket) -> Link:
        link = Link()
        link.destination = destination(self.outbound, local.fileno(), *self.socket.getsockname())
        return link

    def receive(self) -> RtpPacket:
        return RtpPacket.parse(self.inbound.unprotect(self.socket.recv(2048)), self.extensions)

    def nothing_waits(self) -> bool:
        self.socket.setblocking(False)
        try:
            self.socket.recv(2048)
            return False
        except BlockingIOError:
            return True
        finally:
            self.socket.settimeout(5)

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def subscribers() -> Iterator[list[Subscriber]]:
    made = [Subscriber() for _ in range(3)]
    yield made
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def local() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield sock
    sock.close()


def video_outlet(ssrc: int, mid: str, link: Link | None) -> Outlet:
    outlet = Outlet(ssrc, first_sequence=ssrc % 1000, first_timestamp=ssrc * 10)
    ExtensionBlock([(MID, mid.encode())], ABS_SEND_TIME, 3).configure(outlet, 96, 90000)
    outlet.link = link
    return outlet


def fan_out(sender: PacketSender, outlets: tuple[Outlet, ...], sequence: int, *,
            keyframe: bool = True, extension: bytes | None = b"\x01\x02\x03",
            payload: bytes = b"frame") -> int:
    return sender.fan_out(outlets, 1, sequence, 3000 * sequence, 0xCAFE, payload, extension,
                          keyframe, ntp_time=sequence << 32, now=float(sequence))


def test_each_subscriber_gets_the_payload_under_a_header_of_its_own(
        sender: PacketSender, subscribers: list[Subscriber], local: socket.socket) -> None:
    outlets = tuple(video_outlet(1000 + i, str(i), subscriber.link(local))
                    for i, subscriber in enumerate(subscribers))
    for sequence in (7, 8):
        assert fan_out(sender, outlets, sequence) == 0
    fan_out(sender, outlets, 9, extension=None)  # a packet without its own value
    sender.drain()
    for i, subscriber in enumerate(subscribers):
        packets = [subscriber.receive() for _ in range(3)]
        assert [p.ssrc for p in packets] == [1000 + i] * 3
        assert [p.payload_type for p in packets] == [96] * 3
        assert [p.marker for p in packets] == [1] * 3
        assert [p.payload for p in packets] == [b"frame"] * 3
        first = (1000 + i) % 1000
        assert [p.sequence_number for p in packets] == [first, first + 1, first + 2]
        assert [p.timestamp for p in packets] == [(1000 + i) * 10 + step * 3000 for step in range(3)]
        assert [p.extensions.mid for p in packets] == [str(i)] * 3
        assert [p.extensions.abs_send_time for p in packets] == [0x010203, 0x010203, None]
    # What the sender reports say.
    assert [o.packets_sent for o in outlets] == [3, 3, 3]
    assert [o.octets_sent for o in outlets] == [15, 15, 15]
    assert outlets[0].ntp_time == 9 << 32
    assert outlets[0].rtp_timestamp == 10000 + 6000


def test_copies_queued_together_share_one_payload_and_each_keeps_its_own(
        sender: PacketSender, subscribers: list[Subscriber], local: socket.socket) -> None:
    outlets = tuple(video_outlet(1000 + i, str(i), subscriber.link(local))
                    for i, subscriber in enumerate(subscribers))
    # A payload's buffer is written once per fan-out, not once per copy: a queue of many
    # subscribers' copies costs their headers.
    wide = tuple(video_outlet(2000 + i, "w", outlets[0].link) for i in range(40))
    fan_out(sender, wide, 1, payload=bytes(1200))
    assert sender.counters()["buffer_bytes"] < 40 * 1200 / 2
    sender.drain()
    for _ in wide:
        assert subscribers[0].receive().payload == bytes(1200)
    payloads = [bytes([n]) * 1000 for n in range(50)]
    for sequence, payload in enumerate(payloads):  # faster than the thread sends them
        fan_out(sender, outlets, sequence, payload=payload)
    sender.drain()
    for subscriber in subscribers:
        assert [subscriber.receive().payload for _ in payloads] == payloads


def test_an_outlet_not_connected_or_not_negotiated_gets_nothing_and_the_rest_go_on(
        sender: PacketSender, subscribers: list[Subscriber], local: socket.socket) -> None:
    first, second, third = subscribers
    unconfigured = Outlet(3, first_sequence=0, first_timestamp=0)
    unconfigured.link = third.link(local)
    connected = video_outlet(1, "a", first.link(local))
    disconnected = video_outlet(2, "b", second.link(local))
    disconnected.link.destination = None  # the connection closed
    fan_out(sender, (unconfigured, disconnected, connected), 1)
    sender.drain()
    assert first.receive().ssrc == 1
    assert second.nothing_waits() and third.nothing_waits()
    assert (connected.packets_sent, disconnected.packets_sent, unconfigured.packets_sent) == (1, 0, 0)


def test_an_outlet_waiting_for_a_keyframe_starts_on_one_with_no_gap(
        sender: PacketSender, subscribers: list[Subscriber], local: socket.socket) -> None:
    watching, joining = (video_outlet(1, "a", subscribers[0].link(local)),
                         video_outlet(2, "b", subscribers[1].link(local)))
    joining.await_keyframe()
    assert fan_out(sender, (watching, joining), 1, keyframe=False) == 1
    assert fan_out(sender, (watching, joining), 2, keyframe=False) == 1
    assert fan_out(sender, (watching, joining), 3, keyframe=True) == 0
    assert fan_out(sender, (watching, joining), 4, keyframe=False) == 0
    sender.drain()
    assert len([subscribers[0].receive() for _ in range(4)]) == 4
    sequences = [subscribers[1].receive().sequence_number for _ in range(2)]
    assert sequences == [2, 3]  # from its origin, no gap to NACK
    assert subscribers[1].nothing_waits()
    assert not joining.awaiting_keyframe


def test_a_copy_too_long_for_a_datagram_is_counted_and_the_others_go_out(
        sender: PacketSender, subscribers: list[Subscriber], local: socket.socket) -> None:
    plain = Outlet(1, first_sequence=0, first_timestamp=0)
    ExtensionBlock([], 0, 0).configure(plain, 96, 90000)
    plain.link = subscribers[0].link(local)
    with_extensions = video_outlet(2, "a", subscribers[1].link(local))
    # 1,490 bytes under a bare header (the receiver's libsrtp takes 1,500 with the tag), over
    # 1,500 under the 12 of extensions.
    payload = bytes(1478)
    fan_out(sender, (with_extensions, plain), 1, payload=payload)
    sender.drain()
    assert subscribers[0].receive().payload == payload
    assert subscribers[1].nothing_waits()
    assert sender.counters()["too_long"] == 1


def test_bad_arguments_are_refused_before_anything_is_queued(sender: PacketSender) -> None:
    outlet = video_outlet(1, "a", None)
    with pytest.raises(TypeError):
        sender.fan_out((outlet, "not an outlet"), 0, 1, 2, 3, b"x", None, True, 0, 0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sender.fan_out((outlet,), 0, 1, 2, 3, bytearray(b"x"), None, True, 0, 0.0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        sender.fan_out((outlet,), 0, 1, 1 << 32, 3, b"x", None, True, 0, 0.0)
    with pytest.raises(ValueError, match="payload_type"):
        outlet.configure(128, 90000, b"", 0, 0, b"")
    with pytest.raises(ValueError, match="extension block"):
        outlet.configure(96, 90000, bytes(65), 0, 0, b"")
    with pytest.raises(TypeError):
        outlet.link = "somewhere"  # type: ignore[assignment]
    assert sender.counters()["queued"] == 0
    assert outlet.packets_sent == 0
