"""ICE consent freshness that expires as RFC 7675 says.

Written against aiortc 1.16.0 (aioice 0.13.0). Replaces the method
`aioice.ice.Connection.query_consent`, which `Connection.connect` starts as
`Connection._query_consent_task`; the replacement reads `Connection._nominated`,
`Connection.remote_password`, `Connection.local_username`, `Connection.build_request`,
`StunProtocol.request` (its `retransmissions` argument) and the module constant
`aioice.ice.CONSENT_INTERVAL`, and clears `_query_consent_task` before closing as aioice does.
aioice gives each check one try of 0.5 s and gives up after 6 misses in a row, so an event
loop busy for half a second at each check (the peer's or this one's) ends a healthy
connection: under load, a class's instructor was dropped that way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Optional

import aioice.ice
import aioice.stun

from ._patch import replace

logger = logging.getLogger(__name__)

# RFC 7675: consent expires 30 s after the last answered check.
CONSENT_EXPIRY_S = 30.0
# Each check is sent again at 0.5 s and 1.5 s (aioice's RTO doubling): answered within 3.5 s.
CONSENT_RETRANSMISSIONS = 2


async def query_consent(self: aioice.ice.Connection) -> None:
    """aioice's consent freshness, expiring 30 s after the last check that was answered."""
    assert self.remote_password is not None
    answered_at = time.monotonic()
    unanswered: Optional[aioice.stun.TransactionError] = None
    while True:
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in self._nominated.values():
            try:
                await pair.protocol.request(
                    self.build_request(pair, nominate=False), pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS)
                answered_at = time.monotonic()
            except aioice.stun.TransactionError as exc:
                unanswered = exc
        if time.monotonic() - answered_at >= CONSENT_EXPIRY_S:
            logger.warning("ICE consent expired (%s): no check answered for %.0f s, the last "
                           "%s; closing the connection", self.local_username,
                           time.monotonic() - answered_at, _describe(unanswered))
            self._query_consent_task = None
            await self.close()
            return


def _describe(error: Optional[aioice.stun.TransactionError]) -> str:
    if isinstance(error, aioice.stun.TransactionFailed):
        return f"refused: {error.response.attributes.get('ERROR-CODE')}"
    return "timed out" if error is not None else "-"


AIOICE_QUERY_CONSENT = replace(aioice.ice.Connection, "query_consent", query_consent)
