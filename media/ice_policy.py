"""Which remote ICE candidates the SFU will try: keeps test and private deployments on-net."""

from __future__ import annotations

import ipaddress


class IcePolicy:
    def __init__(self, allowed_networks: tuple[str, ...] = ()) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]

    def allows(self, host: str) -> bool:
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            # mDNS names (".local") and hostnames cannot be checked: refuse them when restricted.
            return False
        return any(address in network for network in self._networks)

    def filter_sdp(self, sdp: str) -> str:
        """Drop `a=candidate` lines whose address the policy refuses."""
        if not self._networks:
            return sdp
        kept = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                fields = line.split()
                if len(fields) < 5 or not self.allows(fields[4]):
                    continue
            kept.append(line)
        return "\r\n".join(kept) + "\r\n"
