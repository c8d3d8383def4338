"""Fetch one feed over HTTP within fixed limits; the only module that uses httpx.

Every failure becomes a `FetchError` with a stable `kind` and a one-line
message, because the update stage records it on the feed for people to read.
Redirects and Content-Encoding are handled here rather than by httpx so that
each redirect hop can be checked and a compressed body can be capped while it
is being inflated. Private and reserved addresses are refused in the network
backend, on the address actually connected to, so DNS tricks and odd IP
spellings cannot slip past a check made earlier.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import NoReturn

import httpcore
import httpx

from aggregator.errors import FetchError
from aggregator.fetching.hostpolicy import blocked_reason
from aggregator.models import FetchLimits, ResponseData, Settings

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
POOL_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=30)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})


def user_agent(version: str, contact_url: str) -> str:
    """A User-Agent that tells blog owners who is fetching and where to ask."""
    return f"Voice/{version} (+{contact_url}; LocalGov Digital blog aggregator)"


def limits_from_settings(settings: Settings, version: str) -> FetchLimits:
    return FetchLimits(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        deadline=settings.fetch_deadline,
        max_redirects=settings.max_redirects,
        max_body_bytes=settings.max_body_bytes,
        allow_private_hosts=settings.allow_private_hosts,
        user_agent=user_agent(version, settings.contact_url),
    )


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


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the connection pool swapped for one that uses
    GuardedBackend; httpx 0.28 has no public way to choose the backend."""

    def __init__(
        self,
        limits: httpx.Limits = POOL_LIMITS,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx internals changed: AsyncHTTPTransport._pool is gone")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(backend),
        )


def make_client(
    limits: FetchLimits, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client for fetch_feed; pass `transport` (e.g. MockTransport) in tests."""
    if transport is None:
        if limits.allow_private_hosts:
            transport = httpx.AsyncHTTPTransport(limits=POOL_LIMITS, trust_env=False)
        else:
            transport = GuardedTransport()
    return httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.deadline,
        ),
        headers={
            "User-Agent": limits.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        },
    )


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> ResponseData:
    """GET a feed, following redirects ourselves, within `limits.deadline`.

    Returns body None with status 304 when the validators still match.
    """
    try:
        async with asyncio.timeout(limits.deadline):
            return await _fetch(client, url, limits, etag, last_modified)
    except TimeoutError:
        raise FetchError(
            "timeout", f"no complete answer within {limits.deadline:g} s", url=url
        ) from None


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    limits: FetchLimits,
    etag: str | None,
    last_modified: str | None,
) -> ResponseData:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = _checked_url(url, url, None)
    permanent: str | None = None
    all_permanent = True
    for _hop in range(limits.max_redirects + 1):
        try:
            async with client.stream("GET", current, headers=headers) as response:
                status = response.status_code
                if status in _REDIRECTS and "location" in response.headers:
                    await _drain(response)
                    target = _checked_url(response.headers["location"], url, current)
                    all_permanent = all_permanent and status in _PERMANENT
                    if all_permanent:
                        permanent = str(target)
                    current = target
                    continue
                if status == 304:  # keep the validators we sent unless new ones came
                    await _drain(response)
                    kept = {"etag": etag, "last_modified": last_modified}
                    return _response_data(response, None, 0, permanent, kept)
                if not 200 <= status < 300:
                    raise _status_error(response, url)
                body, received = await _read_body(response, limits, url)
                return _response_data(response, body, received, permanent)
        except BlockedAddressError as exc:
            raise FetchError("blocked_address", str(exc), url=url) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:
            # httpx builds a next request from every Location, even when not
            # following redirects, and some unusable ones raise this (an
            # invalid IDNA host such as xn--a.com raises idna's UnicodeError).
            raise _bad_location(exc, url) from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" not in str(exc).lower():
                _raise_transport_error(exc, current, limits, url)
            raise _bad_location(exc, url) from exc
        except httpx.HTTPError as exc:
            _raise_transport_error(exc, current, limits, url)
    raise FetchError("too_many_redirects", f"more than {limits.max_redirects} redirects", url=url)


async def _drain(response: httpx.Response, limit: int = 65_536) -> None:
    """Read a small bodiless answer to its end, so its connection can be reused.

    A response closed unread takes its connection with it: for a cycle of
    mostly 304s that is a new TCP connection per feed. A body over `limit` is
    abandoned (and the connection with it).
    """
    if response.is_stream_consumed:  # already read (httpx.MockTransport in tests)
        return
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > limit:
            return


def _checked_url(candidate: str, url: str, base: httpx.URL | None) -> httpx.URL:
    try:
        parsed = base.join(candidate) if base is not None else httpx.URL(candidate)
        parsed.host.encode("idna")  # "a..b", "xn--a.com": refuse here, not deep in a socket call
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise FetchError(
            "bad_scheme", f"not a usable URL: {_one_line(candidate)}", url=url
        ) from exc
    if parsed.scheme not in ("http", "https"):
        message = f"only http and https URLs can be fetched, not {_one_line(parsed)}"
        raise FetchError("bad_scheme", message, url=url)
    if not parsed.host:
        raise FetchError("bad_scheme", f"no host name in {_one_line(parsed)}", url=url)
    return parsed


def _bad_location(exc: Exception, url: str) -> FetchError:
    return FetchError("bad_scheme", f"redirected to an unusable URL ({_one_line(exc)})", url=url)


def _response_data(
    response: httpx.Response,
    body: bytes | None,
    received: int,
    permanent: str | None,
    sent: dict[str, str | None] | None = None,
) -> ResponseData:
    h, sent = response.headers, sent or {}
    return ResponseData(
        url=str(response.url),
        status=response.status_code,
        body=body,
        etag=h.get("etag", sent.get("etag")),
        last_modified=h.get("last-modified", sent.get("last_modified")),
        content_type=h.get("content-type"),
        bytes_received=received,
        permanent_redirect=permanent,
        cache_control=h.get("cache-control"),
        expires=h.get("expires"),
        retry_after=h.get("retry-after"),
    )


def _status_error(response: httpx.Response, url: str) -> FetchError:
    status = response.status_code
    answered = f"server answered {status} {httpx.codes.get_reason_phrase(status)}".strip()
    if 300 <= status < 400:
        answered += " without a Location"
    elif status == 404:
        answered += ": check the feed URL"
    elif status == 410:
        answered += ": the feed has been removed; it will not be checked again"
    kind = "gone" if status == 410 else "http_status"
    error = FetchError(kind, answered, url=url, http_status=status)
    if "retry-after" in response.headers:
        error.retry_after = response.headers["retry-after"]  # type: ignore[attr-defined]
    return error


def _raise_transport_error(
    exc: httpx.HTTPError, current: httpx.URL, limits: FetchLimits, url: str
) -> NoReturn:
    host = current.host
    if isinstance(exc, httpx.ConnectTimeout):
        kind, message = "timeout", f"{host} did not accept within {limits.connect_timeout:g} s"
    elif isinstance(exc, httpx.ReadTimeout):
        kind, message = "timeout", f"{host} sent nothing for {limits.read_timeout:g} s"
    elif isinstance(exc, httpx.TimeoutException):
        kind, message = "timeout", f"timed out talking to {host}"
    elif _caused_by(exc, socket.gaierror):
        kind, message = "dns", f"could not find the server {host}: check the URL"
    elif _caused_by(exc, ssl.SSLError):
        reason = _caused_by(exc, ssl.SSLError)
        kind, message = "tls", f"secure connection to {host} failed: {_ssl_reason(reason)}"
    elif isinstance(exc, httpx.ConnectError):
        kind, message = "network", f"could not connect to {host}: {_one_line(exc)}"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        kind, message = "bad_scheme", f"cannot fetch {_one_line(current)}"
    else:
        kind, message = "network", f"connection to {host} failed: {_one_line(exc)}"
    raise FetchError(kind, message, url=url) from exc


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """Look down the chain: httpcore's pool re-raises `from None`, so follow the
    implicit __context__ as well as __cause__."""
    for _ in range(10):
        if exc is None or isinstance(exc, kind):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _ssl_reason(exc: BaseException | None) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return _one_line(exc.verify_message)
    if getattr(exc, "reason", None):
        return _one_line(exc.reason)  # type: ignore[union-attr]
    return _one_line(exc)


def _one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _too_large(cap: int, url: str) -> FetchError:
    return FetchError("too_large", f"feed is larger than {_size(cap)} (limit)", url=url)


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n / 1_000:g} kB" if n >= 1_000 else f"{n} bytes"


async def _read_body(response: httpx.Response, limits: FetchLimits, url: str) -> tuple[bytes, int]:
    """Read the raw body, inflating it ourselves so the cap applies to what we keep."""
    cap = limits.max_body_bytes
    inflater = _Inflater(_content_encoding(response.headers.get("content-encoding"), url))
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise _too_large(cap, url)
    parts: list[bytes] = []
    size = received = 0
    try:
        async for chunk in _raw_chunks(response):
            received += len(chunk)
            # Asking for one byte more than the room left is enough to know
            # the cap is passed, and bounds what a compression bomb can allocate.
            piece = inflater.feed(chunk, cap - size + 1)
            size += len(piece)
            if received > cap or size > cap:
                raise _too_large(cap, url)
            parts.append(piece)
        inflater.finish()
    except zlib.error as exc:
        message = f"could not decode the {inflater.coding} body: {_one_line(exc)}"
        raise FetchError("bad_encoding", message, url=url) from exc
    return b"".join(parts), received


def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed and isinstance(response.stream, httpx.AsyncByteStream):
        # Built in memory (MockTransport with bytes content): httpx has read and
        # decoded it already, but its stream still replays the raw bytes.
        return aiter(response.stream)
    return response.aiter_raw()


def _content_encoding(header: str | None, url: str) -> str:
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c not in ("identity", "none")]
    if len(codings) > 1:
        message = f"stacked content encodings are not supported: {_one_line(header)}"
        raise FetchError("bad_encoding", message, url=url)
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0]) if codings else "identity"
    if coding not in ("identity", "gzip", "deflate"):
        message = f"unsupported content encoding {_one_line(coding)}"
        raise FetchError("bad_encoding", message, url=url)
    return coding


class _Inflater:
    """Incremental Content-Encoding decoder whose output per call is bounded."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._fed = False
        self._head = b""
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip" else None

    def feed(self, data: bytes, limit: int) -> bytes:
        """At most `limit` bytes of output; raises zlib.error on corrupt input."""
        if self.coding == "identity":
            return data
        self._fed = self._fed or bool(data)
        if self._z is None:  # deflate: the first two bytes tell zlib-wrapped from raw
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            self._z = zlib.decompressobj(zlib.MAX_WBITS if _is_zlib(data) else -zlib.MAX_WBITS)
        out: list[bytes] = []
        while data and limit > 0 and not self._z.eof:
            piece = self._z.decompress(data, limit)
            limit -= len(piece)
            out.append(piece)
            data = self._z.unconsumed_tail  # non-empty only when `limit` was reached
        return b"".join(out)

    def finish(self) -> None:
        if self._fed and not (self._z is not None and self._z.eof):
            raise zlib.error("the compressed body ends early")


def _is_zlib(data: bytes) -> bool:
    """RFC 1950 header check: servers label raw deflate as "deflate" too."""
    return data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
