import asyncio
import gzip
import http.server
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import httpcore
import httpx
import pytest

from aggregator.errors import FetchError
from aggregator.fetching import guard as guard_module
from aggregator.fetching.client import (
    fetch_feed,
    limits_from_settings,
    make_client,
    user_agent,
)
from aggregator.fetching.guard import GuardedBackend, GuardedTransport
from aggregator.fetching.hostpolicy import host_key
from aggregator.models import FetchLimits, Settings

URL = "https://blog.example/feed.xml"
FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
LIMITS = FetchLimits(user_agent=user_agent("0.1.0", "https://localgov.digital/voice"))


def fetch(handler, url=URL, limits=LIMITS, **kwargs):
    async def go():
        async with make_client(limits, httpx.MockTransport(handler)) as client:
            return await fetch_feed(client, url, limits, **kwargs)

    return asyncio.run(go())


def fetch_error(handler, url=URL, limits=LIMITS, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(handler, url, limits, **kwargs)
    assert "\n" not in info.value.message
    return info.value


async def chunked(data: bytes, size: int = 65_536):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def answer(status=200, content=FEED, **headers):
    """Streams `content` as a server would; a Response built from bytes would be
    read (and decoded) by httpx before fetch_feed sees it."""

    def handler(request):
        length = {"Content-Length": str(len(content))}
        return httpx.Response(status, content=chunked(content), headers=length | headers)

    return handler


def redirects(chain: dict[str, tuple[int, str]]):
    """A server that redirects path -> (status, Location) and serves FEED elsewhere."""

    def handler(request):
        if request.url.path in chain:
            status, location = chain[request.url.path]
            return httpx.Response(status, headers={"Location": location})
        return httpx.Response(200, content=FEED)

    return handler


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


# --- Successful fetches ---------------------------------------------------------------


def test_ok_returns_body_and_caching_headers():
    result = fetch(
        answer(
            200,
            FEED,
            **{
                "Content-Type": "application/rss+xml",
                "ETag": '"v1"',
                "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
                "Cache-Control": "max-age=600",
                "Expires": "Mon, 01 Jan 2024 01:00:00 GMT",
            },
        )
    )
    assert result.status == 200
    assert result.body == FEED
    assert result.url == URL
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert result.content_type == "application/rss+xml"
    assert result.cache_control == "max-age=600"
    assert result.expires == "Mon, 01 Jan 2024 01:00:00 GMT"
    assert result.bytes_received == len(FEED)
    assert result.permanent_redirect is None


def test_request_identifies_us_and_prefers_feeds():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, content=FEED)

    fetch(handler)
    assert seen["user-agent"] == (
        "Voice/0.1.0 (+https://localgov.digital/voice; LocalGov Digital blog aggregator)"
    )
    assert seen["accept-encoding"] == "gzip, deflate"
    assert seen["accept"].startswith("application/atom+xml, application/rss+xml")
    assert "if-none-match" not in seen and "if-modified-since" not in seen


def test_conditional_headers_are_sent():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(304)

    fetch(handler, etag='"abc"', last_modified="Tue, 02 Jan 2024 00:00:00 GMT")
    assert seen["if-none-match"] == '"abc"'
    assert seen["if-modified-since"] == "Tue, 02 Jan 2024 00:00:00 GMT"


@pytest.mark.parametrize(
    ("headers", "etag", "last_modified"),
    [
        ({}, '"sent"', "Tue, 02 Jan 2024 00:00:00 GMT"),
        ({"ETag": '"new"', "Last-Modified": "Wed"}, '"new"', "Wed"),
    ],
    ids=["validators-kept", "validators-updated"],
)
def test_not_modified_has_no_body(headers, etag, last_modified):
    result = fetch(
        answer(304, b"", **headers),
        etag='"sent"',
        last_modified="Tue, 02 Jan 2024 00:00:00 GMT",
    )
    assert (result.status, result.body) == (304, None)
    assert (result.etag, result.last_modified) == (etag, last_modified)


# --- Redirects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chain", "final", "permanent"),
    [
        (
            {"/feed.xml": (301, "/moved"), "/moved": (308, "https://new.example/rss")},
            "https://new.example/rss",
            "https://new.example/rss",
        ),
        (
            {"/feed.xml": (301, "../moved"), "/moved": (302, "/temporary")},
            "https://blog.example/temporary",
            "https://blog.example/moved",
        ),
        (
            {"/feed.xml": (302, "/moved"), "/moved": (301, "/final")},
            "https://blog.example/final",
            None,
        ),
        ({"/feed.xml": (307, "/t")}, "https://blog.example/t", None),
    ],
    ids=["permanent-chain", "permanent-then-temporary", "temporary-then-permanent", "temporary"],
)
def test_redirects_are_followed(chain, final, permanent):
    result = fetch(redirects(chain))
    assert (result.url, result.body, result.permanent_redirect) == (final, FEED, permanent)


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "ftp://blog.example/feed",
        "javascript:alert(1)",
        "gopher://x/",
        "http://[::1/feed",
        "http:///no-host",
        "http://xn--a.com/feed",
        "http://a..b/feed",
    ],
    ids=[
        "file",
        "ftp",
        "javascript",
        "gopher",
        "unparseable",
        "no-host",
        "bad-idna",
        "empty-label",
    ],
)
def test_redirect_to_other_scheme_is_refused(location):
    error = fetch_error(redirects({"/feed.xml": (302, location)}))
    assert error.kind == "bad_scheme"
    assert error.url == URL


def test_a_cookie_set_on_a_redirect_goes_with_the_next_hop_of_that_fetch_only():
    """A host that sends feeds through a consent hop (Set-Cookie, then back) is
    followed as a browser would; the cookie never reaches another feed's fetch."""
    seen: list[str | None] = []

    def handler(request):
        seen.append(request.headers.get("cookie"))
        if request.url.path == "/consent":
            return httpx.Response(302, headers={"Location": "/feed.xml", "Set-Cookie": "ok=1"})
        if request.headers.get("cookie") != "ok=1":
            return httpx.Response(302, headers={"Location": "/consent"})
        return httpx.Response(200, content=FEED)

    async def go():
        async with make_client(LIMITS, httpx.MockTransport(handler)) as client:
            first = await fetch_feed(client, URL, LIMITS)
            second = await fetch_feed(client, URL, LIMITS)
            return first, second

    first, second = asyncio.run(go())
    assert first.body == second.body == FEED
    # each fetch starts without cookies: feed, consent, feed again with the cookie
    assert seen == [None, None, "ok=1", None, None, "ok=1"]


def test_a_validator_that_is_not_ascii_is_left_out_not_an_error():
    """A server's latin-1 ETag cannot be sent back; the feed is fetched without it."""
    sent: list[dict[str, str]] = []

    def handler(request):
        sent.append(dict(request.headers))
        return httpx.Response(200, content=FEED, headers={"ETag": '"new"'})

    result = fetch(handler, etag='"caf\u00e9"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert result.body == FEED
    assert "if-none-match" not in sent[0]
    assert sent[0]["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_requests_carry_the_headers_in_the_order_the_client_always_sent_them():
    sent: list[list[str]] = []

    def handler(request):
        sent.append([name.decode() for name, _ in request.headers.raw])
        return httpx.Response(304)

    fetch(handler, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert sent == [
        ["Host", "Connection", "User-Agent", "Accept", "Accept-Encoding",
         "If-None-Match", "If-Modified-Since"]
    ]  # fmt: skip


def test_feed_url_must_be_http():
    assert fetch_error(answer(), url="file:///etc/passwd").kind == "bad_scheme"


def test_redirect_loop_is_cut():
    error = fetch_error(redirects({"/feed.xml": (302, "/feed.xml")}))
    assert (error.kind, error.message) == ("too_many_redirects", "more than 5 redirects")


@pytest.mark.parametrize(("hops", "ok"), [(5, True), (6, False)], ids=["at-limit", "over-limit"])
def test_redirect_limit_counts_hops(hops, ok):
    chain = {f"/{i}": (302, f"/{i + 1}") for i in range(hops)}
    if ok:
        assert fetch(redirects(chain), url="https://blog.example/0").body == FEED
    else:
        assert fetch_error(redirects(chain), url="https://blog.example/0").kind == (
            "too_many_redirects"
        )


# --- HTTP errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (404, "http_status", "server answered 404 Not Found: check the feed URL"),
        (500, "http_status", "server answered 500 Internal Server Error"),
        (
            410,
            "gone",
            "server answered 410 Gone: the feed has been removed; it will not be checked again",
        ),
        (300, "http_status", "server answered 300 Multiple Choices without a Location"),
    ],
    ids=["not-found", "server-error", "gone", "redirect-without-location"],
)
def test_error_statuses(status, kind, message):
    error = fetch_error(answer(status, b"nope"))
    assert (error.kind, error.message, error.http_status) == (kind, message, status)
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (429, {"Retry-After": "120"}, "120"),
        (503, {"Retry-After": "Mon, 23 Nov 2026 15:00:00 GMT"}, "Mon, 23 Nov 2026 15:00:00 GMT"),
        (500, {}, None),
    ],
    ids=["429-seconds", "503-http-date", "500-without-header"],
)
def test_retry_after_header_is_kept_on_the_error(status, headers, retry_after):
    """The raw header, for the scheduler to parse; None (not missing) without one."""
    error = fetch_error(answer(status, b"", **headers))
    assert (error.kind, error.http_status) == ("http_status", status)
    assert error.retry_after == retry_after


# --- Content-Encoding and size caps ---------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzipped),
        ("x-gzip", gzipped),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),
        ("identity", lambda data: data),
        ("GZIP, identity", gzipped),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity", "gzip-plus-identity"],
)
def test_compressed_body_is_decoded(encoding, encode):
    wire = encode(FEED * 10)
    result = fetch(answer(200, wire, **{"Content-Encoding": encoding}))
    assert result.body == FEED * 10
    assert result.bytes_received == len(wire)


def test_deflate_arriving_one_byte_at_a_time_is_decoded():
    wire = zlib.compress(FEED)

    async def drip():
        for i in range(len(wire)):
            yield wire[i : i + 1]

    result = fetch(
        lambda r: httpx.Response(200, content=drip(), headers={"Content-Encoding": "deflate"})
    )
    assert result.body == FEED


@pytest.mark.parametrize(
    ("encoding", "wire"),
    [
        ("gzip, gzip", gzipped(gzipped(FEED))),
        ("br", b"\x0b\x02\x80hello\x03"),
        ("compress", b"\x1f\x9d"),
        ("gzip", b"\x1f\x8b\x08\x00corrupt-after-the-magic" * 4),
        ("gzip", gzipped(FEED)[:-12]),
        ("deflate", b"\x78\x9c\xff\xff\xff"),
    ],
    ids=["stacked", "brotli", "compress", "corrupt-gzip", "truncated-gzip", "corrupt-deflate"],
)
def test_bad_encoding(encoding, wire):
    error = fetch_error(answer(200, wire, **{"Content-Encoding": encoding}))
    assert error.kind == "bad_encoding"


SMALL = FetchLimits(max_body_bytes=1_000)


def test_body_over_cap_with_content_length_is_refused_before_reading():
    chunks_sent = []

    async def body():
        for _ in range(10):
            chunks_sent.append(1)
            yield b"x" * 1_000

    def handler(request):
        return httpx.Response(200, content=body(), headers={"Content-Length": "10000"})

    error = fetch_error(handler, limits=SMALL)
    assert (error.kind, error.message) == ("too_large", "feed is larger than 1 kB (limit)")
    assert chunks_sent == []


def test_body_over_cap_without_content_length_is_cut():
    async def endless():
        for _ in range(1_000):
            yield b"x" * 100

    error = fetch_error(lambda r: httpx.Response(200, content=endless()), limits=SMALL)
    assert error.kind == "too_large"


def test_body_exactly_at_cap_is_accepted():
    assert fetch(answer(200, b"x" * 1_000), limits=SMALL).body == b"x" * 1_000


def test_gzip_bomb_is_refused_with_bounded_memory():
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(50)) + packer.flush()
    del zeros
    assert len(bomb) < 200_000
    limits = FetchLimits(max_body_bytes=5_000_000)
    tracemalloc.start()
    try:
        error = fetch_error(answer(200, bomb, **{"Content-Encoding": "gzip"}), limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (error.kind, error.message) == ("too_large", "feed is larger than 5 MB (limit)")
    assert peak < 30_000_000


# --- Transport failures ---------------------------------------------------------------


def _raising(exc: Exception):
    def handler(request):
        raise exc

    return handler


def _chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (httpx.ConnectTimeout("t"), "timeout", "blog.example did not accept within 5 s"),
        (httpx.ReadTimeout("t"), "timeout", "blog.example sent nothing for 10 s"),
        (httpx.PoolTimeout("t"), "timeout", "timed out talking to blog.example"),
        (
            _chained(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
            "dns",
            "could not find the server blog.example: check the URL",
        ),
        (
            _chained(httpx.ConnectError("x"), ssl.SSLError(1, "[SSL] wrong version")),
            "tls",
            None,
        ),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "network",
            "could not connect to blog.example: [Errno 111] Connection refused",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected\nwithout sending a response."),
            "network",
            "connection to blog.example failed: Server disconnected without sending a response.",
        ),
        (httpx.ReadError("connection reset"), "network", None),
    ],
    ids=[
        "connect-timeout",
        "read-timeout",
        "pool-timeout",
        "dns",
        "tls",
        "refused",
        "protocol",
        "reset",
    ],
)
def test_transport_errors_become_fetch_errors(exc, kind, message):
    error = fetch_error(_raising(exc))
    assert error.kind == kind
    if message is not None:
        assert error.message == message
    assert error.__cause__ is exc


def test_unexpected_exception_is_a_bug_and_propagates():
    with pytest.raises(ZeroDivisionError):
        fetch(_raising(ZeroDivisionError()))


# --- Helpers --------------------------------------------------------------------------


def test_a_contact_url_that_is_not_ascii_is_percent_encoded_in_the_user_agent():
    agent = user_agent("1.2", "https://café.example/contact us")
    assert (
        agent
        == "Voice/1.2 (+https://caf%C3%A9.example/contact%20us; LocalGov Digital blog aggregator)"
    )
    fetch(answer(), limits=FetchLimits(user_agent=agent))  # sendable: no UnicodeEncodeError


def test_limits_from_settings():
    limits = limits_from_settings(
        Settings(fetch_deadline=12, max_body_bytes=99, contact_url="https://x.example"), "1.2"
    )
    assert limits.deadline == 12
    assert limits.max_body_bytes == 99
    assert limits.allow_private_hosts is False
    assert limits.user_agent == "Voice/1.2 (+https://x.example; LocalGov Digital blog aggregator)"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Blog.Example/feed", "blog.example"),
        ("https://blog.example:443/feed", "blog.example"),
        ("http://blog.example:8080/feed", "blog.example:8080"),
        ("https://carlhaggerty.wordpress.com/feed/", "wordpress.com"),
        ("https://philrumens.blogspot.com/feeds/posts/default", "blogspot.com"),
        ("https://mhclgdigital.blog.gov.uk/feed/", "blog.gov.uk"),
        ("https://blogs.hackney.gov.uk/hackit/feed/", "hackney.gov.uk"),
        ("https://www.danslee.co.uk/feed/", "danslee.co.uk"),
        ("http://127.0.0.1:8001/a.rss", "127.0.0.1:8001"),
        ("http://[::1]:8001/a.rss", "::1:8001"),
    ],
    ids=[
        "lowercased",
        "default-port",
        "explicit-port",
        "wordpress-platform",
        "blogger-platform",
        "gov-uk-blogs",
        "council-under-gov-uk",
        "co-uk",
        "ip-keeps-port",
        "ipv6",
    ],
)
def test_host_key(url, key):
    assert host_key(url) == key


# --- Guarded network backend ----------------------------------------------------------


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the real network: records where we connect and the TLS name."""

    def __init__(self):
        self.connected = []
        self.server_hostname = None

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append(host)
        backend = self

        class Stream(httpcore.AsyncNetworkStream):
            async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
                backend.server_hostname = server_hostname
                cause = ssl.SSLCertVerificationError(1, "verify failed")
                cause.verify_message = "self-signed certificate"
                try:  # raised the way httpcore's map_exceptions does
                    raise cause
                except ssl.SSLError as exc:
                    raise httpcore.ConnectError(str(exc)) from exc

            async def aclose(self):
                pass

        return Stream()


def _fake_dns(monkeypatch, addresses):
    async def resolve(host, port, timeout):
        return addresses

    monkeypatch.setattr(guard_module, "_resolve", resolve)


def test_guard_connects_only_to_allowed_addresses_and_keeps_tls_name(monkeypatch):
    _fake_dns(monkeypatch, ["127.0.0.1", "10.0.0.7", "93.184.216.34"])
    inner = RecordingBackend()

    async def go():
        client = make_client(LIMITS, GuardedTransport(backend=inner))
        async with client:
            return await fetch_feed(client, URL, LIMITS)

    with pytest.raises(FetchError) as info:
        asyncio.run(go())
    assert inner.connected == ["93.184.216.34"]
    assert inner.server_hostname == "blog.example"
    assert info.value.kind == "tls"
    assert info.value.message == "secure connection to blog.example failed: self-signed certificate"


def test_guard_refuses_when_every_address_is_blocked(monkeypatch):
    _fake_dns(monkeypatch, ["10.0.0.7", "fd00::1"])
    inner = RecordingBackend()

    async def go():
        return await GuardedBackend(inner).connect_tcp("intranet.example", 80)

    with pytest.raises(guard_module.BlockedAddressError) as info:
        asyncio.run(go())
    assert inner.connected == []
    assert str(info.value) == (
        "refused to connect to intranet.example (10.0.0.7): private or reserved address"
    )


def test_canary_httpx_still_keeps_nothing_but_the_pool_we_replace():
    """PoolTransport skips httpx's __init__, which only sets `_pool` in httpx 0.28."""
    assert set(vars(httpx.AsyncHTTPTransport())) == {"_pool"}
    assert isinstance(GuardedTransport()._pool._network_backend, GuardedBackend)


# --- Real sockets on 127.0.0.1 --------------------------------------------------------


class FeedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *args):
        pass


class FeedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.requests = []
        self.connections = 0

    def verify_request(self, request, client_address):
        self.connections += 1
        return True


def serving(server):
    """Run `server` on a thread; stop it when the test is done."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def feed_server():
    yield from serving(FeedServer())


def real_fetch(url, limits):
    async def go():
        async with make_client(limits) as client:
            return await fetch_feed(client, url, limits)

    return asyncio.run(go())


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.1", "017700000001", "localhost"], ids=str
)
def test_guarded_client_refuses_loopback_without_connecting(feed_server, host):
    port = feed_server.server_address[1]
    with pytest.raises(FetchError) as info:
        real_fetch(f"http://{host}:{port}/feed", FetchLimits())
    assert info.value.kind == "blocked_address"
    assert info.value.message.startswith(f"refused to connect to {host} (")
    assert "private or reserved address" in info.value.message
    assert feed_server.connections == 0
    assert feed_server.requests == []


def test_guarded_client_refuses_a_redirect_to_loopback(feed_server):
    port = feed_server.server_address[1]

    async def go():
        limits = FetchLimits()
        outer = httpx.MockTransport(
            lambda r: httpx.Response(302, headers={"Location": f"http://127.0.0.1:{port}/"})
        )
        guarded = GuardedTransport()

        class Routed(httpx.AsyncBaseTransport):
            """blog.example answers from `outer`; every other host goes through the guard."""

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                inner = outer if request.url.host == "blog.example" else guarded
                return await inner.handle_async_request(request)

            async def aclose(self) -> None:
                await outer.aclose()
                await guarded.aclose()

        async with make_client(limits, Routed()) as client:
            return await fetch_feed(client, URL, limits)

    with pytest.raises(FetchError) as info:
        asyncio.run(go())
    assert info.value.kind == "blocked_address"
    assert feed_server.connections == 0


def test_private_hosts_allowed_when_configured(feed_server):
    port = feed_server.server_address[1]
    result = real_fetch(f"http://127.0.0.1:{port}/feed", FetchLimits(allow_private_hosts=True))
    assert (result.status, result.body) == (200, FEED)
    assert feed_server.requests == ["/feed"]


TLS_DATA = Path(__file__).parent / "data" / "tls"


@pytest.fixture
def tls_server():
    """feed_server's handler over https, with a certificate no authority signed."""
    server = FeedServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS_DATA / "cert.pem", TLS_DATA / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from serving(server)


@pytest.mark.parametrize("allow_private", [False, True], ids=["guarded", "plain"])
def test_certificates_are_loaded_at_the_first_https_connection_and_verified(
    tls_server, feed_server, monkeypatch, allow_private
):
    """http needs no TLS context; https builds one, once, and it refuses a self-signed
    certificate (the guarded variant is told 127.0.0.1 is a public address)."""
    if not allow_private:
        _fake_dns(monkeypatch, ["127.0.0.1"])
        monkeypatch.setattr(guard_module, "blocked_reason", lambda ip: None)
    limits = FetchLimits(allow_private_hosts=allow_private)
    tls_port, plain_port = tls_server.server_address[1], feed_server.server_address[1]

    async def go():
        async with make_client(limits) as client:
            pool = client.transport._pool
            plain = await fetch_feed(client, f"http://localhost:{plain_port}/feed", limits)
            before = pool._ssl_context
            failures = []
            for _ in range(2):
                with pytest.raises(FetchError) as info:
                    await fetch_feed(client, f"https://localhost:{tls_port}/feed", limits)
                failures.append((info.value, pool._ssl_context))
            return plain, before, failures

    plain, before, failures = asyncio.run(go())
    assert (plain.status, plain.body, before) == (200, FEED, None)
    (first, context), (second, again) = failures
    assert first.kind == second.kind == "tls"
    assert first.message == "secure connection to localhost failed: self-signed certificate"
    assert isinstance(context, ssl.SSLContext) and again is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert tls_server.requests == []


class NoNamesLoop(asyncio.SelectorEventLoop):
    """An event loop whose resolver knows no names, answering as a resolver
    does for a `.invalid` name; both the guarded backend and httpx's own look
    names up through the running loop, so this machine's DNS is never asked."""

    def __init__(self):
        super().__init__()
        self.asked = []

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        self.asked.append(host.decode() if isinstance(host, bytes) else host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("allow_private", [False, True], ids=["guarded", "plain"])
def test_unknown_host_is_a_dns_error(allow_private):
    limits = FetchLimits(allow_private_hosts=allow_private)

    async def go():
        async with make_client(limits) as client:
            return await fetch_feed(client, "http://no-such-host.invalid/feed", limits)

    with asyncio.Runner(loop_factory=NoNamesLoop) as runner:
        with pytest.raises(FetchError) as info:
            runner.run(go())
        assert runner.get_loop().asked == ["no-such-host.invalid"]
    assert (info.value.kind, info.value.message) == (
        "dns",
        "could not find the server no-such-host.invalid: check the URL",
    )


class RawServer:
    """Accepts connections and misbehaves: 'drip' sends headers then a byte every
    0.2 s; 'silent' sends nothing. Every loop is bounded and stops on close()."""

    DRIP_SECONDS = 60  # 300 bytes, one every 0.2 s
    SILENT_SECONDS = 30

    def __init__(self, mode):
        self.mode = mode
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn):
        with conn:
            if self.mode == "drip":
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                for _ in range(int(self.DRIP_SECONDS / 0.2)):
                    if self.stop.wait(0.2):
                        return
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        return
            else:
                self.stop.wait(self.SILENT_SECONDS)

    def close(self):
        self.stop.set()
        self.sock.close()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def raw_server(request):
    server = RawServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("raw_server", ["drip"], indirect=True)
def test_dripping_server_is_cut_at_the_deadline(raw_server):
    # A byte every 0.2 s never lets the read timeout fire; only the deadline can.
    limits = FetchLimits(deadline=1.5, read_timeout=60, allow_private_hosts=True)
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        real_fetch(f"http://127.0.0.1:{raw_server.port}/feed", limits)
    elapsed = time.monotonic() - started
    assert (info.value.kind, info.value.message) == ("timeout", "no complete answer within 1.5 s")
    # cut at the deadline, not before, and long before the drip would have ended
    assert limits.deadline <= elapsed < RawServer.DRIP_SECONDS / 2


@pytest.mark.parametrize("raw_server", ["silent"], indirect=True)
def test_silent_server_times_out(raw_server):
    limits = FetchLimits(deadline=60, read_timeout=0.5, allow_private_hosts=True)
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        real_fetch(f"http://127.0.0.1:{raw_server.port}/feed", limits)
    elapsed = time.monotonic() - started
    assert (info.value.kind, info.value.message) == ("timeout", "127.0.0.1 sent nothing for 0.5 s")
    # the read timeout, not the deadline, ended it, long before the server would have hung up
    assert limits.read_timeout <= elapsed < RawServer.SILENT_SECONDS / 2
