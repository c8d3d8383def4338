"""The fetching stage: one feed over HTTP within fixed limits; the only user of httpx.

It owns the client and its guarded connections (no private or reserved
address is ever connected to), redirects, Content-Encoding decoding under a
size cap, and the sorting of every failure into a stable `FetchError.kind`.
Politeness keys (`host_key`) live here too, because they are about hosts.
"""

from aggregator.fetching.client import (
    fetch_feed,
    host_key,
    limits_from_settings,
    make_client,
    user_agent,
)

__all__ = ["fetch_feed", "host_key", "limits_from_settings", "make_client", "user_agent"]
