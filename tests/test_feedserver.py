"""The test feed server: files, conditional GET, gzip and special routes."""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.support.feedserver import (
    Drip,
    FeedServer,
    Redirect,
    Status,
    gzip_bomb,
    http_date,
    main,
)

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
MTIME = 1_416_000_000  # Fri, 14 Nov 2014 21:20:00 GMT


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    (tmp_path / "blog.rss").write_bytes(FEED)
    os.utime(tmp_path / "blog.rss", (MTIME, MTIME))
    (tmp_path / "blog.atom").write_bytes(b"<feed/>")
    (tmp_path / "blog.rdf").write_bytes(b"<rdf/>")
    (tmp_path / "blog.xml").write_bytes(b"<x/>")
    return tmp_path


@pytest.fixture
def server(feeds: Path):
    with FeedServer(feeds) as running:
        yield running


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def test_file_is_served_with_validators(server: FeedServer, client: httpx.Client) -> None:
    response = client.get(server.url("/blog.rss"))
    assert response.status_code == 200
    assert response.content == FEED
    assert response.headers["content-type"] == "application/rss+xml"
    assert response.headers["etag"] == '"' + hashlib.sha1(FEED).hexdigest() + '"'
    assert response.headers["last-modified"] == "Fri, 14 Nov 2014 21:20:00 GMT"
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("blog.rss", "application/rss+xml"),
        ("blog.atom", "application/atom+xml"),
        ("blog.rdf", "application/rdf+xml"),
        ("blog.xml", "application/xml"),
    ],
)
def test_content_type_follows_extension(
    server: FeedServer, client: httpx.Client, name: str, content_type: str
) -> None:
    assert client.get(server.url(name)).headers["content-type"] == content_type


def test_base_url_is_loopback(server: FeedServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert server.url("a.rss") == server.url("/a.rss") == server.base_url + "/a.rss"


def test_missing_file_and_escape_attempts_are_404(server: FeedServer, client: httpx.Client) -> None:
    assert client.get(server.url("/nope.rss")).status_code == 404
    assert client.get(server.url("/")).status_code == 404
    assert client.get(server.url("/%2e%2e/%2e%2e/etc/passwd")).status_code == 404


def test_if_none_match_gets_304(server: FeedServer, client: httpx.Client) -> None:
    etag = client.get(server.url("/blog.rss")).headers["etag"]
    response = client.get(server.url("/blog.rss"), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


def test_if_none_match_with_old_etag_gets_the_new_file(
    server: FeedServer, client: httpx.Client, feeds: Path
) -> None:
    etag = client.get(server.url("/blog.rss")).headers["etag"]
    (feeds / "blog.rss").write_bytes(FEED.replace(b"<title>T", b"<title>Changed"))
    response = client.get(server.url("/blog.rss"), headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert b"Changed" in response.content
    assert response.headers["etag"] != etag


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("same time", 304),
        ("an hour later", 304),
        ("an hour earlier", 200),
        ("not a date", 200),
    ],
)
def test_if_modified_since(
    server: FeedServer, client: httpx.Client, since: str, status: int
) -> None:
    value = {
        "same time": http_date(MTIME),
        "an hour later": http_date(MTIME + 3600),
        "an hour earlier": http_date(MTIME - 3600),
        "not a date": "yesterday-ish",
    }[since]
    response = client.get(server.url("/blog.rss"), headers={"If-Modified-Since": value})
    assert response.status_code == status


def test_if_none_match_wins_over_if_modified_since(
    server: FeedServer, client: httpx.Client
) -> None:
    response = client.get(
        server.url("/blog.rss"),
        headers={"If-None-Match": '"stale"', "If-Modified-Since": http_date(MTIME + 3600)},
    )
    assert response.status_code == 200


def test_gzip_when_asked(feeds: Path, client: httpx.Client) -> None:
    with FeedServer(feeds, gzip=True) as server:
        zipped = client.get(server.url("/blog.rss"), headers={"Accept-Encoding": "gzip"})
        plain = client.get(server.url("/blog.rss"), headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == FEED  # httpx decoded it
    assert int(zipped.headers["content-length"]) == len(gzip.compress(FEED, mtime=0))
    assert "content-encoding" not in plain.headers
    assert plain.content == FEED


def test_no_gzip_unless_enabled(server: FeedServer, client: httpx.Client) -> None:
    response = client.get(server.url("/blog.rss"), headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers


def test_redirect_route(server: FeedServer, client: httpx.Client) -> None:
    server.route("/old.rss", Redirect("/blog.rss"))
    response = client.get(server.url("/old.rss"))
    assert response.status_code == 301
    assert response.headers["location"] == "/blog.rss"
    followed = client.get(server.url("/old.rss"), follow_redirects=True)
    assert followed.status_code == 200
    assert followed.content == FEED


def test_status_route_overrides_the_file(server: FeedServer, client: httpx.Client) -> None:
    server.route("/blog.rss", Status(503, b"busy", {"Retry-After": "120"}))
    response = client.get(server.url("/blog.rss"))
    assert response.status_code == 503
    assert response.content == b"busy"
    assert response.headers["retry-after"] == "120"
    server.route("/blog.rss", None)
    assert client.get(server.url("/blog.rss")).status_code == 200


def test_function_route_chooses_per_request(server: FeedServer, client: httpx.Client) -> None:
    calls: list[str] = []

    def fail_once(request):
        calls.append(request.path)
        return Status(500) if len(calls) == 1 else None

    server.route("/blog.rss", fail_once)
    assert client.get(server.url("/blog.rss")).status_code == 500
    assert client.get(server.url("/blog.rss")).status_code == 200


def test_raw_route_sends_exact_bytes(server: FeedServer) -> None:
    bomb = gzip_bomb(decompressed_bytes=5_000_000)
    server.route("/bomb.rss", bomb)
    with httpx.Client(timeout=5) as c, c.stream("GET", server.url("/bomb.rss")) as response:
        wire = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert wire == bomb.body
    assert len(wire) < 50_000
    assert len(gzip.decompress(wire)) == 5_000_000


def test_drip_sends_slowly_and_stops(server: FeedServer) -> None:
    drip = Drip(b"<rss>", interval_s=0.05, max_seconds=0.5)
    server.route("/slow.rss", drip)
    started = time.monotonic()
    with httpx.Client(timeout=60) as c:
        response = c.get(server.url("/slow.rss"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.content.startswith(b"<rss>")
    dripped = response.content.removeprefix(b"<rss>")
    # A byte per interval, stopped at max_seconds: a slow machine only sends fewer.
    assert dripped == b" " * len(dripped)
    assert 1 <= len(dripped) <= drip.max_seconds / drip.interval_s
    assert elapsed >= drip.max_seconds  # the body lasted the whole drip


def test_stop_ends_a_drip_in_progress(feeds: Path) -> None:
    server = FeedServer(feeds).start()
    drip = Drip(b"<rss>", interval_s=0.05, max_seconds=60)
    server.route("/slow.rss", drip)
    with httpx.Client(timeout=60) as c, c.stream("GET", server.url("/slow.rss")) as response:
        chunks = response.iter_raw()
        first = next(chunks)
        started = time.monotonic()
        server.stop()
        rest = b"".join(chunks)
    assert first.startswith(b"<")
    # Ended by the stop, long before the drip would have run out on its own.
    assert time.monotonic() - started < drip.max_seconds / 2
    assert len(rest) < drip.max_seconds / drip.interval_s / 2


def test_requests_are_logged(server: FeedServer, client: httpx.Client) -> None:
    client.get(server.url("/blog.rss"), headers={"If-None-Match": '"x"'})
    client.head(server.url("/blog.atom?cache=1"))
    client.get(server.url("/missing.rss"))
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/blog.rss"),
        ("HEAD", "/blog.atom"),
        ("GET", "/missing.rss"),
    ]
    method, path, headers = server.requests[0]
    assert headers["if-none-match"] == '"x"'
    assert "user-agent" in headers
    assert len(server.requests_for("/blog.rss")) == 1
    server.clear_requests()
    assert server.requests == []


def test_stop_closes_the_socket(feeds: Path) -> None:
    server = FeedServer(feeds).start()
    url = server.url("/blog.rss")
    server.stop()
    server.stop()  # a second stop is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_main_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope")])
