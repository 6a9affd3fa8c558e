"""Keyframe detection on RTP payloads, and rate-limited keyframe requests to a publisher."""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional

# mediasoup's KeyFrameRequestManager: an unanswered request is sent again after a second.
MIN_REQUEST_INTERVAL_S = 1.0
# After a keyframe has answered a request, the next may go this much later: joins in quick
# succession each get a keyframe promptly. Not sooner: libwebrtc senders ignore a request that
# comes within 300 ms of the last one they acted on (kMinKeyframeSendIntervalMs).
MIN_ANSWERED_INTERVAL_S = 0.3

H264_STAP_A = 24
H264_FU_A = 28
H264_IDR = 5
H264_SPS = 7


def starts_vp8_keyframe(payload: bytes) -> bool:
    """True for the first packet of a VP8 key frame (RFC 7741 payload descriptor + header)."""
    if len(payload) < 1:
        return False
    first = payload[0]
    start_of_partition = first & 0x10
    partition_id = first & 0x07
    if not start_of_partition or partition_id != 0:
        return False
    index = 1
    if first & 0x80:  # X: extended control bits
        if len(payload) < 2:
            return False
        extended = payload[1]
        index = 2
        if extended & 0x80:  # I: picture id
            if len(payload) <= index:
                return False
            index += 2 if payload[index] & 0x80 else 1
        if extended & 0x40:  # L: TL0PICIDX
            index += 1
        if extended & 0x30:  # T or K: TID/KEYIDX byte
            index += 1
    if len(payload) <= index:
        return False
    # VP8 frame header: P bit (bit 0) is 0 for a key frame.
    return payload[index] & 0x01 == 0


def starts_h264_keyframe(payload: bytes) -> bool:
    """True for a packet that starts an IDR access unit (SPS or IDR, also inside STAP-A/FU-A)."""
    if len(payload) < 2:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (H264_SPS, H264_IDR):
        return True
    if nal_type == H264_FU_A:
        start = payload[1] & 0x80
        return bool(start) and (payload[1] & 0x1F) in (H264_SPS, H264_IDR)
    if nal_type == H264_STAP_A:
        index = 1
        while index + 2 < len(payload):
            size = int.from_bytes(payload[index:index + 2], "big")
            if (payload[index + 2] & 0x1F) in (H264_SPS, H264_IDR):
                return True
            index += 2 + size
    return False


def keyframe_detector(mime_type: str) -> Callable[[bytes], bool]:
    mime = mime_type.lower()
    if mime == "video/vp8":
        return starts_vp8_keyframe
    if mime == "video/h264":
        return starts_h264_keyframe
    # Unknown video codec: forward from the first packet and let the receiver ask (PLI).
    return lambda payload: True


class KeyframeRequester:
    """Sends keyframe requests (PLI) to a publisher: one outstanding at a time.

    Requests made while one is outstanding join it. A keyframe answers it (`keyframe_received`):
    the next request may then go out `min_interval_s` after that keyframe, so a subscriber that
    joins just after another is not kept waiting, and a receiver that keeps asking still cannot
    turn every frame into a keyframe. Unanswered, a request is sent again `interval_s` after it
    went, if someone still asks (a PLI or the keyframe can be lost). No request is dropped: one
    that cannot go now goes as soon as it may.
    """

    def __init__(
        self,
        send_request: Callable[[], None],
        interval_s: float = MIN_REQUEST_INTERVAL_S,
        min_interval_s: float = MIN_ANSWERED_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send_request = send_request
        self._interval_s = interval_s
        self._min_interval_s = min(min_interval_s, interval_s)
        self._clock = clock
        self._next_at = float("-inf")  # the earliest time the next request may go
        self._wanted = False  # asked for since the last request went
        self._outstanding = False  # a request went and no keyframe has answered it yet
        self._deferred: Optional[asyncio.TimerHandle] = None
        self.requests_sent = 0

    @property
    def awaiting_keyframe(self) -> bool:
        """Whether someone asked for a keyframe that has not come yet."""
        return self._outstanding or self._wanted

    def request(self) -> None:
        self._wanted = True
        if self._deferred is not None:
            return
        wait = self._next_at - self._clock()
        if wait <= 0:
            self._send()
        else:
            self._deferred = asyncio.get_running_loop().call_later(wait, self._send)

    def keyframe_received(self) -> None:
        """A keyframe from the publisher: it answers every request made so far."""
        if not self.awaiting_keyframe:
            return
        if self._outstanding:
            self._next_at = min(self._next_at, self._clock() + self._min_interval_s)
        self._outstanding = self._wanted = False
        self.close()  # nothing left to send

    def close(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def _send(self) -> None:
        self._deferred = None
        self._wanted = False
        self._outstanding = True
        self._next_at = self._clock() + self._interval_s
        self.requests_sent += 1
        self._send_request()
