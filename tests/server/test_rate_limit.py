"""Token buckets for signaling messages and joins (server/rate_limit.py), on a fake clock."""

from __future__ import annotations

import pytest

from server.rate_limit import JoinLimiter, KeyedLimiter, RateLimit, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_at_once_then_refills_at_its_rate():
    clock = Clock()
    bucket = TokenBucket(RateLimit(per_s=2, burst=3), clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after_s() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() and not bucket.take()
    clock.now += 60
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]  # never above the burst


def test_a_limit_that_would_refuse_everything_is_an_error():
    for per_s, burst in ((0, 5), (1, 0.5), (-1, 10)):
        with pytest.raises(ValueError):
            RateLimit(per_s, burst)


def test_each_key_has_its_own_bucket_and_full_ones_are_forgotten():
    clock = Clock()
    limiter = KeyedLimiter(RateLimit(per_s=1, burst=1), clock)
    assert limiter.take("a") and not limiter.take("a")
    assert limiter.take("b")
    for index in range(5000):  # a stream of one-off addresses
        limiter.take(f"10.0.{index // 256}.{index % 256}")
        clock.now += 0.01
    assert len(limiter) < 1200  # of 5002: only the buckets still refilling are kept
    assert not limiter.take("10.0.19.135")  # the last ones are still remembered


def test_joins_are_limited_per_address_and_per_identity_in_a_session():
    clock = Clock()
    joins = JoinLimiter(RateLimit(per_s=1, burst=50), RateLimit(per_s=0.2, burst=2), clock)
    assert all(joins.admit_address("127.0.0.1") is None for _ in range(50))  # a class at once
    refused = joins.admit_address("127.0.0.1")
    assert refused is not None and refused.code == "join_rate_limited"
    assert refused.message == "too many joins from this address: try again in 1 s"
    assert joins.admit_address("127.0.0.2") is None
    assert joins.admit_identity("ses_1", "sam") is None and joins.admit_identity("ses_1", "sam") is None
    refused = joins.admit_identity("ses_1", "sam")
    assert refused is not None and refused.retry_after_s == pytest.approx(5)
    assert "as this identity" in refused.message
    assert joins.admit_identity("ses_2", "sam") is None  # another class
    clock.now += 5
    assert joins.admit_identity("ses_1", "sam") is None
