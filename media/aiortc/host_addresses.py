"""Which addresses ICE offers as host candidates.

Written against aiortc 1.16.0 (aioice 0.13.0). Replaces the module function
`aioice.ice.get_host_addresses(use_ipv4, use_ipv6)`, which `Connection.gather_candidates`
looks up at call time: aioice skips loopback addresses, and a server (or a test on one
machine) may have to offer exactly the addresses it was told to.
"""

from __future__ import annotations

import aioice.ice

from ._patch import replace

# aioice's own, put back by `use_host_addresses(())`.
AIOICE_HOST_ADDRESSES = aioice.ice.get_host_addresses


def use_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offer exactly these addresses as ICE host candidates (aioice skips loopback otherwise).

    Process-wide, as aioice reads interfaces from a module function. Empty restores aioice's
    default: every non-loopback interface.
    """
    if addresses:
        chosen = list(addresses)

        def chosen_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            return list(chosen)

        replace(aioice.ice, "get_host_addresses", chosen_addresses)
    else:
        replace(aioice.ice, "get_host_addresses", AIOICE_HOST_ADDRESSES)
