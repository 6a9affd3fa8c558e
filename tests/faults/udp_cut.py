"""Cut one participant's UDP, as a dropped Wi-Fi or a firewall would, without root.

The server's side of every ICE socket is wrapped while the fixture is active: datagrams that
arrive on, or leave from, a socket belonging to a cut identity are dropped (forwarded media,
which the packet sender's thread sends, is dropped before it is queued). Ownership is
looked up in the room at each datagram, so the sockets of a rejoin (new peer connections,
new ports) are cut too until `restore`. The signaling WebSocket (TCP) is left alone, as when
a network drops UDP only; the browser and the server must notice the loss themselves.
"""

from __future__ import annotations

from typing import Any, Callable

from aioice.ice import StunProtocol

from media.aiortc import dtls_send
from media.room import Room


def _protocols_of(participant: Any) -> set[int]:
    owned: set[int] = set()
    for pc in (participant.publisher_pc, participant.subscriber_pc):
        for transceiver in pc.getTransceivers():
            transport = transceiver.receiver.transport
            if transport is None:
                continue
            owned.update(id(protocol) for protocol in transport.transport.iceGatherer._connection._protocols)
    return owned


class _DroppingTransport:
    """A datagram transport whose sendto drops while its socket's owner is cut."""

    def __init__(self, transport: Any, is_cut: Callable[[], bool]) -> None:
        self._transport = transport
        self._is_cut = is_cut

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if not self._is_cut():
            self._transport.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class UdpCut:
    def __init__(self) -> None:
        self._rooms: list[Room] = []
        self._cut: set[str] = set()
        # Sockets already sorted: owned by a cut identity or not. A socket seen for the first
        # time (a rejoin's new peer connection) is looked up in the rooms before its first
        # datagram passes.
        self._owned: set[int] = set()
        self._free: set[int] = set()
        self.dropped = 0

    def watch(self, room: Room) -> None:
        self._rooms.append(room)

    def cut(self, identity: str) -> None:
        self._cut.add(identity)
        self._sort()

    def restore(self, identity: str) -> None:
        self._cut.discard(identity)
        self._sort()

    def _sort(self) -> None:
        self._owned, self._free = set(), set()
        for room in self._rooms:
            for participant in room.participants.values():
                (self._owned if participant.identity in self._cut else self._free).update(
                    _protocols_of(participant))

    def is_cut(self, protocol: StunProtocol) -> bool:
        if not self._cut:
            return False
        key = id(protocol)
        if key not in self._owned and key not in self._free:
            self._sort()
        if key in self._owned:
            self.dropped += 1
            return True
        return False

    def install(self) -> Callable[[], None]:
        """Wrap every ICE socket opened from now on; returns the undo."""
        original_made = StunProtocol.connection_made
        original_received = StunProtocol.datagram_received
        original_send_protected = dtls_send.send_protected
        cutter = self

        def send_protected(dtls: Any, data: bytes, rtcp: bool) -> bool:
            # Forwarded media leaves from the packet sender's thread, not the transport.
            pair = dtls.transport._connection._nominated.get(1)
            if pair is not None and cutter.is_cut(pair.protocol):
                return True
            return original_send_protected(dtls, data, rtcp)

        def connection_made(protocol: StunProtocol, transport: Any) -> None:
            original_made(protocol, _DroppingTransport(transport, lambda: cutter.is_cut(protocol)))

        def datagram_received(protocol: StunProtocol, data: Any, addr: Any) -> None:
            if not cutter.is_cut(protocol):
                original_received(protocol, data, addr)

        StunProtocol.connection_made = connection_made  # type: ignore[method-assign]
        StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]
        dtls_send.send_protected = send_protected  # type: ignore[assignment]

        def undo() -> None:
            StunProtocol.connection_made = original_made  # type: ignore[method-assign]
            StunProtocol.datagram_received = original_received  # type: ignore[method-assign]
            dtls_send.send_protected = original_send_protected  # type: ignore[assignment]

        return undo
