import asyncio

from media.keyframes import KeyframeRequester, starts_h264_keyframe, starts_vp8_keyframe


def vp8_payload(keyframe: bool, start: bool = True, picture_id: bool = True) -> bytes:
    descriptor = bytes([0x90 if picture_id else 0x10]) if start else bytes([0x80 if picture_id else 0x00])
    if picture_id:
        descriptor += bytes([0x80, 0x81, 0x23])  # I bit, 15-bit picture id
    frame_header = bytes([0x00 if keyframe else 0x01, 0, 0])
    return descriptor + frame_header


def test_vp8_keyframe_start_is_recognised_with_and_without_picture_id():
    assert starts_vp8_keyframe(vp8_payload(True))
    assert starts_vp8_keyframe(vp8_payload(True, picture_id=False))
    assert not starts_vp8_keyframe(vp8_payload(False))
    assert not starts_vp8_keyframe(vp8_payload(True, start=False))
    assert not starts_vp8_keyframe(b"")


def test_h264_idr_is_recognised_alone_in_stap_a_and_in_fu_a():
    assert starts_h264_keyframe(bytes([0x65, 0x88]))  # IDR NAL
    assert starts_h264_keyframe(bytes([0x67, 0x42]))  # SPS
    stap_a = bytes([0x78]) + (2).to_bytes(2, "big") + bytes([0x67, 0x42]) + (2).to_bytes(2, "big") + bytes([0x68, 0x00])
    assert starts_h264_keyframe(stap_a)
    assert starts_h264_keyframe(bytes([0x7C, 0x85, 0x00]))  # FU-A start of IDR
    assert not starts_h264_keyframe(bytes([0x7C, 0x05, 0x00]))  # FU-A continuation
    assert not starts_h264_keyframe(bytes([0x41, 0x9A]))  # non-IDR slice


async def test_keyframe_requests_go_out_at_most_once_a_second_and_none_is_lost():
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    requester = KeyframeRequester(lambda: sent.append(loop.time()), interval_s=0.2)
    requester.request()
    requester.request()  # deferred to the end of the interval
    requester.request()  # already deferred: merged
    assert len(sent) == 1
    await asyncio.sleep(0.3)
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 0.19
    requester.close()


def recording_requester(**intervals: float) -> tuple[KeyframeRequester, list[float]]:
    """A requester whose requests are only noted (loop time of each)."""
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    return KeyframeRequester(lambda: sent.append(loop.time()), **intervals), sent


async def test_a_keyframe_answers_the_request_so_the_next_one_goes_out_soon_after_it():
    requester, sent = recording_requester(interval_s=5.0, min_interval_s=0.05)
    requester.request()
    assert requester.awaiting_keyframe
    requester.keyframe_received()
    assert not requester.awaiting_keyframe
    requester.request()  # the next subscriber: waits for the short interval, not for 5 s
    assert len(sent) == 1
    await asyncio.sleep(0.2)
    assert len(sent) == 2
    requester.close()


async def test_requests_answered_by_a_keyframe_are_not_sent_again():
    requester, sent = recording_requester(interval_s=0.1, min_interval_s=0.05)
    requester.request()
    requester.request()  # a subscription still waiting: joins the outstanding request
    requester.keyframe_received()
    requester.keyframe_received()  # a second keyframe answers nothing new
    await asyncio.sleep(0.3)
    assert len(sent) == 1
    requester.close()


async def test_a_keyframe_also_answers_a_request_still_waiting_for_its_turn():
    requester, sent = recording_requester(interval_s=0.1, min_interval_s=0.1)
    requester.request()
    requester.keyframe_received()
    requester.request()  # deferred: the previous request was answered just now
    assert requester.awaiting_keyframe
    requester.keyframe_received()  # the publisher sent one anyway (its own, or another's answer)
    assert not requester.awaiting_keyframe
    await asyncio.sleep(0.3)
    assert len(sent) == 1
    requester.close()
