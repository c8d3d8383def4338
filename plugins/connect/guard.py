"""Limits that keep the form from being used to load Voice or its neighbours.

- RateLimits: so many uses an hour per client and kind of use (trials,
  submissions, status page views...), answered with when to try again;
- client_key: which client a request counts against: its IPv4 address, or
  its IPv6 /64, since one IPv6 host can take a fresh address from its /64
  for every request;
- Slots: commands in flight across the whole site, so a crowd of trials
  cannot start a crowd of fetchers;
- read_body: a request's body read up to a cap, so a 10 MB POST is refused
  (413) after at most the cap plus one chunk, before anything parses it.

State lives in this Datasette process (one event loop): it resets when
Datasette restarts, which costs an abuser nothing they could not get by
waiting an hour.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

WINDOW_SECONDS = 3600.0
MAX_CLIENTS = 10_000  # per kind of use: the oldest client is forgotten past this


class BodyTooLarge(Exception):
    """The request's body is larger than the form ever sends."""


@dataclass(frozen=True)
class Refusal:
    """Why a use was refused: how many were allowed and when the next one is."""

    allowed: int
    retry_after: int  # seconds
    at: float  # the wall-clock time the next use is allowed


class RateLimits:
    """At most `limits[kind]` uses per client in any hour."""

    def __init__(self, limits: dict[str, int], clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._uses: dict[str, OrderedDict[str, deque[float]]] = {k: OrderedDict() for k in limits}

    def check(self, kind: str, client: str) -> Refusal | None:
        """None when `client` may use `kind` now (the use is not counted: see `record`)."""
        now = self._clock()
        uses = self._recent(kind, client, now)
        allowed = self.limits[kind]
        if len(uses) < allowed:
            return None
        at = uses[0] + WINDOW_SECONDS
        return Refusal(allowed, max(1, math.ceil(at - now)), at)

    def record(self, kind: str, client: str) -> None:
        now = self._clock()
        self._recent(kind, client, now).append(now)

    def take(self, kind: str, client: str) -> Refusal | None:
        """Check and, when allowed, count one use."""
        refused = self.check(kind, client)
        if refused is None:
            self.record(kind, client)
        return refused

    def _recent(self, kind: str, client: str, now: float) -> deque[float]:
        clients = self._uses[kind]
        uses = clients.setdefault(client, deque())
        clients.move_to_end(client)
        while uses and uses[0] <= now - WINDOW_SECONDS:
            uses.popleft()
        while len(clients) > MAX_CLIENTS:
            clients.popitem(last=False)
        return uses


def client_key(host: str | None) -> str:
    """The rate limits' key for a client whose address is `host` (ASGI scope["client"][0]).

    IPv4: the address. IPv6: its /64 ("2001:db8:1:2::/64"), as one home or
    server usually gets a whole /64 and could rotate through it to get fresh
    limits; an IPv4 address written as IPv6 (::ffff:192.0.2.1) counts as
    IPv4. A host that is not an IP address (a Unix socket's, a test client's)
    is its own key.
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Slots:
    """At most `limit` holders at once; the one past it is told no at once, never queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    @contextmanager
    def hold(self) -> Iterator[bool]:
        """Yields True with a slot held until the block ends, or False when none is free."""
        if self.in_use >= self.limit:
            yield False
            return
        self.in_use += 1
        try:
            yield True
        finally:
            self.in_use -= 1


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, cap: int) -> list[Message]:
    """The request's messages, once its whole body is known to be at most `cap` bytes.

    Raises BodyTooLarge as soon as more than `cap` bytes have arrived.
    """
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away
        size += len(message.get("body", b""))
        if size > cap:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives `messages` first, then whatever the client sends next."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
