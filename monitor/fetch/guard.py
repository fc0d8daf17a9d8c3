"""Which hosts may be fetched: public addresses, plus the allow-list.

Feed and article URLs come from strangers, so by default only public addresses are
fetched. :class:`HostPolicy` says which hosts and networks the allow-list opens
(``fetch.allow_hosts``, ``--allow-host``, ``$NEWSMON_ALLOW_HOSTS``);
:func:`monitor.fetch.backend.guard_connections` puts the check into httpx's transport,
on the address a connection really opens to (a name that resolves to a public address
for the check and to 127.0.0.1 a moment later - DNS rebinding - gets nowhere).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Protocol

from monitor.errors import ConfigError, FetchError

# Nor httpcore (~3 MB in the workers' forkserver, which imports the config and so
# parse_allow_entry): the connect-time check is in monitor.fetch.backend.


class AllowSettings(Protocol):
    """What the policy reads of the fetch settings (:class:`monitor.config.FetchSettings`)."""

    allow_hosts: list[str]
    allow_private_networks: bool


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
HOW_TO_ALLOW = (
    "to fetch it anyway, allow it with --allow-host {h}, "
    "NEWSMON_ALLOW_HOSTS={h} or fetch.allow_hosts in settings.yaml"
)


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts may be fetched: public addresses, plus the allow-list.

    A named host on the list is allowed whatever it resolves to (the user named
    it); any other host is allowed only if every address it resolves to is public
    or inside an allowed network. ``all_private`` is the blunt legacy switch
    (``fetch.allow_private_networks``): no address check at all.
    """

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    all_private: bool = False

    @classmethod
    def from_settings(cls, s: AllowSettings) -> HostPolicy:
        names: set[str] = set()
        nets: list[IPNetwork] = []
        for entry in s.allow_hosts:
            parsed = parse_allow_entry(entry)
            if isinstance(parsed, str):
                names.add(parsed)
                continue
            mapped = (
                parsed.network_address.ipv4_mapped
                if isinstance(parsed, ipaddress.IPv6Network)
                else None
            )
            if mapped is not None and parsed.prefixlen >= 96:  # ::ffff:a.b.c.d/n is IPv4
                parsed = ipaddress.IPv4Network((mapped, parsed.prefixlen - 96))
            nets.append(parsed)
        return cls(frozenset(names), tuple(nets), s.allow_private_networks)

    def allows_name(self, host: str) -> bool:
        return self.all_private or host.lower().rstrip(".") in self.names

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """None if ``host`` may be reached at ``ip``; else why not, and how to allow it."""
        if self.allows_name(host):
            return None
        real = _embedded_ipv4(ip) or ip
        if real.is_global and not real.is_multicast and (real is ip or ip.is_global):
            return None
        if any(real in net or ip in net for net in self.networks):
            return None
        shown = str(real) if real is ip else f"{real} (as {ip})"
        return (
            f"refused: {host} resolves to the non-public address {shown} ({_kind(real)}); "
            + HOW_TO_ALLOW.format(h=host if host != str(real) else str(real))
        )


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and may be routed to: IPv4-mapped
    (``::ffff:127.0.0.1``), 6to4 (``2002:7f00:1::``), NAT64 (``64:ff9b::7f00:1``), the
    deprecated IPv4-compatible form (``::127.0.0.1``). Python calls the last three
    global whatever they carry."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local, e.g. a cloud metadata endpoint"
    if ip.is_private:
        return "private network"
    if ip.is_multicast:
        return "multicast"
    return "reserved"


async def resolve(host: str, port: int | None = None) -> list[tuple[int, IPAddress]]:
    """(family, address) for every address ``host`` resolves to, in resolver order."""
    try:  # an address written out needs no resolver (nor a trip to its thread pool)
        literal = ipaddress.ip_address(host.strip("[]"))
        return [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, literal)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchError(f"cannot connect: DNS lookup failed for {host!r}") from None
    out: list[tuple[int, IPAddress]] = []
    for family, *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if (family, ip) not in out:
            out.append((family, ip))
    return out


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)


def parse_allow_entry(entry: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A host name (lower case) or a network (an address alone is a /32 or /128).

    Raises ValueError with a message that names the entry and says what is expected.
    """
    text = str(entry).strip()
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if _HOSTNAME.match(name) and not re.fullmatch(r"[0-9.]+", name):
        return name
    raise ValueError(
        f"{text!r} is not a host name, an IP address or a CIDR network "
        "(examples: feeds.intranet, 127.0.0.1, 10.0.0.0/8, ::1)"
    )


def parse_allow_hosts(entries: list[str], source: str) -> list[str]:
    """Check allow-list entries from ``source`` (an option or a variable); ConfigError if
    one is bad. Comma-separated values are split, blanks dropped."""
    out: list[str] = []
    for item in entries:
        for part in str(item).split(","):
            if not part.strip():
                continue
            try:
                parse_allow_entry(part)
            except ValueError as exc:
                raise ConfigError(source, "", str(exc)) from None
            out.append(part.strip())
    return out
