"""Faults and attacks: one hostile feed next to two healthy ones in one cycle.

Each case first stores three posts from a good fetch of the hostile URL, then
serves something bad from that URL while two demo feeds are fetched in the
same cycle, with small limits (2 s deadline, 1 s read timeout, 1 MB body).
Every case asserts the same contract: the cycle ends well before an answer
that never finishes would (HOSTILE_SECONDS), the healthy feeds are ok with
their posts, the hostile feed is ok or has the expected error kind and a
one-line reason, the posts stored earlier are unchanged, no canary file
content was stored and the probe port saw no connection. Cases where memory
is at stake also bound the tracemalloc peak. Big and binary bodies are built
here at run time; small ones are files in tests/data/hostile/.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import socket
import sqlite3
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpcore
import pytest

from aggregator.fetching.guard import GuardedTransport
from aggregator.parsing.pool import ParsePool
from aggregator.update import UpdateResult, update_feeds
from tests.support.feedserver import Drip, FeedServer, Handler, Raw, Redirect, Status, gzip_bomb

from .conftest import DATA, DEMO_FEEDS, registry_for

HOSTILE = DATA / "hostile"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = {"fetch_deadline": 2.0, "read_timeout": 1.0, "max_body_bytes": 1_000_000}
# How long the answers that never finish go on; the cycle must end well before.
HOSTILE_SECONDS = 60.0
HEALTHY = {"philrumens.atom": 7, "localgov-digital.rss": 1}  # file -> posts it holds
RSS = {"Content-Type": "application/rss+xml"}
CANARY = "CANARY-7f3a9c-never-store-me"
# Active content that must not reach stored HTML or titles (searched case-insensitively).
ACTIVE = ("<script", "javascript:", "data:", " on", "<svg", "<form", "<iframe", "<style")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
IMG_SRC = re.compile(r'<img [^>]*src="([^"]*)"')


# -- a bare TCP server, for answers no HTTP server library will give ------------------


Script = Callable[[socket.socket], None]


@dataclass(frozen=True)
class RawScript:
    """A case served by RawServer: `script` gets each accepted connection."""

    script: Script


class RawServer:
    """Accept connections on 127.0.0.1 and hand each to the current script in a thread."""

    def __init__(self) -> None:
        self.script: Script = lambda conn: None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/{path.lstrip('/')}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn, self.script), daemon=True).start()

    def _handle(self, conn: socket.socket, script: Script) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            script(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65_536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def _reset(conn: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _head(extra: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n{extra}\r\n".encode()


def answer(body: bytes) -> Script:
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(_head(f"Content-Length: {len(body)}\r\nConnection: close\r\n") + body)

    return script


def reset_before_response(conn: socket.socket) -> None:
    _read_request(conn)
    _reset(conn)


def reset_mid_body(conn: socket.socket) -> None:
    _read_request(conn)
    body = fixture("seed.rss")
    conn.sendall(_head(f"Content-Length: {len(body)}\r\n") + body[: len(body) // 2])
    time.sleep(0.1)
    _reset(conn)


def endless_chunks(conn: socket.socket) -> None:
    """Chunked transfer encoding, no Content-Length, never a last chunk."""
    _read_request(conn)
    conn.sendall(_head("Transfer-Encoding: chunked\r\n"))
    piece = b"<item><title>more</title></item>" * 2048
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    deadline = time.monotonic() + HOSTILE_SECONDS
    while time.monotonic() < deadline:
        conn.sendall(chunk)


# -- the scene: servers, probe, canary ------------------------------------------------


@dataclass
class Scene:
    tmp: Path
    server: FeedServer
    raw: RawServer
    probe: socket.socket  # listening, never accepting: a connection would wait in its backlog
    canary: Path
    current: list[Handler] = field(default_factory=list)

    @property
    def probe_port(self) -> int:
        return self.probe.getsockname()[1]

    def probe_was_contacted(self) -> bool:
        try:
            conn, _ = self.probe.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    site = tmp_path / "site"
    shutil.copytree(DEMO_FEEDS, site)
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY + "\n", encoding="utf-8")
    probe = socket.create_server(("127.0.0.1", 0), backlog=8)
    probe.setblocking(False)
    raw = RawServer()
    try:
        with FeedServer(site) as server:
            scene = Scene(tmp_path, server, raw, probe, canary)
            server.route("hostile.xml", lambda request: scene.current[-1])
            yield scene
    finally:
        raw.close()
        probe.close()


def fixture(name: str) -> bytes:
    return (HOSTILE / name).read_bytes()


def valid_text(encoding: str = "utf-8") -> str:
    return (HOSTILE / "valid.rss").read_text(encoding="utf-8").replace("{encoding}", encoding)


def rows(db: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def snapshot(db: Path) -> list[tuple]:
    return [tuple(r) for r in rows(db, "SELECT id, title, raw_hash FROM posts ORDER BY id")]


def cycle(db: Path, pool: ParsePool, urls: list[str], **kw: object) -> UpdateResult:
    settings = kw.pop("settings", {})
    registry = registry_for(*urls, **{**LIMITS, **settings})  # type: ignore[arg-type]
    return update_feeds(registry, db, due_only=False, clock=lambda: NOW, pool=pool, **kw)


# -- the contract every case must meet ------------------------------------------------


def assert_contained(
    db: Path,
    result: UpdateResult,
    hostile_url: str,
    healthy_urls: list[str],
    kind: str | None,
    before: list[tuple],
) -> sqlite3.Row:
    """The contract of the module docstring; returns the hostile feed's row."""
    outcomes = {f.url: f for f in result.feeds}
    assert set(outcomes) == {hostile_url, *healthy_urls}
    for url in healthy_urls:
        assert (outcomes[url].outcome, outcomes[url].error_kind) == ("ok", None), outcomes[url]
        (count,) = rows(
            db,
            "SELECT count(*) FROM posts JOIN feeds ON feeds.id = feed_id WHERE feeds.url = ?",
            url,
        )[0]
        assert count == HEALTHY[url.rsplit("/", 1)[1]]
    (feed,) = rows(db, "SELECT * FROM feeds WHERE url = ?", hostile_url)
    got = outcomes[hostile_url]
    if kind is None:
        assert (got.outcome, feed["status"], feed["error_kind"]) == ("ok", "ok", None), got
    else:
        assert (got.outcome, feed["status"], feed["error_kind"]) == ("error", "error", kind), got
        assert feed["last_error"] and "\n" not in feed["last_error"]
        assert len(feed["last_error"]) <= 300
    before_ids = {row[0] for row in before}
    assert [r for r in snapshot(db) if r[0] in before_ids] == before  # nothing lost or changed
    for post in rows(db, "SELECT * FROM posts"):
        for column in ("title", "text", "summary_html", "content_html", "url", "guid"):
            value = post[column] or ""
            assert not CONTROL.search(value), (column, value[:200])
            assert CANARY not in value
    return feed


# -- the cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile answer and what the hostile feed should end as."""

    serve: Callable[[Scene], Handler | RawScript]
    kind: str | None = None  # expected error_kind; None: the feed is ok
    http_status: int | None = None  # expected in the fetch log
    settings: dict[str, object] = field(default_factory=dict)
    check: Callable[[Scene, list[sqlite3.Row], sqlite3.Row], None] | None = None
    max_peak_mb: float | None = None  # tracemalloc peak while the cycle runs


def valid_rss(content_type: str | None) -> Callable[[Scene], Handler]:
    headers = {"Content-Type": content_type} if content_type else {}
    return lambda s: Raw(valid_text().encode("utf-8"), headers)


def encoded(encoding: str, declared: str, prefix: bytes = b"") -> Callable[[Scene], Handler]:
    return lambda s: Raw(prefix + valid_text(declared).encode(encoding), RSS)


def mixed_encodings(s: Scene) -> Handler:
    body = valid_text().encode("utf-8").replace(b"Plain words", "Naïve words".encode("latin-1"))
    return Raw(body, RSS)


def with_nul_bytes(s: Scene) -> Handler:
    body = valid_text().encode("utf-8").replace(b"Second new", b"Sec\x00ond\x00 new")
    return Raw(body, RSS)


def truncated(s: Scene) -> Handler:
    body = valid_text().encode("utf-8")
    return Raw(body[: body.index(b"<guid>valid-2")], RSS)


def stacked_gzip(s: Scene) -> Handler:
    body = gzip.compress(gzip.compress(valid_text().encode("utf-8")))
    return Raw(body, {**RSS, "Content-Encoding": "gzip, gzip"})


def quadratic_blowup(s: Scene) -> Handler:
    entity = "a" * 50_000
    refs = "&a;" * 10_000
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "{entity}">]>\n'
        f'<rss version="2.0"><channel><title>q</title><item><title>{refs}</title>'
        f"<description>{refs}</description></item></channel></rss>"
    )
    return Raw(body.encode("ascii"), RSS)


def external_entity(s: Scene) -> Handler:
    body = fixture("external-entity.xml").replace(b"{canary}", str(s.canary).encode())
    return Raw(body, RSS)


def external_entity_utf16(s: Scene) -> Handler:
    text = fixture("external-entity.xml").decode().replace("{canary}", str(s.canary))
    return Raw(text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16"), RSS)


def external_dtd(s: Scene) -> Handler:
    return Raw(fixture("external-dtd.xml").replace(b"{port}", str(s.probe_port).encode()), RSS)


def ten_thousand_entries(s: Scene) -> Handler:
    items = "".join(
        f"<item><guid>e{n}</guid><pubDate>{format_datetime(_minute(n), usegmt=True)}"
        "</pubDate></item>"
        for n in range(10_000)
    )
    body = f'<rss version="2.0"><channel><title>Many</title>{items}</channel></rss>'
    return Raw(body.encode("ascii"), RSS)


def _minute(n: int) -> datetime:
    return datetime.fromtimestamp(1_700_000_000 + 60 * n, UTC)


def huge_title(s: Scene) -> Handler:
    title = "Long title " * 100_000  # 1.1 MB
    body = (
        f'<rss version="2.0"><channel><title>t</title><item><guid>long-1</guid>'
        f"<title>{title}</title><description>short</description></item></channel></rss>"
    )
    return Raw(body.encode("ascii"), RSS)


def redirect_loop(s: Scene) -> Handler:
    s.server.route("loop-b.xml", Redirect("/hostile.xml", status=302))
    return Redirect("/loop-b.xml", status=302)


def retry_after(status: int, value: Callable[[], str]) -> Callable[[Scene], Handler]:
    return lambda s: Status(status, b"slow down\n", {"Retry-After": value()})


def in_two_minutes() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)


def sent(path: str, content_type: str = "application/rss+xml") -> Callable[[Scene], Handler]:
    return lambda s: Raw(fixture(path), {"Content-Type": content_type})


# -- per-case checks on the hostile feed's posts ----------------------------------------


def new_posts(posts: list[sqlite3.Row]) -> list[sqlite3.Row]:
    return [p for p in posts if not p["entry_key"].startswith("seed-")]


def check_valid_titles(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    titles = sorted(p["title"] for p in new_posts(posts))
    assert titles == ["Café culture in the council", "Second new post"]


def check_readable_titles(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    """Bytes that are not what the document says they are: stored, legibly."""
    titles = sorted(p["title"] for p in new_posts(posts))
    assert len(titles) == 2 and titles[0].startswith("Caf") and titles[1] == "Second new post"


def check_mixed(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    assert len(new_posts(posts)) == 2


def check_nul(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    assert "Second new post" in {p["title"] for p in new_posts(posts)}


def check_first_entry_kept(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    """The entry cut off part-way (here before its guid) is not stored under a
    second identity (its link); the complete one before it is."""
    assert [p["title"] for p in new_posts(posts)] == ["Café culture in the council"]
    assert (
        last_note(s, feed) == "the document ends early; ignored its last, possibly incomplete entry"
    )


def check_external_dtd(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    assert [p["title"] for p in new_posts(posts)] == ["A post under an external DTD"]


def last_note(s: Scene, feed: sqlite3.Row) -> str | None:
    (note,) = rows(
        s.tmp / "voice.db",
        "SELECT note FROM fetches WHERE feed_id = ? ORDER BY id DESC LIMIT 1",
        feed["id"],
    )[0]
    return note


def check_newest_500(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    assert {p["entry_key"] for p in new_posts(posts)} == {f"e{n}" for n in range(9_500, 10_000)}
    assert last_note(s, feed) == "kept the newest 500 of 10000 entries"


def check_huge_title(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    (post,) = new_posts(posts)
    assert post["title"].startswith("Long title Long title")
    assert len(post["title"]) == 1_000 and post["title"].endswith("…")  # a title, not a book
    assert last_note(s, feed) == "shortened 1 title longer than 1000 characters"


def check_dates(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    published = {p["entry_key"]: p["published"] for p in new_posts(posts)}
    assert published == {
        "date-future": "2026-11-23T12:00:00Z",  # clamped to the time of the fetch
        "date-1900": "1900-01-01T00:00:00Z",
        "date-garbage": "2026-11-23T12:00:00Z",  # no usable date: first seen
    }


def check_duplicates(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    titles = {p["entry_key"]: p["title"] for p in new_posts(posts)}
    assert titles == {"dup": "First with this guid", "unique": "A post of its own"}
    assert last_note(s, feed) == "ignored 2 repeated entries"


def check_no_identity(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    fresh = new_posts(posts)
    assert len(fresh) == 3
    assert all(p["entry_key"].startswith("sha256:") for p in fresh)
    assert all(p["published"] == "2026-11-23T12:00:00Z" for p in fresh)


def check_no_active_content(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    fresh = new_posts(posts)
    assert fresh
    for post in fresh:
        for column in ("title", "summary_html", "content_html", "url"):
            value = (post[column] or "").lower()
            found = [needle for needle in ACTIVE if needle in value]
            assert not found, (post["entry_key"], column, found, value)
    for column in ("title", "site_url"):
        value = (feed[column] or "").lower()
        assert not [needle for needle in ACTIVE if needle in value], (column, value)


def check_images_and_bidi(s: Scene, posts: list[sqlite3.Row], feed: sqlite3.Row) -> None:
    """Images load from the feed's own host only, whatever the feed claims as its
    links; bidi controls are gone from everything people read."""
    (post,) = new_posts(posts)
    own = s.server.url("own.png")
    html = post["summary_html"]
    assert IMG_SRC.findall(html) == [own, own], html
    for remote in ("http://10.0.0.5/x.png", "http://intranet/x.png", "https://evil.example/"):
        assert f'<a class="remote-image" href="{remote}' in html, (remote, html)
    assert "srcset" not in html and "<source" not in html
    assert (post["title"], post["author"]) == ("Title four gnp.exe", "Mallory Smith")
    assert "invoice fdp.exe and a mark in the body." in post["text"]
    for value in (post["title"], post["author"], post["text"], html):
        assert not BIDI.search(value), value


CASES = [
    # -- time: answers that never finish ------------------------------------------------
    pytest.param(
        Case(lambda s: Drip(b"<rss", interval_s=0.2, max_seconds=HOSTILE_SECONDS), "timeout"),
        id="slow-drip",
    ),
    pytest.param(
        Case(
            lambda s: Drip(b"", interval_s=HOSTILE_SECONDS, max_seconds=HOSTILE_SECONDS),
            "timeout",
        ),
        id="headers-then-silence",
    ),
    pytest.param(
        Case(lambda s: Raw(b"<rss", {**RSS, "Content-Length": "5000"}), "timeout"),
        id="shorter-than-content-length",
    ),
    pytest.param(
        Case(
            lambda s: Drip(
                b"<rss><channel>",
                interval_s=0,
                max_seconds=HOSTILE_SECONDS,
                byte=b"<p>x</p>" * 8192,
            ),
            "too_large",
            max_peak_mb=24,
        ),
        id="endless-body",
    ),
    pytest.param(
        Case(lambda s: RawScript(endless_chunks), "too_large", max_peak_mb=24),
        id="endless-chunked-body",
    ),
    # -- connections that break -----------------------------------------------------------
    pytest.param(Case(lambda s: RawScript(reset_before_response), "network"), id="reset-before"),
    pytest.param(Case(lambda s: RawScript(reset_mid_body), "network"), id="reset-mid-body"),
    # -- redirects --------------------------------------------------------------------------
    pytest.param(Case(redirect_loop, "too_many_redirects"), id="redirect-loop"),
    pytest.param(
        Case(lambda s: Redirect("/hostile.xml"), "too_many_redirects"), id="redirect-to-self"
    ),
    pytest.param(Case(lambda s: Redirect("file:///etc/passwd"), "bad_scheme"), id="to-file"),
    pytest.param(Case(lambda s: Redirect("ftp://127.0.0.1/feed"), "bad_scheme"), id="to-ftp"),
    pytest.param(
        Case(lambda s: Redirect("gopher://127.0.0.1:70/feed"), "bad_scheme"), id="to-gopher"
    ),
    # -- status codes ---------------------------------------------------------------------
    pytest.param(
        Case(retry_after(429, lambda: "120"), "http_status", 429), id="429-retry-after-seconds"
    ),
    pytest.param(
        Case(retry_after(429, in_two_minutes), "http_status", 429), id="429-retry-after-date"
    ),
    pytest.param(
        Case(retry_after(503, lambda: "120"), "http_status", 503), id="503-retry-after-seconds"
    ),
    pytest.param(
        Case(retry_after(503, in_two_minutes), "http_status", 503), id="503-retry-after-date"
    ),
    pytest.param(Case(lambda s: Status(500), "http_status", 500), id="500"),
    pytest.param(
        Case(
            lambda s: Status(403, fixture("bot-wall.html"), {"Content-Type": "text/html"}),
            "http_status",
            403,
        ),
        id="403-bot-wall",
    ),
    # -- odd but usable ---------------------------------------------------------------------
    pytest.param(
        Case(valid_rss("text/html; charset=utf-8"), check=check_valid_titles),
        id="wrong-content-type",
    ),
    pytest.param(Case(valid_rss(None), check=check_valid_titles), id="missing-content-type"),
    pytest.param(
        Case(encoded("latin-1", "iso-8859-1"), check=check_valid_titles),
        id="declared-iso-8859-1",
    ),
    pytest.param(
        Case(encoded("latin-1", "utf-8"), check=check_readable_titles),
        id="declared-utf8-sent-latin1",
    ),
    pytest.param(Case(mixed_encodings, check=check_mixed), id="mixed-encodings"),
    pytest.param(
        Case(encoded("utf-8", "utf-8", b"\xef\xbb\xbf"), check=check_valid_titles), id="utf8-bom"
    ),
    pytest.param(Case(encoded("utf-16", "utf-16"), check=check_valid_titles), id="utf16-bom"),
    pytest.param(Case(with_nul_bytes, check=check_nul), id="nul-bytes"),
    pytest.param(Case(truncated, check=check_first_entry_kept), id="truncated-xml"),
    # -- not feeds --------------------------------------------------------------------------
    pytest.param(Case(sent("page.html", "text/html"), "not_a_feed"), id="html-page"),
    pytest.param(Case(lambda s: Raw(b"", RSS), "not_a_feed"), id="empty-body"),
    pytest.param(Case(sent("feed.json", "application/json"), "not_a_feed"), id="json"),
    # -- bodies too big, compressed or not -----------------------------------------------
    pytest.param(
        Case(lambda s: gzip_bomb(200_000_000), "too_large", max_peak_mb=24), id="gzip-bomb"
    ),
    pytest.param(Case(stacked_gzip, "bad_encoding"), id="stacked-encodings"),
    pytest.param(
        Case(
            lambda s: Raw(b"<rss>" + b" " * 1_500_000, {**RSS, "Content-Encoding": "br"}),
            "bad_encoding",
            settings={"max_body_bytes": 2_000_000},
        ),
        id="unknown-encoding",
    ),
    pytest.param(
        Case(lambda s: Raw(b" " * 1_500_000, RSS), "too_large", max_peak_mb=24),
        id="over-cap-with-length",
    ),
    pytest.param(
        Case(
            lambda s: Drip(b" " * 1_500_000, interval_s=0, max_seconds=0),
            "too_large",
            max_peak_mb=24,
        ),
        id="over-cap-without-length",
    ),
    # -- entities and DTDs --------------------------------------------------------------------
    pytest.param(Case(sent("billion-laughs.xml"), "entities"), id="billion-laughs"),
    pytest.param(Case(quadratic_blowup, "entities"), id="quadratic-blowup"),
    pytest.param(Case(external_entity, "entities"), id="external-entity"),
    pytest.param(Case(external_entity_utf16, "entities"), id="external-entity-utf16"),
    pytest.param(Case(external_dtd, check=check_external_dtd), id="external-dtd"),
    # -- odd contents -----------------------------------------------------------------------
    pytest.param(
        Case(
            ten_thousand_entries,
            settings={"max_body_bytes": 2_000_000},
            check=check_newest_500,
        ),
        id="10000-entries",
    ),
    pytest.param(
        Case(huge_title, settings={"max_body_bytes": 3_000_000}, check=check_huge_title),
        id="1mb-title",
    ),
    pytest.param(Case(sent("dates.rss"), check=check_dates), id="future-and-1900-dates"),
    pytest.param(Case(sent("duplicate-guids.rss"), check=check_duplicates), id="duplicate-guids"),
    pytest.param(Case(sent("no-identity.rss"), check=check_no_identity), id="no-guid-link-date"),
    pytest.param(
        Case(sent("active-content.rss"), check=check_no_active_content), id="active-content-rss"
    ),
    pytest.param(
        Case(sent("active-content.atom", "application/atom+xml"), check=check_no_active_content),
        id="active-content-atom",
    ),
    pytest.param(
        Case(sent("remote-images.rss"), check=check_images_and_bidi), id="remote-images-and-bidi"
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_feed_affects_only_itself(
    scene: Scene, db_path: Path, pool: ParsePool, case: Case
) -> None:
    behaviour = case.serve(scene)
    if isinstance(behaviour, RawScript):
        url = scene.raw.url("feed.xml")
        scene.raw.script = answer(fixture("seed.rss"))
    else:
        url = scene.server.url("hostile.xml")
        scene.current.append(Raw(fixture("seed.rss"), RSS))
    seeded = cycle(db_path, pool, [url])
    assert seeded.feeds[0].outcome == "ok" and seeded.new_posts == 3
    before = snapshot(db_path)

    if isinstance(behaviour, RawScript):
        scene.raw.script = behaviour.script
    else:
        scene.current.append(behaviour)
    healthy = [scene.server.url(name) for name in HEALTHY]
    if case.max_peak_mb is not None:
        tracemalloc.start()
    started = time.monotonic()
    try:
        result = cycle(db_path, pool, [url, *healthy], settings=case.settings)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
    finally:
        tracemalloc.stop()

    feed = assert_contained(db_path, result, url, healthy, case.kind, before)
    assert elapsed < HOSTILE_SECONDS / 2  # not held up by an answer that never finishes
    if case.max_peak_mb is not None:
        assert peak < case.max_peak_mb * 1_000_000, f"peak {peak / 1e6:.1f} MB"
    if case.http_status is not None:
        (status,) = rows(
            db_path,
            "SELECT http_status FROM fetches WHERE feed_id = ? ORDER BY id DESC",
            feed["id"],
        )[0]
        assert status == case.http_status and str(case.http_status) in feed["last_error"]
    assert not scene.probe_was_contacted()
    if case.check is not None:
        posts = rows(db_path, "SELECT * FROM posts WHERE feed_id = ? ORDER BY id", feed["id"])
        case.check(scene, posts, feed)


# -- the address guard, which refuses 127.0.0.1 itself -----------------------------------

# A public address the feeds appear to live at. The guard resolves it, allows
# it, and only then does RoutingBackend connect to the test server instead.
PUBLIC = "93.184.215.14"


class RoutingBackend(httpcore.AsyncNetworkBackend):
    """The inner backend under GuardedBackend: sends allowed connections to the test server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[str] = []
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001, ANN201
        self.asked.append(host)
        return await self._backend.connect_tcp(
            "127.0.0.1", self.port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001, ANN201
        raise httpcore.ConnectError("no unix sockets here")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("http://127.0.0.1:{port}/philrumens.atom", id="loopback"),
        pytest.param("http://localhost:{port}/philrumens.atom", id="localhost"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
        pytest.param("http://10.0.0.1/feed", id="private-10"),
        pytest.param("http://[::ffff:127.0.0.1]:{port}/feed", id="ipv4-mapped-ipv6"),
        pytest.param("http://2130706433:{port}/feed", id="decimal-ip"),
    ],
)
def test_a_redirect_to_a_blocked_address_is_refused_with_the_guard_on(
    scene: Scene, db_path: Path, pool: ParsePool, target: str
) -> None:
    """With allow_private_hosts=False nothing can reach 127.0.0.1, so the feeds
    appear to live at a public address: the real GuardedTransport checks every
    address, and an inner backend routes the allowed ones to the test server."""
    backend = RoutingBackend(scene.server.port)
    base = f"http://{PUBLIC}:{scene.server.port}"
    url, healthy = f"{base}/hostile.xml", [f"{base}/{name}" for name in HEALTHY]
    scene.current.append(Raw(fixture("seed.rss"), RSS))
    guarded = {"allow_private_hosts": False}
    seeded = cycle(
        db_path, pool, [url], settings=guarded, transport=GuardedTransport(backend=backend)
    )
    assert seeded.feeds[0].outcome == "ok" and seeded.new_posts == 3
    before = snapshot(db_path)
    scene.current.append(Redirect(target.format(port=scene.server.port)))
    result = cycle(
        db_path,
        pool,
        [url, *healthy],
        settings=guarded,
        transport=GuardedTransport(backend=backend),
    )
    assert_contained(db_path, result, url, healthy, "blocked_address", before)
    assert set(backend.asked) == {PUBLIC}  # no connection to the blocked address was tried
