"""The client's address: the TCP peer, or, behind a trusted reverse proxy, the address that
proxy put in ``X-Forwarded-For``. A header from anyone else is ignored: a client cannot talk its
way past an IP allowlist by sending one."""

import ipaddress
from functools import lru_cache

from threadline.gateway.principal import Network, parse_networks


class ClientAddresses:
    def __init__(self, trusted_proxies: str) -> None:
        cidrs = [part for part in trusted_proxies.split(",") if part.strip()]
        self._trusted: tuple[Network, ...] = parse_networks(cidrs) or ()

    def _is_trusted(self, address: str) -> bool:
        return _trusted(address, self._trusted)

    def of(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """``forwarded_for``: the X-Forwarded-For header values, in order."""
        if not self._trusted or peer is None or not forwarded_for or not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        # Right to left: each trusted proxy appended the address it got the request from.
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer


@lru_cache(maxsize=4096)
def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
