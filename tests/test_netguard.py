import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.fetching.hostpolicy import BLOCKED_NETWORKS, blocked_reason, is_blocked_address

BLOCKED = [
    ("loopback", "127.0.0.1", "loopback"),
    ("loopback-range", "127.255.0.9", "loopback"),
    ("rfc1918-10", "10.1.2.3", "private network"),
    ("rfc1918-172", "172.31.255.254", "private network"),
    ("rfc1918-192", "192.168.1.1", "private network"),
    ("cgnat", "100.64.0.1", "carrier-grade NAT"),
    ("cloud-metadata", "169.254.169.254", "link-local"),
    ("this-network", "0.0.0.0", "this network"),
    ("multicast", "224.0.0.1", "multicast"),
    ("broadcast", "255.255.255.255", "broadcast"),
    ("reserved", "240.0.0.1", "reserved"),
    ("benchmark", "198.19.0.1", "benchmarking"),
    ("ietf-assignments", "192.0.0.9", "IETF protocol assignments"),
    ("test-net-1", "192.0.2.1", "documentation"),
    ("test-net-2", "198.51.100.7", "documentation"),
    ("test-net-3", "203.0.113.200", "documentation"),
    ("v6-unspecified", "::", "unspecified"),
    ("v6-loopback", "::1", "loopback"),
    ("v6-unique-local", "fd00::1", "unique local"),
    ("v6-link-local", "fe80::1", "link-local"),
    ("v6-link-local-scoped", "fe80::1%eth0", "link-local"),
    ("v6-site-local", "fec0::1", "site-local"),
    ("v6-multicast", "ff02::1", "multicast"),
    ("v6-documentation", "2001:db8::1", "documentation"),
    ("v4-mapped", "::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: loopback"),
    ("v4-mapped-private", "::ffff:192.168.0.1", "IPv4-mapped 192.168.0.1: private network"),
    ("v4-compatible", "::7f00:1", "IPv4-compatible 127.0.0.1: loopback"),
    ("nat64", "64:ff9b::a00:1", "NAT64 10.0.0.1: private network"),
    ("nat64-metadata", "64:ff9b::169.254.169.254", "NAT64 169.254.169.254: link-local"),
    ("nat64-local-use", "64:ff9b:1::808:808", "local-use NAT64"),
    ("6to4", "2002:7f00:1::", "6to4 127.0.0.1: loopback"),
    ("teredo-server", "2001:0:7f00:1::", "Teredo server 127.0.0.1: loopback"),
    ("teredo-client", "2001:0:808:808:0:0:f5ff:fffe", "Teredo client 10.0.0.1: private network"),
]

ALLOWED = [
    ("google-dns", "8.8.8.8"),
    ("cloudflare-dns", "1.1.1.1"),
    ("example-com", "93.184.216.34"),
    ("cloudflare-v6", "2606:4700:4700::1111"),
    ("v4-mapped-public", "::ffff:8.8.8.8"),
    ("nat64-public", "64:ff9b::808:808"),
    ("6to4-public", "2002:808:808::1"),
    ("just-outside-cgnat", "100.128.0.1"),
    ("just-outside-172-16", "172.32.0.1"),
]


@pytest.mark.parametrize(
    ("address", "reason"), [case[1:] for case in BLOCKED], ids=[case[0] for case in BLOCKED]
)
def test_blocked(address, reason):
    assert blocked_reason(address) == reason
    assert is_blocked_address(address)


@pytest.mark.parametrize("address", [case[1] for case in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_allowed(address):
    assert blocked_reason(address) is None
    assert not is_blocked_address(ipaddress.ip_address(address))


def test_not_an_address_is_an_error():
    with pytest.raises(ValueError):
        is_blocked_address("localhost")


@st.composite
def blocked_addresses(draw):
    network = draw(st.sampled_from(BLOCKED_NETWORKS))
    offset = draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    return network.network_address + offset


@given(blocked_addresses())
def test_every_address_in_a_blocked_network_is_refused(address):
    assert is_blocked_address(address)


@given(blocked_addresses())
def test_blocked_ipv4_is_refused_in_every_ipv6_wrapping(address):
    if address.version != 4:
        return
    v4 = int(address)
    for wrapped in (
        ipaddress.IPv6Address((0xFFFF << 32) | v4),  # ::ffff:a.b.c.d
        ipaddress.IPv6Address(v4) if v4 > 1 else None,  # ::a.b.c.d
        ipaddress.IPv6Address((0x64FF9B << 96) | v4),  # 64:ff9b::a.b.c.d
        ipaddress.IPv6Address((0x2002 << 112) | (v4 << 80)),  # 6to4
        ipaddress.IPv6Address((0x20010000 << 96) | (v4 << 64)),  # Teredo server
    ):
        if wrapped is not None:
            assert is_blocked_address(wrapped), wrapped
