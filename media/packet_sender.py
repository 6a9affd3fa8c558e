"""PacketSender: the SFU's outgoing packets, SRTP-protected and sent on a thread of their own.

The event loop serialises a packet and queues it (`_packet_sender.c`); the native thread
protects it with the connection's libsrtp session and sends it from the connection's socket, in
the order queued, without the GIL: forwarding uses a second core. What the thread reads must
outlive the packets queued for it, so each queued packet holds its `Route` (the session object
and a duplicate of the socket's descriptor) until the thread reports it done.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Optional

import pylibsrtp
from pylibsrtp._binding import ffi, lib

from . import _packet_sender

# While packets of a closed connection are still queued, look again this often.
RELEASE_RETRY_S = 0.05
# Having sent, the thread looks for more this long before it sleeps: under load the next
# fan-out comes within it, and the event loop need not wake it. Adds at most this to a
# packet's way out.
LINGER_S = 0.0005


class Route:
    """One connection's way out: its sending SRTP session, socket and peer address."""

    fd = -1

    def __init__(self, session: pylibsrtp.Session, fd: int, host: str, port: int) -> None:
        self.session = session  # referenced: the native thread uses the libsrtp context it owns
        # A descriptor of our own: the socket stays open until the last packet queued on it is
        # sent, even if its connection closes (and its number is reused) meanwhile.
        own_fd = os.dup(fd)
        try:
            self.destination = _packet_sender.Destination(_address_of(session._srtp[0]), own_fd,
                                                          host, port)
        except ValueError:
            os.close(own_fd)
            raise
        self.fd = own_fd

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def _address_of(pointer: object) -> int:
    return int(ffi.cast("uintptr_t", pointer))


class PacketSender:
    def __init__(self, linger_s: float = LINGER_S) -> None:
        self._native: Optional[_packet_sender.Sender] = _packet_sender.Sender(
            _address_of(ffi.addressof(lib, "srtp_protect")),
            _address_of(ffi.addressof(lib, "srtp_protect_rtcp")),
            round(linger_s * 1e9))
        # The route of every packet queued and not yet done, in queue order.
        self._held: deque[Route] = deque()
        self._released = 0
        self._batching = False
        self._release_loop: Optional[asyncio.AbstractEventLoop] = None

    def hold(self) -> None:
        """Queue without waking the thread until `release`: an incoming packet's fan-out goes to
        the thread with one wake-up (a futex call on each side), not one per subscriber."""
        self._batching = True

    def release(self) -> None:
        self._batching = False
        if self._native is not None:
            self._native.wake()

    def send(self, route: Route, data: bytes, rtcp: bool) -> None:
        native = self._native
        if native is None:
            return
        native.send(route.destination, data, rtcp, not self._batching)
        self._held.append(route)
        self._release_done(native.done)

    def _release_done(self, done: int) -> None:
        held = self._held
        while self._released < done:
            held.popleft()
            self._released += 1

    def counters(self) -> dict[str, int]:
        """queued, done, send_errors (dropped by a full socket buffer), protect_errors, and
        wakeups (of the thread by the event loop: it sleeps once it has sent everything and
        lingered)."""
        assert self._native is not None, "closed"
        return self._native.counters()

    def release_finished(self) -> None:
        """Let go of the routes of the packets sent so far, and of the rest as they are sent (a
        connection closed: its socket closes once its packets are out, not at the next packet
        anyone sends)."""
        if self._native is None:
            return
        self._release_done(self._native.done)
        if not self._held:
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
        """Block until everything queued is sent, and let go of its routes (tests)."""
        if self._native is not None:
            self._native.drain()
            self.release_finished()

    def close(self) -> None:
        """Send what is queued, stop the thread, release every route."""
        if self._native is not None:
            self._native.close()
            self._native = None
            self._held.clear()
