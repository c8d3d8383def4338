"""Host policy: which addresses a fetch may connect to, which hosts share limits.

Feed URLs come from people and from redirects we do not control, so a fetch
must never reach the machine it runs on, its private network or a cloud
metadata service. The check is made on the resolved address actually
connected to (see `guard`), which is why odd spellings such as
`http://2130706433/` need no special handling here. `host_key` groups feeds
by the server they live on, so the update stage can be polite to each one.

The networks are listed explicitly because the meaning of Python's
`is_private` and `is_global` changed between 3.11 and 3.13; the `is_*` flags
are only a second net. IPv6 forms that carry an IPv4 address (mapped,
compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address inside,
since that is where the packets end up. The local-use NAT64 prefix
64:ff9b:1::/48 is refused whole: its prefix length, and so where the IPv4
address sits, is a local choice we cannot know, and it is never global.
"""

from __future__ import annotations

import ipaddress

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPV4_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private network"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private network"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private network"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)

_IPV6_BLOCKED: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001:2::/48", "benchmarking"),
    ("2001:10::/28", "ORCHID"),
    ("2001:20::/28", "ORCHIDv2"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)

BLOCKED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(net) for net, _ in _IPV4_BLOCKED + _IPV6_BLOCKED
)
_REASONS = {ipaddress.ip_network(net): why for net, why in _IPV4_BLOCKED + _IPV6_BLOCKED}

_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def blocked_reason(ip: str | IPAddress) -> str | None:
    """Say why a fetch must not connect to `ip`, or None when it may.

    Raises ValueError for a string that is not an IP address.
    """
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(address.packed)
        carried = _embedded_ipv4(address)
        for label, embedded in carried:
            reason = blocked_reason(embedded)
            if reason is not None:
                return f"{label} {embedded}: {reason}"
        if carried:
            return None
    for network in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return _REASONS[network]
    return _flag_reason(address)


def is_blocked_address(ip: str | IPAddress) -> bool:
    """True when a fetch must not connect to `ip` (see `blocked_reason`)."""
    return blocked_reason(ip) is not None


def _flag_reason(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private network"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address delivers to, labelled by mechanism."""
    if address.ipv4_mapped is not None:
        return [("IPv4-mapped", address.ipv4_mapped)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return [("IPv4-compatible", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))]
    if address in _NAT64_WELL_KNOWN:
        return [("NAT64", ipaddress.IPv4Address(address.packed[12:]))]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


# Second-level suffixes under which each name is a separate organisation, so
# blogs.hackney.gov.uk and digital.leeds.gov.uk are different servers. Not the
# whole Public Suffix List: the ones member blogs are found under.
_TWO_LEVEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "gov.uk", "ac.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
        "sch.uk", "nhs.uk", "police.uk", "mod.uk", "com.au", "gov.au", "org.au", "co.nz",
        "govt.nz", "gov.ie", "gov.scot", "gov.wales", "llyw.cymru",
    }
)  # fmt: skip


def host_key(url: str) -> str:
    """The server a feed lives on, for politeness limits: its registrable domain.

    Forty blogs on one platform (name.wordpress.com, name.blogspot.com, the
    GOV.UK blogs on blog.gov.uk) share one key, so they share the per-host
    connection limit and gap; an IP address keeps its port, so local test
    servers on different ports count as different hosts.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.host.lower().rstrip(".")
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return url.lower()
    port = f":{parsed.port}" if parsed.port is not None else ""
    labels = host.split(".")
    if _is_ip(host) or len(labels) <= 2:
        return host + port
    keep = 3 if ".".join(labels[-2:]) in _TWO_LEVEL_SUFFIXES else 2
    return ".".join(labels[-keep:]) + port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
