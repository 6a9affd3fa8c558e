"""Connectivity: silence becomes a loss, the next datagram a return, and a replacement inherits."""

from media.connectivity import LOST_AFTER_S, SILENCE_EVIDENCE_S, Change, Connectivity


def test_silence_after_media_is_a_loss_dated_when_last_heard_and_the_next_datagram_a_return() -> None:
    link = Connectivity()
    assert link.poll(0, 100.0) is None  # nothing negotiated yet: never lost
    assert link.poll(0, 100.0 + 3 * LOST_AFTER_S) is None
    assert link.poll(5, 200.0) is None
    assert link.poll(9, 201.0) is None
    assert link.poll(9, 201.0 + LOST_AFTER_S - 0.5) is None
    assert link.absent_since(201.0 + LOST_AFTER_S - 0.5) == 201.0  # silent: a leave would date here
    assert link.poll(9, 201.0 + LOST_AFTER_S) is Change.LOST
    assert link.lost and link.lost_since == 201.0
    assert link.poll(9, 230.0) is None  # lost once, not again
    assert link.poll(10, 231.0) is Change.RESTORED
    assert not link.lost and link.absent_since(231.5) is None


def test_a_connection_replacing_a_silent_one_is_back_only_when_heard() -> None:
    old = Connectivity()
    old.poll(50, 10.0)
    reload = Connectivity()
    reload.continue_from(old, 10.0 + SILENCE_EVIDENCE_S / 2)  # a quick reload: nothing missed
    assert not reload.lost
    comeback = Connectivity()
    comeback.continue_from(old, 15.0)
    assert comeback.lost and comeback.lost_since == 10.0
    assert comeback.poll(0, 16.0) is None
    assert comeback.poll(3, 17.0) is Change.RESTORED
