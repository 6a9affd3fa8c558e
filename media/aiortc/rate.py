"""aiortc's receive-side bitrate estimator, built from cheaper parts.

Written against aiortc 1.16.0. Replaces the classes `aiortc.rate.RateCounter` and
`aiortc.rate.OveruseEstimator`, which `aiortc.rate.RemoteBitrateEstimator.__init__` looks
up in the module `aiortc.rate` each time an estimator is built. aiortc builds a RemoteBitrateEstimator for every video receiver, also on each of the ~60
sendonly m-lines of a subscriber connection, which never receive anything: its 1,000 rate
buckets cost 0.8 ms and 1,000 objects each (a class of 30 held ~1.8 M of them, and each full
GC pass walked them all, holding the loop 100+ ms). Every estimator is built from the
replacements in media/bitrate_estimator.py instead (the same REMB values, for less work:
tests/media/test_bitrate_estimator.py feeds both the same traffic).
"""

from __future__ import annotations

import aiortc.rate

from .. import bitrate_estimator
from ._patch import replace

# aiortc's own classes, kept for the tests that compare them with the replacements.
AIORTC_RATE_COUNTER = aiortc.rate.RateCounter
AIORTC_OVERUSE_ESTIMATOR = aiortc.rate.OveruseEstimator

replace(aiortc.rate, "RateCounter", bitrate_estimator.WindowRateCounter)
replace(aiortc.rate, "OveruseEstimator", bitrate_estimator.FastOveruseEstimator)
