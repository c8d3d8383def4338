"""The guarded network backend: no private or reserved address is connected to.

Names are resolved here and the check is made on the address actually
connected to, so DNS tricks and odd IP spellings cannot slip past a check
made earlier; `hostpolicy.blocked_reason` decides which addresses are refused.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore
import httpx

from aggregator.fetching.hostpolicy import blocked_reason

POOL_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=30)


class BlockedAddressError(Exception):
    """Raised inside the network backend; deliberately not an httpcore error, so
    httpx passes it through unchanged instead of turning it into ConnectError."""

    def __init__(self, host: str, ip: str, reason: str) -> None:
        super().__init__(f"refused to connect to {host} ({ip}): private or reserved address")
        self.host = host
        self.ip = ip
        self.reason = reason


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves names itself and connects only to allowed IP literals.

    TLS is unaffected: httpcore passes the URL's host name to start_tls as
    server_hostname, so SNI and certificate checks still use the name.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        allowed = [ip for ip in addresses if blocked_reason(ip) is None]
        if not allowed:
            raise BlockedAddressError(host, addresses[0], blocked_reason(addresses[0]) or "")
        failure: Exception | None = None
        for ip in allowed:
            try:
                return await self._backend.connect_tcp(
                    ip, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


async def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"looking up {host} took too long") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    except (UnicodeError, ValueError) as exc:  # e.g. an empty or over-long label: "a..b"
        raise httpcore.ConnectError(f"{host} is not a valid host name") from socket.gaierror(
            socket.EAI_NONAME, str(exc)
        )
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise httpcore.ConnectError(f"no address for {host}")
    return addresses


class LazyTLSPool(httpcore.AsyncConnectionPool):
    """A connection pool that reads the CA certificates at its first https connection.

    Building a TLS context reads certifi's ~150 certificates: about 20 ms of
    CPU, which httpx spent twice per cycle here (its transport's context, then
    this pool's). A cycle of 304s from http blogs needs none; one https
    connection builds it once, with verification on, and every later one
    shares it.
    """

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        if origin.scheme == b"https" and self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return super().create_connection(origin)


class PoolTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a LazyTLSPool; `backend` chooses how to connect.

    httpx's own __init__ is not called: it builds a TLS context for a pool that
    would be replaced at once, and httpx 0.28's transport keeps nothing but
    `_pool` (tests/test_fetch.py checks that, so an upgrade that changes it
    fails there).
    """

    def __init__(
        self,
        limits: httpx.Limits = POOL_LIMITS,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._pool = LazyTLSPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


class GuardedTransport(PoolTransport):
    """The transport whose connections go through GuardedBackend; httpx 0.28
    has no public way to choose the backend."""

    def __init__(
        self,
        limits: httpx.Limits = POOL_LIMITS,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits, GuardedBackend(backend))
