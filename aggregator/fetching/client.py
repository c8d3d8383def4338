"""Fetch one feed over HTTP within fixed limits: the client and the redirect loop.

Redirects are followed here rather than by httpx so that each hop's URL can
be checked (http or https, a host name) before anything is sent to it. The
client's transport refuses private and reserved addresses (see `guard`), the
body is read and decoded under the size cap (see `decoding`), and every
failure becomes a `FetchError` with a one-line message (see `failures`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx

from aggregator.errors import FetchError
from aggregator.fetching.decoding import read_body
from aggregator.fetching.failures import (
    one_line,
    raise_transport_error,
    status_error,
)
from aggregator.fetching.guard import BlockedAddressError, GuardedTransport, PoolTransport
from aggregator.models import FetchLimits, ResponseData, Settings

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # what quote() leaves alone in a URL
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})


def user_agent(version: str, contact_url: str) -> str:
    """A User-Agent that tells blog owners who is fetching and where to ask.

    HTTP headers are ASCII: a contact URL written with other characters is
    sent percent-encoded rather than failing every request.
    """
    contact = quote(contact_url, safe=_URL_SAFE)
    return f"Voice/{version} (+{contact}; LocalGov Digital blog aggregator)"


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


class Client:
    """One transport (its connection pool) and what every request of a cycle carries.

    Requests go straight to the transport: Voice follows redirects itself and
    uses no auth or event hooks, so httpx.AsyncClient's layers for them were
    work for nothing on every fetch: about a tenth of the CPU of a cycle of
    304s (bench/run.py, warm). Every request carries the headers and timeouts
    the client gave it before, in the same order. Cookies are kept only along
    one fetch's redirects (see `_fetch`), never from one feed to another.
    Use as `async with make_client(...)`.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, limits: FetchLimits) -> None:
        self.transport = transport
        self.headers = {
            "Connection": "keep-alive",
            "User-Agent": limits.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        }
        self.timeout = httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.deadline,
        ).as_dict()

    def build_request(self, url: httpx.URL, headers: dict[str, str]) -> httpx.Request:
        return httpx.Request(
            "GET", url, headers=self.headers | headers, extensions={"timeout": self.timeout}
        )

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def make_client(limits: FetchLimits, transport: httpx.AsyncBaseTransport | None = None) -> Client:
    """A client for fetch_feed; pass `transport` (e.g. MockTransport) in tests."""
    if transport is None:
        transport = PoolTransport() if limits.allow_private_hosts else GuardedTransport()
    return Client(transport, limits)


async def fetch_feed(
    client: Client,
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
    client: Client,
    url: str,
    limits: FetchLimits,
    etag: str | None,
    last_modified: str | None,
) -> ResponseData:
    headers = {}
    # A validator is sent back as it came; one that is not ASCII (a server's
    # latin-1 ETag) cannot be, so the feed is fetched without it.
    if etag and etag.isascii():
        headers["If-None-Match"] = etag
    if last_modified and last_modified.isascii():
        headers["If-Modified-Since"] = last_modified
    current = _checked_url(url, url, None)
    permanent: str | None = None
    all_permanent = True
    # Cookies set on the way (a host's redirect to a consent or session hop)
    # go with this fetch's next hops, as a browser's would, and no further.
    cookies: httpx.Cookies | None = None
    for _hop in range(limits.max_redirects + 1):
        try:
            request = client.build_request(current, headers)
            if cookies:
                cookies.set_cookie_header(request)
            async with _sent(client, request) as response:
                status = response.status_code
                if status in _REDIRECTS and "location" in response.headers:
                    if "set-cookie" in response.headers:
                        cookies = cookies or httpx.Cookies()
                        cookies.extract_cookies(response)
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
                    raise status_error(response, url)
                body, received = await read_body(response, limits, url)
                return _response_data(response, body, received, permanent)
        except BlockedAddressError as exc:
            raise FetchError("blocked_address", str(exc), url=url) from exc
        except httpx.HTTPError as exc:
            raise_transport_error(exc, current, limits, url)
    raise FetchError("too_many_redirects", f"more than {limits.max_redirects} redirects", url=url)


@asynccontextmanager
async def _sent(client: Client, request: httpx.Request) -> AsyncIterator[httpx.Response]:
    """The response to `request`, its headers read and its body not yet; closed after."""
    response = await client.transport.handle_async_request(request)
    response.request = request
    try:
        yield response
    finally:
        await response.aclose()


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
        raise FetchError("bad_scheme", f"not a usable URL: {one_line(candidate)}", url=url) from exc
    if parsed.scheme not in ("http", "https"):
        message = f"only http and https URLs can be fetched, not {one_line(parsed)}"
        raise FetchError("bad_scheme", message, url=url)
    if not parsed.host:
        raise FetchError("bad_scheme", f"no host name in {one_line(parsed)}", url=url)
    return parsed


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
