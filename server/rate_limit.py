"""Token buckets: messages per signaling connection, joins per client address and per identity."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Hashable

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateLimit:
    """`per_s` tokens a second, at most `burst` saved up (so `burst` at once after a quiet spell)."""

    per_s: float
    burst: float

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs per_s > 0 and burst >= 1, not {self}")


class TokenBucket:
    def __init__(self, limit: RateLimit, clock: Clock = time.monotonic) -> None:
        self._limit, self._clock = limit, clock
        self._tokens, self._at = limit.burst, clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._limit.burst, self._tokens + (now - self._at) * self._limit.per_s)
        self._at = now

    def take(self) -> bool:
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def retry_after_s(self) -> float:
        """Seconds until `take` can succeed again."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self._limit.per_s)

    @property
    def full(self) -> bool:
        self._refill()
        return self._tokens >= self._limit.burst


class KeyedLimiter:
    """One bucket per key (an address, a session's identity). A full bucket is the same as none,
    so full ones are forgotten whenever the table has doubled: memory follows recent keys only."""

    def __init__(self, limit: RateLimit, clock: Clock = time.monotonic) -> None:
        self._limit, self._clock = limit, clock
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._prune_at = 1024

    def take(self, key: Hashable) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full}
                self._prune_at = max(1024, 2 * len(self._buckets))
            bucket = self._buckets[key] = TokenBucket(self._limit, self._clock)
        return bucket.take()

    def retry_after_s(self, key: Hashable) -> float:
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.retry_after_s()

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True)
class JoinRefusal:
    retry_after_s: float
    why: str

    code = "join_rate_limited"

    @property
    def message(self) -> str:
        return f"too many joins {self.why}: try again in {math.ceil(self.retry_after_s)} s"


class JoinLimiter:
    """Signaling joins: per client address (generous: a whole class may share one school NAT)
    and per identity in a session (tight: one person reconnecting in a loop)."""

    def __init__(self, per_address: RateLimit, per_identity: RateLimit,
                 clock: Clock = time.monotonic) -> None:
        self._addresses = KeyedLimiter(per_address, clock)
        self._identities = KeyedLimiter(per_identity, clock)

    def admit_address(self, address: str) -> JoinRefusal | None:
        """Counted before the token is read: bad tokens count too."""
        if self._addresses.take(address):
            return None
        return JoinRefusal(self._addresses.retry_after_s(address), "from this address")

    def admit_identity(self, session_id: str, identity: str) -> JoinRefusal | None:
        if self._identities.take((session_id, identity)):
            return None
        return JoinRefusal(self._identities.retry_after_s((session_id, identity)), "as this identity")
