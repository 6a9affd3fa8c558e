"""The engagement camera sample: one keyframe, whole, handed to the frame worker."""

from __future__ import annotations

from typing import Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.video_tap import VideoTap

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
KEYFRAME_START = b"\x10key"


class Worker:
    def __init__(self) -> None:
        self.submitted: list[list[RtpPacket]] = []

    def submit(self, codec: Any, packets: list[RtpPacket], on_frame: Any) -> None:
        self.submitted.append(packets)


def frame(first_sequence: int, count: int) -> list[RtpPacket]:
    return [RtpPacket(payload_type=96, sequence_number=(first_sequence + i) % (1 << 16),
                      marker=int(i == count - 1),
                      payload=KEYFRAME_START if i == 0 else b"\x00part")
            for i in range(count)]


def make_tap(worker: Worker, requests: list[int]) -> VideoTap:
    return VideoTap(VP8, 10.0, lambda: requests.append(1),
                    lambda packet: packet.payload == KEYFRAME_START, lambda gray: None,
                    worker, clock=lambda: 0.0)  # type: ignore[arg-type]


def test_a_keyframe_with_a_lost_packet_is_not_decoded_and_the_next_is_asked_for() -> None:
    worker, requests = Worker(), []
    tap = make_tap(worker, requests)
    lossy = frame(65530, 10)  # across the sequence wrap
    del lossy[4]
    for packet in lossy:
        tap.on_packet(packet)
    assert worker.submitted == []
    tap.on_packet(RtpPacket(payload_type=96, sequence_number=100, payload=b"\x00delta"))
    assert requests  # still due: a keyframe is asked for
    whole = frame(200, 6)
    for packet in whole:
        tap.on_packet(packet)
    assert worker.submitted == [whole]
