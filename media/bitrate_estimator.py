"""aiortc's receive-side bitrate estimator (REMB), same results at a fraction of the cost,
and sent no more often than a browser sends its own.

An SFU runs aiortc's `RemoteBitrateEstimator` on every video packet it receives, so that
publishers hear a delay-based estimate (Janus sends a fixed cap instead). Two of its parts cost
most of its time without needing to: `RateCounter` walks its 1 ms buckets one by one for every
millisecond since the last packet (~33 per frame), and `OveruseEstimator` finds the smallest of
its last 60 frame periods with a Python loop, per frame. The replacements compute exactly the
same values (tests/media/test_bitrate_estimator.py feeds both the same traffic); media/aiortc/rate.py
makes every estimator aiortc builds use them.

While it sees overuse, aiortc's estimator hands out a REMB for every packet (on a busy server,
whose own delays look like overuse, that is every packet), each its own SRTCP packet through
aiortc's coroutines. `RembPacer` sends them as libwebrtc's PacketRouter does.
"""

from __future__ import annotations

from typing import Optional

from aiortc.rate import MIN_FRAME_PERIOD_HISTORY_LENGTH, OveruseEstimator


class WindowRateCounter:
    """aiortc's `RateCounter` (the rate over the last `window_size` ms, in `scale` units, from
    1 ms buckets in a ring), with the buckets that leave the window cleared a slice at a time
    instead of one by one: the same buckets, the same sums, for any arrival times."""

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        self._window_size = window_size
        self._scale = scale
        self.reset()

    def reset(self) -> None:
        self._counts = [0] * self._window_size
        self._values = [0] * self._window_size
        self._origin_index = 0
        self._origin_ms: Optional[int] = None
        self._count = 0
        self._value = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        index = (self._origin_index + now_ms - self._origin_ms) % self._window_size
        self._counts[index] += 1
        self._values[index] += value
        self._count += 1
        self._value += value

    def rate(self, now_ms: int) -> Optional[int]:
        if self._origin_ms is not None:
            self._erase_old(now_ms)
            active_window_size = now_ms - self._origin_ms + 1
            if self._count > 0 and active_window_size > 1:
                return round(self._scale * self._value / active_window_size)
        return None

    def _erase_old(self, now_ms: int) -> None:
        assert self._origin_ms is not None
        new_origin_ms = now_ms - self._window_size + 1
        steps = new_origin_ms - self._origin_ms
        if steps <= 0:
            return
        start = self._origin_index
        if steps >= self._window_size:
            self._clear(0, self._window_size)
        elif start + steps <= self._window_size:
            self._clear(start, start + steps)
        else:
            self._clear(start, self._window_size)
            self._clear(0, start + steps - self._window_size)
        self._origin_index = (start + steps) % self._window_size
        self._origin_ms = new_origin_ms

    def _clear(self, start: int, end: int) -> None:
        self._count -= sum(self._counts[start:end])
        self._value -= sum(self._values[start:end])
        self._counts[start:end] = [0] * (end - start)
        self._values[start:end] = [0] * (end - start)


class FastOveruseEstimator(OveruseEstimator):
    def update_min_frame_period(self, ts_delta: float) -> float:
        history = self.ts_delta_hist
        if len(history) >= MIN_FRAME_PERIOD_HISTORY_LENGTH:
            del history[0]
        smallest = min(history, default=ts_delta)
        history.append(ts_delta)
        return smallest if smallest < ts_delta else ts_delta


# libwebrtc's PacketRouter: a REMB at most every 200 ms, unless the estimate falls below 97 % of
# the last one sent, which goes at once.
REMB_INTERVAL_MS = 200
REMB_DROP_RATIO = 0.97


class RembPacer:
    def __init__(self) -> None:
        self._sent_at_ms: Optional[int] = None
        self._sent_bitrate = 0

    def should_send(self, bitrate: int, now_ms: int) -> bool:
        if (self._sent_at_ms is not None and now_ms - self._sent_at_ms < REMB_INTERVAL_MS
                and bitrate >= REMB_DROP_RATIO * self._sent_bitrate):
            return False
        self._sent_at_ms, self._sent_bitrate = now_ms, bitrate
        return True
