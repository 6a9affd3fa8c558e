"""The faster bitrate estimator gives aiortc's REMB values, packet for packet; they go out
as often as libwebrtc sends its own."""

from __future__ import annotations

import random

import aiortc.rate
import pytest
from aiortc.rate import RemoteBitrateEstimator

from media.aiortc.rate import AIORTC_OVERUSE_ESTIMATOR, AIORTC_RATE_COUNTER
from media.bitrate_estimator import REMB_DROP_RATIO, FastOveruseEstimator, RembPacer, WindowRateCounter


def aiortc_estimator(monkeypatch: pytest.MonkeyPatch) -> RemoteBitrateEstimator:
    """aiortc's own estimator, as it is without Aula's hooks."""
    with monkeypatch.context() as patch:
        patch.setattr(aiortc.rate, "RateCounter", AIORTC_RATE_COUNTER)
        patch.setattr(aiortc.rate, "OveruseEstimator", AIORTC_OVERUSE_ESTIMATOR)
        return RemoteBitrateEstimator()


def test_the_window_rate_counter_reports_aiortcs_rates_through_gaps_and_resets():
    rng = random.Random(7)
    theirs, ours = AIORTC_RATE_COUNTER(1000, 8000), WindowRateCounter(1000, 8000)
    now = 0
    for _ in range(20000):
        now += rng.choice([0, 0, 1, 2, 5, 33, 100, 700, 1500])
        if rng.random() < 0.002:
            theirs.reset()
            ours.reset()
        size = rng.randint(50, 1200)
        theirs.add(size, now)
        ours.add(size, now)
        now += rng.choice([0, 1, 3])
        assert ours.rate(now) == theirs.rate(now)


def video(rng: random.Random, seconds: float, congested_from: float) -> list[tuple[int, int, int]]:
    """(abs-send-time, arrival ms, size) of a 30 fps camera, 1-6 packets a frame; from
    `congested_from` on, a bottleneck queue grows, so arrivals drift behind the send times."""
    packets: list[tuple[int, int, int]] = []
    queue_ms = 0.0
    for frame in range(int(seconds * 30)):
        sent_ms = frame * 1000 / 30
        if sent_ms >= congested_from * 1000:
            queue_ms += rng.uniform(0, 4)
        for index in range(rng.randint(1, 6)):
            send = sent_ms + index * 0.5
            arrival = send + 20 + queue_ms + rng.uniform(0, 3)
            packets.append((int(send / 1000 * (1 << 18)) & 0xFFFFFF, int(arrival),
                            rng.randint(900, 1200)))
    return packets


def test_every_estimator_aiortc_builds_is_fast_and_sends_aiortcs_rembs_also_under_congestion(monkeypatch):
    theirs, ours = aiortc_estimator(monkeypatch), RemoteBitrateEstimator()
    assert isinstance(ours.incoming_bitrate, WindowRateCounter) and isinstance(ours.estimator, FastOveruseEstimator)
    assert not isinstance(theirs.incoming_bitrate, WindowRateCounter)
    rembs = []
    for abs_send_time, arrival_ms, size in video(random.Random(3), 40, congested_from=25):
        remb = theirs.add(arrival_ms, abs_send_time, size, 1234)
        assert ours.add(arrival_ms, abs_send_time, size, 1234) == remb
        if remb is not None:
            rembs.append(remb[0])
    assert len(rembs) > 40
    # The delay-based part is at work: the congestion brings the estimate down.
    assert min(rembs[-10:]) < max(rembs) / 2


def test_rembs_go_at_most_every_200_ms_but_a_falling_estimate_at_once():
    pacer = RembPacer()
    assert pacer.should_send(1_000_000, 0)
    assert not pacer.should_send(1_000_000, 100)
    assert not pacer.should_send(980_000, 150)  # down less than 3 %
    assert pacer.should_send(960_000, 160)  # down more: at once
    assert not pacer.should_send(2_000_000, 300)
    assert pacer.should_send(2_000_000, 360)


def test_under_congestion_the_publisher_hears_few_rembs_and_the_lowest_estimate():
    estimator, pacer = RemoteBitrateEstimator(), RembPacer()
    estimates: list[tuple[int, int]] = []
    sent: list[tuple[int, int]] = []
    for abs_send_time, arrival_ms, size in video(random.Random(3), 40, congested_from=25):
        remb = estimator.add(arrival_ms, abs_send_time, size, 1234)
        if remb is not None:
            estimates.append((arrival_ms, remb[0]))
            if pacer.should_send(remb[0], arrival_ms):
                sent.append((arrival_ms, remb[0]))
    congested = [t for t, _ in estimates if t >= 25_000]
    assert len(congested) > 20 * 15  # aiortc's estimator: one per packet while it sees overuse
    assert len([t for t, _ in sent if t >= 25_000]) <= 5 * 15 + 15
    assert min(b for _, b in sent) <= min(b for _, b in estimates) / REMB_DROP_RATIO
