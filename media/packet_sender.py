"""PacketSender: the SFU's outgoing packets, SRTP-protected and sent on a thread of their own.

The event loop queues packets (`_packet_sender.c`): a publisher packet's copies for all its
subscribers in one `fan_out` call (`_outlet.c`), anything else serialised with `send`. The
native thread protects each with its connection's libsrtp session and sends it from the
connection's socket, in the order queued, without the GIL: forwarding uses a second core. A
`Destination` owns what the thread reads (the session and a duplicate of the socket's
descriptor), and the queue keeps it alive until the last packet queued for it is sent.
"""

from __future__ import annotations

import asyncio
from typing import Optional, Sequence

import pylibsrtp
from pylibsrtp._binding import ffi, lib

from . import _packet_sender
from ._packet_sender import Destination, Outlet

# While a closed connection's packets are still queued, look again this often.
RELEASE_RETRY_S = 0.05
# Having sent, the thread looks for more this long before it sleeps: under load the next
# fan-out comes within it, and the event loop need not wake it. Adds at most this to a
# packet's way out.
LINGER_S = 0.0005


def destination(session: pylibsrtp.Session, fd: int, host: str, port: int) -> Destination:
    """Where a connection's packets go: its sending SRTP session, its socket (duplicated: the
    socket stays open while packets wait, whatever becomes of the connection's) and its peer."""
    return Destination(session, _address_of(session._srtp[0]), fd, host, port)


def _address_of(pointer: object) -> int:
    return int(ffi.cast("uintptr_t", pointer))


class PacketSender:
    def __init__(self, linger_s: float = LINGER_S) -> None:
        self._native: Optional[_packet_sender.Sender] = _packet_sender.Sender(
            _address_of(ffi.addressof(lib, "srtp_protect")),
            _address_of(ffi.addressof(lib, "srtp_protect_rtcp")),
            round(linger_s * 1e9))
        self._batching = False
        self._release_loop: Optional[asyncio.AbstractEventLoop] = None

    def hold(self) -> None:
        """Queue without waking the thread until `release`: a received packet's fan-out and the
        feedback it causes go to the thread with one wake-up (a futex call on each side)."""
        self._batching = True

    def release(self) -> None:
        self._batching = False
        if self._native is not None:
            self._native.wake()

    def send(self, to: Destination, data: bytes, rtcp: bool) -> None:
        if self._native is not None:
            self._native.send(to, data, rtcp, not self._batching)

    def fan_out(self, outlets: Sequence[Outlet], marker: int, sequence: int, timestamp: int,
                ssrc: int, payload: bytes, extension: Optional[bytes], keyframe: bool,
                ntp_time: int, now: float) -> int:
        """Queue a publisher's packet once for each outlet, under the outlet's own header;
        returns how many outlets wait for a keyframe (`keyframe`: whether this packet starts
        one). `extension` is the per-packet header-extension value, `now` monotonic seconds."""
        if self._native is None:
            return 0
        return self._native.fan_out(outlets, marker, sequence, timestamp, ssrc, payload,
                                    extension, keyframe, ntp_time, now, not self._batching)

    def counters(self) -> dict[str, int]:
        """queued, done, send_errors (dropped by a full socket buffer), protect_errors,
        too_long (copies that would not fit a datagram), wakeups (of the thread by the
        event loop: it sleeps once it has sent everything and lingered), buffer_bytes (allocated
        for packets queued, kept for reuse or being filled) and most_waiting (the longest the
        queue has been, in datagrams)."""
        assert self._native is not None, "closed"
        return self._native.counters()

    def release_finished(self) -> None:
        """Let go of the destinations whose packets are all sent, and of the rest as they are
        sent (a connection closed: its socket closes once its packets are out, not whenever the
        next packet is queued)."""
        if self._native is None or not self._native.collect():
            return
        # One look-again at a time, on the loop running now (a process may run several loops
        # in turn, tests do: a look-again left on a closed one never comes).
        loop = asyncio.get_running_loop()
        if self._release_loop is not loop:
            self._release_loop = loop
            loop.call_later(RELEASE_RETRY_S, self._release_again)

    def _release_again(self) -> None:
        self._release_loop = None
        self.release_finished()

    def drain(self) -> None:
        """Block until everything queued is sent, and let go of its destinations (tests)."""
        if self._native is not None:
            self._native.drain()

    def close(self) -> None:
        """Send what is queued, stop the thread, release every destination."""
        if self._native is not None:
            self._native.close()
            self._native = None


_SHARED: Optional[PacketSender] = None


def shared() -> PacketSender:
    """The process's packet sender, started with the first packet sent."""
    global _SHARED
    if _SHARED is None:
        _SHARED = PacketSender()
    return _SHARED


def counters() -> dict[str, int]:
    """The process's packet sender's `counters` since it started (zeros before)."""
    if _SHARED is None:
        return dict.fromkeys(("queued", "done", "send_errors", "protect_errors", "too_long",
                              "wakeups", "buffer_bytes", "most_waiting"), 0)
    return _SHARED.counters()
