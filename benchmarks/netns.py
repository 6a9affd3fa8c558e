"""A test host in a network namespace of our own: `ip netns add` + a veth pair + private addresses.

Some servers will not use loopback for media (Janus's ICE, through libnice, skips loopback
interfaces), so the benchmark gives them a host of their own: a namespace joined to the root
namespace by a veth pair, 10.x.y.1 on our side and 10.x.y.2 inside. Load traffic then goes to
10.x.y.2 only, never to the machine's external address. Needs CAP_NET_ADMIN (root).

    with TestHost.create("aula-janus") as host:
        subprocess.Popen(host.exec_argv(["janus", ...]))   # runs inside, reachable at host.ns_address
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from typing import Optional

# Private /30s are picked from here, skipping any that overlaps a route the machine already has.
POOL = ipaddress.ip_network("10.213.0.0/16")


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, netns: Optional[str] = None) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise NetnsError("the `ip` command is missing (apt-get install iproute2)") from exc
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def _routed_networks() -> list[ipaddress.IPv4Network]:
    networks = []
    for line in _ip("-4", "route", "show", "table", "all").splitlines():
        first = line.split(" ", 1)[0]
        if first[0].isdigit():
            network = ipaddress.ip_network(first, strict=False)
            if isinstance(network, ipaddress.IPv4Network):
                networks.append(network)
    return networks


def _free_subnet() -> ipaddress.IPv4Network:
    taken = _routed_networks()
    # Start at a pid-dependent /30 so that concurrent benchmarks rarely try the same one.
    subnets = list(POOL.subnets(new_prefix=30))
    first = os.getpid() % len(subnets)
    for subnet in subnets[first:] + subnets[:first]:
        if not any(subnet.overlaps(network) for network in taken):
            return subnet
    raise NetnsError(f"no free /30 left in {POOL}")


@dataclass
class TestHost:
    """A namespace `name`, reachable from the root namespace at `ns_address` (via `host_if`)."""

    name: str
    host_if: str
    ns_if: str
    host_address: str
    ns_address: str

    @classmethod
    def create(cls, prefix: str = "aula-bench") -> "TestHost":
        pid = os.getpid()
        name = f"{prefix}-{pid}"
        # Interface names are at most 15 bytes.
        host_if, ns_if = f"ab{pid}h"[:15], f"ab{pid}n"[:15]
        subnet = _free_subnet()
        host_address, ns_address = (str(a) for a in list(subnet.hosts())[:2])
        _ip("netns", "add", name)
        host = cls(name, host_if, ns_if, host_address, ns_address)
        try:
            _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", name)
            _ip("addr", "add", f"{host_address}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("addr", "add", f"{ns_address}/30", "dev", ns_if, netns=name)
            _ip("link", "set", ns_if, "up", netns=name)
            _ip("link", "set", "lo", "up", netns=name)
        except NetnsError:
            host.delete()
            raise
        return host

    def exec_argv(self, argv: list[str]) -> list[str]:
        """`argv` run inside the namespace (`ip netns exec` execs it: the pid is the program's)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def delete(self) -> None:
        """Remove the namespace; its end of the veth pair goes with it, and so does ours."""
        try:
            _ip("netns", "delete", self.name)
        except NetnsError:
            pass
        try:
            _ip("link", "delete", self.host_if)
        except NetnsError:
            pass  # already gone with its peer

    def __enter__(self) -> "TestHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()
