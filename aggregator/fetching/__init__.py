"""The fetching stage: one feed over HTTP within fixed limits; the only user of httpx.

It owns the client and its guarded connections (no private or reserved
address is ever connected to), redirects, Content-Encoding decoding under a
size cap, and the sorting of every failure into a stable `FetchError.kind`.
Politeness keys (`host_key`) live here too, because they are about hosts.

    client      Client, make_client, fetch_feed and the redirect loop; limits and User-Agent
    guard       the network backend that resolves names and refuses blocked addresses
    hostpolicy  which addresses may be connected to; which hosts share politeness limits
    decoding    reading the body under the size cap, inflating gzip and deflate
    failures    HTTP statuses and transport errors as FetchErrors with one-line messages
"""

import sys

# `import httpx` also imports httpx's own command line (httpx._main), and with
# it rich and pygments: a third of Voice's start-up, for a tool Voice never
# runs. A None entry in sys.modules makes that one import fail, which httpx
# expects (it then defines a `main` that asks for httpx[cli]); the entry is
# removed again at once, so nothing else is affected.
_SKIP_CLI = "httpx" not in sys.modules and "httpx._main" not in sys.modules
if _SKIP_CLI:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
try:
    import httpx
finally:
    if _SKIP_CLI:
        del sys.modules["httpx._main"]

from aggregator.fetching.client import (  # noqa: E402  (after httpx, above)
    Client,
    fetch_feed,
    limits_from_settings,
    make_client,
    user_agent,
)
from aggregator.fetching.hostpolicy import host_key  # noqa: E402

# The types other stages hold without importing httpx themselves.
Transport = httpx.AsyncBaseTransport

__all__ = [
    "Client",
    "Transport",
    "fetch_feed",
    "host_key",
    "limits_from_settings",
    "make_client",
    "user_agent",
]
